"""rnnfast.functional LSTM (sequence and cell) against PyTorch autograd, on every backend.

Forward outputs, final states and EVERY gradient, for random upstream gradients of y, h_n and c_n;
float64 to ~1e-10 relative, float32 to ~1e-5. Shapes include T=1, B=1, H=1, no bias, proj_size,
lengths (vs pack_padded_sequence); cells vs torch.nn.LSTMCell over several accumulated steps;
backends against each other.
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


def make_case(T, B, I, H, P=0, bias=True, dtype=np.float64, seed=0):
    """Random inputs, weights (PyTorch init range) and upstream gradients; P = 0: no projection."""
    rng = np.random.default_rng(seed)
    Pn = P or H
    k = 1 / np.sqrt(H)
    u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
    n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    d = dict(x=n(T, B, I), h0=n(B, Pn), c0=n(B, H), w_ih=u(4 * H, I), w_hh=u(4 * H, Pn),
             b_ih=u(4 * H) if bias else None, b_hh=u(4 * H) if bias else None, w_hr=u(P, H) if P else None,
             dy=n(T, B, Pn), dh_n=n(B, Pn), dc_n=n(B, H))
    return d


def torch_lstm(d, lengths=None, use_h0=True, use_c0=True, dy=True, dh_n=True, dc_n=True):
    """torch.nn.LSTM (float64, on the same values) forward and autograd gradients."""
    x = d["x"]
    T, B, I = x.shape
    H = d["c0"].shape[1]
    P = d["w_hr"].shape[0] if d["w_hr"] is not None else 0
    bias = d["b_ih"] is not None
    lstm = torch.nn.LSTM(I, H, bias=bias, proj_size=P, dtype=torch.float64)
    names = ["weight_ih_l0", "weight_hh_l0"] + (["bias_ih_l0", "bias_hh_l0"] if bias else []) + \
        (["weight_hr_l0"] if P else [])
    keys = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if bias else []) + (["w_hr"] if P else [])
    with torch.no_grad():
        for nm, key in zip(names, keys):
            getattr(lstm, nm).copy_(torch.from_numpy(d[key].astype(np.float64)))
    t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
    xt = t(x).requires_grad_(True)
    h0 = (t(d["h0"]) if use_h0 else torch.zeros(d["h0"].shape, dtype=torch.float64))[None].requires_grad_(True)
    c0 = (t(d["c0"]) if use_c0 else torch.zeros(d["c0"].shape, dtype=torch.float64))[None].requires_grad_(True)
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        out, (hn, cn) = lstm(packed, (h0, c0))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    else:
        y, (hn, cn) = lstm(xt, (h0, c0))
    outs, grads = [], []
    for o, g, use in ((y, d["dy"], dy), (hn, d["dh_n"][None], dh_n), (cn, d["dc_n"][None], dc_n)):
        if use:
            outs.append(o)
            grads.append(t(g))
    params = [getattr(lstm, nm) for nm in names]
    g = torch.autograd.grad(outs, [xt, h0, c0] + params, grads)
    res = {"y": y, "h_n": hn[0], "c_n": cn[0], "dx": g[0], "dw_ih": g[3], "dw_hh": g[4]}
    if use_h0:
        res["dh0"] = g[1][0]
    if use_c0:
        res["dc0"] = g[2][0]
    if bias:
        res["db_ih"], res["db_hh"] = g[5], g[6]
    if P:
        res["dw_hr"] = g[-1]
    return res


def ours(d, backend, lengths=None, use_h0=True, use_c0=True, dy=True, dh_n=True, dc_n=True):
    with rnnfast.use_backend(backend):
        y, h_n, c_n, cache = F.lstm_forward(d["x"], d["h0"] if use_h0 else None, d["c0"] if use_c0 else None,
                                            d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], w_hr=d["w_hr"],
                                            lengths=lengths)
        g = F.lstm_backward(d["dy"] if dy else None, d["dh_n"] if dh_n else None, d["dc_n"] if dc_n else None,
                            cache)
    assert cache.backend == backend
    res = {"y": y, "h_n": h_n, "c_n": c_n, "dx": g.dx, "dw_ih": g.dw_ih, "dw_hh": g.dw_hh}
    for dt_ in res.values():
        assert dt_.dtype == d["x"].dtype
    if use_h0:
        res["dh0"] = g.dh0
    if use_c0:
        res["dc0"] = g.dc0
    if d["b_ih"] is not None:
        res["db_ih"], res["db_hh"] = g.db_ih, g.db_hh
    else:
        assert g.db_ih is None and g.db_hh is None
    if d["w_hr"] is not None:
        res["dw_hr"] = g.dw_hr
    else:
        assert g.dw_hr is None
    return res


SHAPES = [  # T, B, I, H, P
    (1, 1, 1, 1, 0),
    (1, 3, 4, 5, 0),
    (5, 1, 3, 7, 0),
    (6, 4, 5, 1, 0),
    (7, 3, 5, 9, 0),
    (4, 5, 3, 6, 2),
    (1, 2, 3, 4, 3),
    (6, 1, 2, 5, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}P{}".format(*s))
def test_lstm_matches_torch(backend, shape, dtype):
    d = make_case(*shape, dtype=dtype, seed=sum(shape))
    assert_close(ours(d, backend), torch_lstm(d), TOL[dtype])


@pytest.mark.parametrize("P", [0, 3])
def test_lstm_no_bias(backend, P):
    d = make_case(5, 3, 4, 6, P=P, bias=False, seed=1)
    assert_close(ours(d, backend), torch_lstm(d), 1e-10)


@pytest.mark.parametrize("P", [0, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_lengths_match_packed_sequence(backend, P, dtype):
    d = make_case(7, 5, 3, 4, P=P, dtype=dtype, seed=2)
    lengths = [7, 3, 1, 5, 2]
    got, want = ours(d, backend, lengths=lengths), torch_lstm(d, lengths=lengths)
    assert_close(got, want, TOL[dtype])
    assert not np.any(got["y"][3:, 1]) and not np.any(got["y"][1:, 2])  # zero past a row's length


def test_lstm_zero_length_rows(backend):
    """A length-0 row keeps its initial states and passes dh_n, dc_n straight through; the other
    rows are unaffected (compared with torch on them alone, as packing forbids empty sequences)."""
    d = make_case(5, 3, 4, 6, P=2, seed=3)
    lengths = np.array([5, 0, 3])
    got = ours(d, backend, lengths=lengths)
    np.testing.assert_array_equal(got["h_n"][1], d["h0"][1])
    np.testing.assert_array_equal(got["c_n"][1], d["c0"][1])
    np.testing.assert_array_equal(got["dh0"][1], d["dh_n"][1])
    np.testing.assert_array_equal(got["dc0"][1], d["dc_n"][1])
    assert not np.any(got["y"][:, 1]) and not np.any(got["dx"][:, 1])
    keep = [0, 2]
    sub = {k: (v[:, keep] if k in ("x", "dy") else v[keep] if k in ("h0", "c0", "dh_n", "dc_n") else v)
           for k, v in d.items()}
    want = torch_lstm(sub, lengths=lengths[keep])
    got_sub = {k: (v[:, keep] if k in ("y", "dx") else v[keep] if k in ("h_n", "c_n", "dh0", "dc0") else v)
               for k, v in got.items()}
    assert_close(got_sub, want, 1e-10)


@pytest.mark.parametrize("which", ["dy", "dh_n", "dc_n", "dy+dh_n", "none_h0c0"])
def test_lstm_optional_upstreams_and_states(backend, which):
    d = make_case(4, 3, 2, 5, P=0, seed=4)
    kw = {}
    if which == "none_h0c0":
        kw = dict(use_h0=False, use_c0=False)
    else:
        kw = dict(dy="dy" in which, dh_n="dh_n" in which, dc_n="dc_n" in which)
    assert_close(ours(d, backend, **kw), torch_lstm(d, **kw), 1e-10)


def test_lstm_no_upstream_gives_zero_grads(backend):
    d = make_case(3, 2, 2, 3, seed=5)
    with rnnfast.use_backend(backend):
        *_, cache = F.lstm_forward(d["x"], d["h0"], d["c0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        g = F.lstm_backward(None, None, None, cache)
    for a in (g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh):
        assert not np.any(a)


def test_lstm_backends_agree():
    """All available backends give the same numbers (float64, lengths and projection)."""
    backends = rnnfast.available_backends()
    if len(backends) < 2:
        pytest.skip(f"only {backends} available")
    d = make_case(9, 6, 5, 8, P=3, seed=6)
    lengths = [9, 4, 0, 9, 1, 6]
    ref = ours(d, backends[0], lengths=lengths)
    for b in backends[1:]:
        assert_close(ours(d, b, lengths=lengths), ref, 1e-12)


# ------------------------------------------------------------------------------------ cells
def _torch_params(lstmcell_or_lstm, d, names):
    with torch.no_grad():
        for nm, key in names:
            getattr(lstmcell_or_lstm, nm).copy_(torch.from_numpy(d[key].astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,I,H,bias", [(1, 1, 1, True), (3, 4, 5, True), (2, 3, 6, False)])
def test_lstm_cell_steps_accumulate_like_torch(backend, B, I, H, bias, dtype):
    """Three steps of the fused cell, driven by a per-step caller that accumulates the weight
    gradients in one LSTMGrads, against torch.nn.LSTMCell unrolled under autograd."""
    T = 3
    d = make_case(T, B, I, H, bias=bias, dtype=dtype, seed=B + I + H)
    cell = torch.nn.LSTMCell(I, H, bias=bias, dtype=torch.float64)
    names = [("weight_ih", "w_ih"), ("weight_hh", "w_hh")] + ([("bias_ih", "b_ih"), ("bias_hh", "b_hh")] if bias else [])
    _torch_params(cell, d, names)
    t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
    xs = [t(d["x"][s]).requires_grad_(True) for s in range(T)]
    h0, c0 = t(d["h0"]).requires_grad_(True), t(d["c0"]).requires_grad_(True)
    h, c, hs = h0, c0, []
    for s in range(T):
        h, c = cell(xs[s], (h, c))
        hs.append(h)
    params = [getattr(cell, nm) for nm, _ in names]
    outs = hs + [c]
    ups = [t(d["dy"][s]) for s in range(T)] + [t(d["dc_n"])]
    g = torch.autograd.grad(outs, xs + [h0, c0] + params, ups)

    with rnnfast.use_backend(backend):
        h, c, caches = d["h0"], d["c0"], []
        ys = []
        for s in range(T):
            h, c, cache = F.lstm_cell_forward(d["x"][s], h, c, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
            caches.append(cache)
            ys.append(h)
        grads, dh, dc, dxs = None, np.zeros_like(d["h0"]), d["dc_n"], [None] * T
        for s in range(T - 1, -1, -1):
            grads = F.lstm_cell_backward(dh + d["dy"][s], dc, caches[s], grads)
            dh, dc, dxs[s] = grads.dh0, grads.dc0, grads.dx
    got = {"h": np.stack(ys), "c_n": c, "dx": np.stack(dxs), "dh0": dh, "dc0": dc, "dw_ih": grads.dw_ih,
           "dw_hh": grads.dw_hh}
    want = {"h": torch.stack(hs), "c_n": outs[-1], "dx": torch.stack(g[:T]), "dh0": g[T], "dc0": g[T + 1],
            "dw_ih": g[T + 2], "dw_hh": g[T + 3]}
    if bias:
        got["db_ih"], got["db_hh"] = grads.db_ih, grads.db_hh
        want["db_ih"], want["db_hh"] = g[T + 4], g[T + 5]
    assert_close(got, want, TOL[dtype])


def test_lstm_cell_projection_matches_one_step_lstm(backend):
    """The cell with w_hr equals a T=1 torch.nn.LSTM(proj_size=P); accumulation adds to given grads."""
    d = make_case(1, 3, 4, 5, P=2, seed=7)
    want = torch_lstm(d)
    with rnnfast.use_backend(backend):
        h, c, cache = F.lstm_cell_forward(d["x"][0], d["h0"], d["c0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                          w_hr=d["w_hr"])
        start = F.LSTMGrads(None, None, None, np.ones((20, 4)), np.ones((20, 2)), np.ones(20), np.ones(20),
                            np.ones((2, 5)))
        g = F.lstm_cell_backward(d["dy"][0] + d["dh_n"], d["dc_n"], cache, start)
    assert g is start
    got = {"y": h[None], "h_n": h, "c_n": c, "dx": g.dx[None], "dh0": g.dh0, "dc0": g.dc0, "dw_ih": g.dw_ih - 1,
           "dw_hh": g.dw_hh - 1, "db_ih": g.db_ih - 1, "db_hh": g.db_hh - 1, "dw_hr": g.dw_hr - 1}
    assert_close(got, want, 1e-10)


def test_lstm_cell_none_states_and_upstreams(backend):
    d = make_case(1, 2, 3, 4, seed=8)
    want = torch_lstm(d, use_h0=False, use_c0=False, dy=False, dh_n=True, dc_n=False)
    with rnnfast.use_backend(backend):
        h, c, cache = F.lstm_cell_forward(d["x"][0], None, None, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
        g = F.lstm_cell_backward(d["dh_n"], None, cache)
    got = {"y": h[None], "h_n": h, "c_n": c, "dx": g.dx[None], "dw_ih": g.dw_ih, "dw_hh": g.dw_hh,
           "db_ih": g.db_ih, "db_hh": g.db_hh}
    assert_close(got, want, 1e-10)


def test_lstm_cell_cache_survives_caller_mutating_outputs(backend):
    d = make_case(1, 2, 3, 4, seed=9)
    with rnnfast.use_backend(backend):
        h, c, cache = F.lstm_cell_forward(d["x"][0], d["h0"], d["c0"], d["w_ih"], d["w_hh"])
        ref = F.lstm_cell_backward(d["dh_n"], d["dc_n"], cache)
        c += 100.0  # an in-place update by the caller must not change the backward
        g = F.lstm_cell_backward(d["dh_n"], d["dc_n"], cache)
    np.testing.assert_array_equal(g.dx, ref.dx)
    np.testing.assert_array_equal(g.dc0, ref.dc0)
