"""rnnfast.functional Elman RNN (tanh and relu; sequence and cell) against PyTorch autograd, on every
backend: forward outputs, final state and EVERY gradient for random upstream gradients; float64 to
~1e-10 relative, float32 to ~1e-5; T=1, B=1, H=1, no bias, lengths (vs pack_padded_sequence);
cells vs torch.nn.RNNCell over several accumulated steps; backends against each other.
"""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    """Every backend available here (a conftest.py fixture of the same name would be equivalent)."""
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
    return dict(x=n(T, B, I), h0=n(B, H), w_ih=u(H, I), w_hh=u(H, H), b_ih=u(H) if bias else None,
                b_hh=u(H) if bias else None, dy=n(T, B, H), dh_n=n(B, H))


def torch_rnn(d, nonlinearity, lengths=None, use_h0=True, dy=True, dh_n=True):
    """torch.nn.RNN (float64, on the same values) forward and autograd gradients."""
    x = d["x"]
    T, B, I = x.shape
    H = d["h0"].shape[1]
    bias = d["b_ih"] is not None
    rnn = torch.nn.RNN(I, H, nonlinearity=nonlinearity, bias=bias, dtype=torch.float64)
    names = ["weight_ih_l0", "weight_hh_l0"] + (["bias_ih_l0", "bias_hh_l0"] if bias else [])
    keys = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if bias else [])
    t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
    with torch.no_grad():
        for nm, key in zip(names, keys):
            getattr(rnn, nm).copy_(t(d[key]))
    xt = t(x).requires_grad_(True)
    h0 = (t(d["h0"]) if use_h0 else torch.zeros((B, H), dtype=torch.float64))[None].requires_grad_(True)
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        out, hn = rnn(packed, h0)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    else:
        y, hn = rnn(xt, h0)
    outs, ups = [], []
    for o, g, use in ((y, d["dy"], dy), (hn, d["dh_n"][None], dh_n)):
        if use:
            outs.append(o)
            ups.append(t(g))
    params = [getattr(rnn, nm) for nm in names]
    g = torch.autograd.grad(outs, [xt, h0] + params, ups)
    res = {"y": y, "h_n": hn[0], "dx": g[0], "dw_ih": g[2], "dw_hh": g[3]}
    if use_h0:
        res["dh0"] = g[1][0]
    if bias:
        res["db_ih"], res["db_hh"] = g[4], g[5]
    return res


def ours(d, backend, nonlinearity, lengths=None, use_h0=True, dy=True, dh_n=True):
    with rnnfast.use_backend(backend):
        y, h_n, cache = F.rnn_forward(d["x"], d["h0"] if use_h0 else None, d["w_ih"], d["w_hh"], d["b_ih"],
                                      d["b_hh"], nonlinearity=nonlinearity, lengths=lengths)
        g = F.rnn_backward(d["dy"] if dy else None, d["dh_n"] if dh_n else None, cache)
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
    (6, 1, 3, 7),
    (5, 4, 5, 1),
    (8, 3, 5, 9),
]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_rnn_matches_torch(backend, shape, dtype, nonlinearity):
    d = make_case(*shape, dtype=dtype, seed=sum(shape))
    got, want = ours(d, backend, nonlinearity), torch_rnn(d, nonlinearity)
    assert_close(got, want, TOL[dtype])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_no_bias(backend, nonlinearity):
    d = make_case(5, 3, 4, 6, bias=False, seed=1)
    assert_close(ours(d, backend, nonlinearity), torch_rnn(d, nonlinearity), 1e-10)


def test_rnn_relu_really_clips():
    """The relu case exercises both sides of the kink (the comparison above is meaningful)."""
    d = make_case(8, 3, 5, 9, seed=25)
    y, _, _ = F.rnn_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], nonlinearity="relu")
    assert 0.2 < np.mean(y == 0) < 0.8


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_lengths_match_packed_sequence(backend, dtype, nonlinearity):
    d = make_case(7, 5, 3, 4, dtype=dtype, seed=2)
    lengths = [7, 3, 1, 5, 2]
    got, want = ours(d, backend, nonlinearity, lengths=lengths), torch_rnn(d, nonlinearity, lengths=lengths)
    assert_close(got, want, TOL[dtype])
    assert not np.any(got["y"][3:, 1]) and not np.any(got["y"][1:, 2])


def test_rnn_zero_length_rows(backend):
    d = make_case(5, 3, 4, 6, seed=3)
    lengths = np.array([5, 0, 3])
    got = ours(d, backend, "tanh", lengths=lengths)
    np.testing.assert_array_equal(got["h_n"][1], d["h0"][1])
    np.testing.assert_array_equal(got["dh0"][1], d["dh_n"][1])
    assert not np.any(got["y"][:, 1]) and not np.any(got["dx"][:, 1])
    keep = [0, 2]
    sub = {k: (v[:, keep] if k in ("x", "dy") else v[keep] if k in ("h0", "dh_n") else v) for k, v in d.items()}
    want = torch_rnn(sub, "tanh", lengths=lengths[keep])
    got_sub = {k: (v[:, keep] if k in ("y", "dx") else v[keep] if k in ("h_n", "dh0") else v)
               for k, v in got.items()}
    assert_close(got_sub, want, 1e-10)


@pytest.mark.parametrize("which", ["dy", "dh_n", "none_h0"])
def test_rnn_optional_upstreams_and_state(backend, which):
    d = make_case(4, 3, 2, 5, seed=4)
    kw = dict(use_h0=False) if which == "none_h0" else dict(dy=which == "dy", dh_n=which == "dh_n")
    assert_close(ours(d, backend, "tanh", **kw), torch_rnn(d, "tanh", **kw), 1e-10)


def test_rnn_backends_agree():
    backends = rnnfast.available_backends()
    if len(backends) < 2:
        pytest.skip(f"only {backends} available")
    for nl in ("tanh", "relu"):
        d = make_case(9, 6, 5, 8, seed=6)
        lengths = [9, 4, 0, 9, 1, 6]
        ref = ours(d, backends[0], nl, lengths=lengths)
        for b in backends[1:]:
            assert_close(ours(d, b, nl, lengths=lengths), ref, 1e-12)


# ------------------------------------------------------------------------------------ cells
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,I,H,bias", [(1, 1, 1, True), (3, 4, 5, True), (2, 3, 6, False)])
def test_rnn_cell_steps_accumulate_like_torch(backend, B, I, H, bias, dtype, nonlinearity):
    """Three fused steps driven by a per-step caller accumulating weight gradients in one RNNGrads,
    against torch.nn.RNNCell unrolled under autograd."""
    T = 3
    d = make_case(T, B, I, H, bias=bias, dtype=dtype, seed=B + I + H)
    cell = torch.nn.RNNCell(I, H, bias=bias, nonlinearity=nonlinearity, dtype=torch.float64)
    names = [("weight_ih", "w_ih"), ("weight_hh", "w_hh")] + ([("bias_ih", "b_ih"), ("bias_hh", "b_hh")] if bias else [])
    t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
    with torch.no_grad():
        for nm, key in names:
            getattr(cell, nm).copy_(t(d[key]))
    xs = [t(d["x"][s]).requires_grad_(True) for s in range(T)]
    h0 = t(d["h0"]).requires_grad_(True)
    h, hs = h0, []
    for s in range(T):
        h = cell(xs[s], h)
        hs.append(h)
    params = [getattr(cell, nm) for nm, _ in names]
    g = torch.autograd.grad(hs, xs + [h0] + params, [t(d["dy"][s]) for s in range(T)])

    with rnnfast.use_backend(backend):
        h, caches, ys = d["h0"], [], []
        for s in range(T):
            h, cache = F.rnn_cell_forward(d["x"][s], h, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                          nonlinearity=nonlinearity)
            caches.append(cache)
            ys.append(h)
        grads, dh, dxs = None, np.zeros_like(d["h0"]), [None] * T
        for s in range(T - 1, -1, -1):
            grads = F.rnn_cell_backward(dh + d["dy"][s], caches[s], grads)
            dh, dxs[s] = grads.dh0, grads.dx
    got = {"h": np.stack(ys), "dx": np.stack(dxs), "dh0": dh, "dw_ih": grads.dw_ih, "dw_hh": grads.dw_hh}
    want = {"h": torch.stack(hs), "dx": torch.stack(g[:T]), "dh0": g[T], "dw_ih": g[T + 1], "dw_hh": g[T + 2]}
    if bias:
        got["db_ih"], got["db_hh"] = grads.db_ih, grads.db_hh
        want["db_ih"], want["db_hh"] = g[T + 3], g[T + 4]
    assert_close(got, want, TOL[dtype])


def test_rnn_cell_accumulates_into_given_grads(backend):
    d = make_case(1, 2, 3, 4, seed=8)
    want = torch_rnn(d, "tanh", dy=False)
    with rnnfast.use_backend(backend):
        h, cache = F.rnn_cell_forward(d["x"][0], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        start = F.RNNGrads(None, None, np.full((4, 3), 2.0), np.full((4, 4), 2.0), np.full(4, 2.0), np.full(4, 2.0))
        g = F.rnn_cell_backward(d["dh_n"], cache, start)
        h += 5.0  # the caller mutating the returned state must not affect the cache
        g2 = F.rnn_cell_backward(d["dh_n"], cache)
    assert g is start
    got = {"y": (h - 5.0)[None], "h_n": h - 5.0, "dx": g.dx[None], "dh0": g.dh0, "dw_ih": g.dw_ih - 2,
           "dw_hh": g.dw_hh - 2, "db_ih": g.db_ih - 2, "db_hh": g.db_hh - 2}
    assert_close(got, want, 1e-10)
    np.testing.assert_array_equal(g2.dh0, g.dh0)


def test_rnn_cell_none_state(backend):
    d = make_case(1, 2, 3, 4, seed=9)
    want = torch_rnn(d, "relu", use_h0=False, dy=False)
    with rnnfast.use_backend(backend):
        h, cache = F.rnn_cell_forward(d["x"][0], None, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                      nonlinearity="relu")
        g = F.rnn_cell_backward(d["dh_n"], cache)
    got = {"y": h[None], "h_n": h, "dx": g.dx[None], "dw_ih": g.dw_ih, "dw_hh": g.dw_hh, "db_ih": g.db_ih,
           "db_hh": g.db_hh}
    assert_close(got, want, 1e-10)
