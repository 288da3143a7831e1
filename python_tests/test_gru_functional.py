"""rnnfast.functional GRU (sequence and cell) against PyTorch autograd, on every backend.

Forward outputs, final states and EVERY gradient, for random upstream gradients of y and h_n;
float64 to ~1e-10 relative, float32 to ~1e-5. reset_after=True is torch.nn.GRU; reset_after=False
is checked against the original-GRU formula written in torch and differentiated by autograd.
Shapes include T=1, B=1, H=1, odd sizes, no bias, lengths (vs pack_padded_sequence), zero-length
rows; cells over several accumulated steps; backends against each other.
"""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    return request.param


def rel_err(a, b):
    """max|a - b| / max|b|."""
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    den = np.abs(b).max()
    return np.abs(a - b).max() / (den if den > 0 else 1.0)


def assert_close(got: dict, want: dict, tol):
    assert set(got) == set(want), (sorted(got), sorted(want))
    errs = {k: rel_err(got[k], want[k]) for k in want}
    bad = {k: v for k, v in errs.items() if not v <= tol}
    assert not bad, f"relative errors above {tol}: {bad}"


def make_case(T, B, I, H, bias=True, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
    n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=n(T, B, I), h0=n(B, H), w_ih=u(3 * H, I), w_hh=u(3 * H, H), b_ih=u(3 * H) if bias else None,
                b_hh=u(3 * H) if bias else None, dy=n(T, B, H), dh_n=n(B, H))


def _t(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def _gru_original(xt, h0, w_ih, w_hh, b_ih, b_hh):
    """reset_after=False GRU written out in torch: n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)."""
    H = w_hh.shape[1]
    h, ys = h0, []
    for t in range(xt.shape[0]):
        gx = xt[t] @ w_ih.T + (b_ih if b_ih is not None else 0)
        bh = b_hh if b_hh is not None else torch.zeros(3 * H, dtype=torch.float64)
        r = torch.sigmoid(gx[:, :H] + h @ w_hh[:H].T + bh[:H])
        z = torch.sigmoid(gx[:, H:2 * H] + h @ w_hh[H:2 * H].T + bh[H:2 * H])
        n = torch.tanh(gx[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + bh[2 * H:])
        h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys), h


def torch_gru(d, lengths=None, use_h0=True, dy=True, dh_n=True, reset_after=True):
    """torch (float64, same values) forward and autograd gradients."""
    x = d["x"]
    T, B, I = x.shape
    H = d["h0"].shape[1]
    bias = d["b_ih"] is not None
    xt = _t(x).requires_grad_(True)
    h0 = (_t(d["h0"]) if use_h0 else torch.zeros((B, H), dtype=torch.float64)).requires_grad_(True)
    keys = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if bias else [])
    if reset_after:
        gru = torch.nn.GRU(I, H, bias=bias, dtype=torch.float64)
        names = ["weight_ih_l0", "weight_hh_l0"] + (["bias_ih_l0", "bias_hh_l0"] if bias else [])
        with torch.no_grad():
            for nm, key in zip(names, keys):
                getattr(gru, nm).copy_(_t(d[key]))
        params = [getattr(gru, nm) for nm in names]
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
            out, hn = gru(packed, h0[None])
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
        else:
            y, hn = gru(xt, h0[None])
        hn = hn[0]
    else:
        assert lengths is None
        params = [_t(d[k]).requires_grad_(True) for k in keys]
        p = params + [None, None] if not bias else params
        y, hn = _gru_original(xt, h0, *p)
    outs, ups = [], []
    if dy:
        outs.append(y)
        ups.append(_t(d["dy"]))
    if dh_n:
        outs.append(hn)
        ups.append(_t(d["dh_n"]))
    g = torch.autograd.grad(outs, [xt, h0] + params, ups)
    res = {"y": y, "h_n": hn, "dx": g[0], "dw_ih": g[2], "dw_hh": g[3]}
    if use_h0:
        res["dh0"] = g[1]
    if bias:
        res["db_ih"], res["db_hh"] = g[4], g[5]
    return res


def ours(d, backend, lengths=None, use_h0=True, dy=True, dh_n=True, reset_after=True):
    with rnnfast.use_backend(backend):
        y, h_n, cache = F.gru_forward(d["x"], d["h0"] if use_h0 else None, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                      reset_after=reset_after, lengths=lengths)
        g = F.gru_backward(d["dy"] if dy else None, d["dh_n"] if dh_n else None, cache)
    assert cache.backend == backend
    res = {"y": y, "h_n": h_n, "dx": g.dx, "dw_ih": g.dw_ih, "dw_hh": g.dw_hh}
    for a in res.values():
        assert a.dtype == d["x"].dtype
    if use_h0:
        res["dh0"] = g.dh0
    if d["b_ih"] is not None:
        res["db_ih"], res["db_hh"] = g.db_ih, g.db_hh
    else:
        assert g.db_ih is None and g.db_hh is None
    return res


SHAPES = [  # T, B, I, H
    (1, 1, 1, 1),
    (1, 3, 4, 5),
    (5, 1, 3, 7),
    (6, 4, 5, 1),
    (7, 3, 5, 9),
    (3, 17, 11, 13),
    (4, 2, 33, 40),
]


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_gru_matches_torch(backend, shape, dtype, reset_after):
    d = make_case(*shape, dtype=dtype, seed=sum(shape))
    assert_close(ours(d, backend, reset_after=reset_after), torch_gru(d, reset_after=reset_after), TOL[dtype])


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_no_bias(backend, reset_after):
    d = make_case(5, 3, 4, 6, bias=False, seed=1)
    assert_close(ours(d, backend, reset_after=reset_after), torch_gru(d, reset_after=reset_after), 1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gru_lengths_match_packed_sequence(backend, dtype):
    d = make_case(7, 5, 3, 4, dtype=dtype, seed=2)
    lengths = [7, 3, 1, 5, 2]
    got, want = ours(d, backend, lengths=lengths), torch_gru(d, lengths=lengths)
    assert_close(got, want, TOL[dtype])
    assert not np.any(got["y"][3:, 1]) and not np.any(got["y"][1:, 2])  # zero past a row's length


def test_gru_lengths_reset_before(backend):
    """reset_after=False with lengths: each row equals the unpacked run on its own prefix."""
    d = make_case(6, 3, 4, 5, seed=3)
    lengths = np.array([6, 2, 4])
    got = ours(d, backend, lengths=lengths, reset_after=False)
    for b, L in enumerate(lengths):
        sub = {k: (v[:L, b:b + 1] if k in ("x", "dy") else v[b:b + 1] if k in ("h0", "dh_n") else v)
               for k, v in d.items()}
        want = torch_gru(sub, reset_after=False)
        got_b = {"y": got["y"][:L, b:b + 1], "h_n": got["h_n"][b:b + 1], "dx": got["dx"][:L, b:b + 1],
                 "dh0": got["dh0"][b:b + 1]}
        assert_close(got_b, {k: want[k] for k in got_b}, 1e-10)
        assert not np.any(got["y"][L:, b]) and not np.any(got["dx"][L:, b])
    # weight gradients are sums over rows: compare with the sum of per-row torch gradients
    tot = {k: 0 for k in ("dw_ih", "dw_hh", "db_ih", "db_hh")}
    for b, L in enumerate(lengths):
        sub = {k: (v[:L, b:b + 1] if k in ("x", "dy") else v[b:b + 1] if k in ("h0", "dh_n") else v)
               for k, v in d.items()}
        w = torch_gru(sub, reset_after=False)
        for k in tot:
            tot[k] = tot[k] + w[k].numpy()
    assert_close({k: got[k] for k in tot}, tot, 1e-10)


def test_gru_zero_length_rows(backend):
    d = make_case(5, 3, 4, 6, seed=4)
    lengths = np.array([5, 0, 3])
    got = ours(d, backend, lengths=lengths)
    np.testing.assert_array_equal(got["h_n"][1], d["h0"][1])
    np.testing.assert_array_equal(got["dh0"][1], d["dh_n"][1])
    assert not np.any(got["y"][:, 1]) and not np.any(got["dx"][:, 1])
    keep = [0, 2]
    sub = {k: (v[:, keep] if k in ("x", "dy") else v[keep] if k in ("h0", "dh_n") else v) for k, v in d.items()}
    want = torch_gru(sub, lengths=lengths[keep])
    got_sub = {k: (v[:, keep] if k in ("y", "dx") else v[keep] if k in ("h_n", "dh0") else v) for k, v in got.items()}
    assert_close(got_sub, want, 1e-10)


@pytest.mark.parametrize("which", ["dy", "dh_n", "none_h0"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_optional_upstreams_and_state(backend, which, reset_after):
    d = make_case(4, 3, 2, 5, seed=5)
    kw = dict(use_h0=False) if which == "none_h0" else dict(dy=which == "dy", dh_n=which == "dh_n")
    assert_close(ours(d, backend, reset_after=reset_after, **kw), torch_gru(d, reset_after=reset_after, **kw), 1e-10)


def test_gru_no_upstream_gives_zero_grads(backend):
    d = make_case(3, 2, 2, 3, seed=6)
    with rnnfast.use_backend(backend):
        *_, cache = F.gru_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        g = F.gru_backward(None, None, cache)
    for a in (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh):
        assert not np.any(a)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("B", [1, 6, 40])
def test_gru_backends_agree(B, reset_after):
    """All available backends give the same numbers (float64, with lengths); B=1 and B=40 cover
    the small-batch and BLAS paths of the per-step products."""
    backends = rnnfast.available_backends()
    if len(backends) < 2:
        pytest.skip(f"only {backends} available")
    d = make_case(9, B, 5, 8, seed=7 + B)
    lengths = np.random.default_rng(B).integers(0, 10, B)
    ref = ours(d, backends[0], lengths=lengths, reset_after=reset_after)
    for b in backends[1:]:
        assert_close(ours(d, b, lengths=lengths, reset_after=reset_after), ref, 1e-12)


def test_gru_float32_is_computed_in_float32(backend):
    """float32 in, float32 out everywhere, agreeing with the float64 run to float32 accuracy."""
    d64 = make_case(20, 4, 8, 16, seed=8)
    d32 = {k: (v.astype(np.float32) if v is not None else None) for k, v in d64.items()}
    a, b = ours(d32, backend), ours(d64, backend)
    for k in a:
        assert a[k].dtype == np.float32
        assert rel_err(a[k], b[k]) < 1e-5


# ------------------------------------------------------------------------------------ cells
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,I,H,bias", [(1, 1, 1, True), (3, 4, 5, True), (2, 3, 6, False), (20, 7, 9, True)])
def test_gru_cell_steps_accumulate_like_sequence(backend, B, I, H, bias, dtype, reset_after):
    """Three fused-cell steps, driven by a per-step caller that accumulates the weight gradients in
    one GRUGrads, equal the torch reference for the whole sequence (same upstream gradients)."""
    T = 3
    d = make_case(T, B, I, H, bias=bias, dtype=dtype, seed=B + I + H)
    want = torch_gru(d, reset_after=reset_after)
    with rnnfast.use_backend(backend):
        h, caches, ys = d["h0"], [], []
        for s in range(T):
            h, cache = F.gru_cell_forward(d["x"][s], h, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                          reset_after=reset_after)
            caches.append(cache)
            ys.append(h)
        grads, dh, dxs = None, d["dh_n"], [None] * T
        for s in range(T - 1, -1, -1):
            grads = F.gru_cell_backward(dh + d["dy"][s], caches[s], grads)
            dh, dxs[s] = grads.dh0, grads.dx
    got = {"y": np.stack(ys), "h_n": h, "dx": np.stack(dxs), "dh0": dh, "dw_ih": grads.dw_ih, "dw_hh": grads.dw_hh}
    if bias:
        got["db_ih"], got["db_hh"] = grads.db_ih, grads.db_hh
    assert_close(got, want, TOL[dtype])


def test_gru_cell_accumulates_into_given_grads(backend):
    d = make_case(1, 3, 4, 5, seed=9)
    want = torch_gru(d, dy=False)
    with rnnfast.use_backend(backend):
        h, cache = F.gru_cell_forward(d["x"][0], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        start = F.GRUGrads(None, None, np.ones((15, 4)), np.ones((15, 5)), np.ones(15), np.ones(15))
        g = F.gru_cell_backward(d["dh_n"], cache, start)
    assert g is start
    got = {"y": h[None], "h_n": h, "dx": g.dx[None], "dh0": g.dh0, "dw_ih": g.dw_ih - 1, "dw_hh": g.dw_hh - 1,
           "db_ih": g.db_ih - 1, "db_hh": g.db_hh - 1}
    assert_close(got, want, 1e-10)


def test_gru_cell_none_state(backend):
    d = make_case(1, 2, 3, 4, seed=10)
    want = torch_gru(d, use_h0=False, dy=False)
    with rnnfast.use_backend(backend):
        h, cache = F.gru_cell_forward(d["x"][0], None, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        g = F.gru_cell_backward(d["dh_n"], cache)
    got = {"y": h[None], "h_n": h, "dx": g.dx[None], "dw_ih": g.dw_ih, "dw_hh": g.dw_hh, "db_ih": g.db_ih,
           "db_hh": g.db_hh}
    assert_close(got, want, 1e-10)


def test_gru_large_preactivations_stay_finite(backend):
    """Saturated gates (pre-activations of +-1e4) give finite outputs and gradients."""
    d = make_case(4, 3, 2, 5, seed=11)
    d["x"] *= 1e4
    got = ours(d, backend)
    for k, v in got.items():
        assert np.all(np.isfinite(v)), k
