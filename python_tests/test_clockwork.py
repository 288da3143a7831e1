"""rnnfast.nn.ClockworkRNN and its functional core against PyTorch autograd.

The PyTorch reference is an independent formulation: at every step all N units are computed with
the masked full W_hh and ``torch.where`` keeps the inactive units' previous values. Checked: y, h_n
and EVERY gradient (x, h0, W_ih, W_hh, b) for random upstream gradients, float64 to 1e-10 and
float32 to 1e-5, for several module structures (prefix and non-prefix active sets, steps where no
module is active, unsorted periods, relu), both implementations of connect="none" on every
backend, and the module wrapper (initialisation, gradient accumulation, masked zeros kept by an
optimiser, bad input).
"""
import numpy as np
import pytest

import rnnfast
from rnnfast.nn.clockwork import (ClockworkRNN, clockwork_backward, clockwork_forward, clockwork_mask,
                                  clockwork_schedule)

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}

STRUCTURES = [
    # (module_sizes, periods, connect)
    ((3, 4, 2), (1, 2, 4), "slower-to-faster"),     # the paper's exponential periods: prefix active sets
    ((2, 3, 4), (1, 2, 3), "slower-to-faster"),     # t=3: modules 0 and 2 active, 1 not (non-contiguous)
    ((2, 3), (2, 3), "slower-to-faster"),           # t=1: no module active
    ((5, 5), (1, 2), "none"),                       # AlarmworkNet
    ((3, 2, 4), (1, 3, 2), "none"),                 # unsorted periods
    ((4,), (1,), "slower-to-faster"),               # one module: a plain Elman RNN
]


def rel_err(a, b):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    den = np.abs(b).max()
    return np.abs(a - b).max() / (den if den > 0 else 1.0)


def torch_clockwork(x, h0, w_ih, w_hh, b, sizes, periods, connect, relu=False):
    mask = torch.from_numpy(clockwork_mask(sizes, periods, connect))
    per_unit = torch.from_numpy(np.repeat(np.asarray(periods), sizes))
    W = w_hh * mask
    h, ys = h0, []
    for t in range(x.shape[0]):
        a = x[t] @ w_ih.T + h @ W.T + (0 if b is None else b)
        h = torch.where(t % per_unit == 0, torch.relu(a) if relu else torch.tanh(a), h)
        ys.append(h)
    return torch.stack(ys), h


def make_case(T, B, I, sizes, dtype=np.float64, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    N = sum(sizes)
    f = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    u = lambda *s: rng.uniform(-0.6, 0.6, s).astype(dtype)  # noqa: E731
    return dict(x=f(T, B, I), h0=f(B, N), w_ih=u(N, I), w_hh=u(N, N), b=u(N) if bias else None,
                dy=f(T, B, N), dh_n=f(B, N))


def check_against_torch(d, sizes, periods, connect, nonlinearity="tanh", impl="auto", use_dy=True, use_dhn=True,
                        use_h0=True):
    dt = d["x"].dtype.type
    h0 = d["h0"] if use_h0 else None
    y, h_n, cache = clockwork_forward(d["x"], h0, d["w_ih"], d["w_hh"], d["b"], sizes, periods, connect=connect,
                                      nonlinearity=nonlinearity, impl=impl)
    assert y.dtype == d["x"].dtype and h_n.dtype == d["x"].dtype
    g = clockwork_backward(d["dy"] if use_dy else None, d["dh_n"] if use_dhn else None, cache)
    t = lambda a: torch.from_numpy(a.astype(np.float64)).requires_grad_(True)  # noqa: E731
    names = ["x", "h0", "w_ih", "w_hh"] + (["b"] if d["b"] is not None else [])
    tt = {k: t(d[k]) if not (k == "h0" and not use_h0) else torch.zeros(d["h0"].shape, dtype=torch.float64,
                                                                        requires_grad=True) for k in names}
    ty, th = torch_clockwork(tt["x"], tt["h0"], tt["w_ih"], tt["w_hh"], tt.get("b"), sizes, periods, connect,
                             nonlinearity == "relu")
    outs, ups = [], []
    if use_dy:
        outs.append(ty)
        ups.append(torch.from_numpy(d["dy"].astype(np.float64)))
    if use_dhn:
        outs.append(th)
        ups.append(torch.from_numpy(d["dh_n"].astype(np.float64)))
    grads = dict(zip(names, torch.autograd.grad(outs, [tt[k] for k in names], ups)))
    got = {"y": y, "h_n": h_n, "x": g.dx, "h0": g.dh0, "w_ih": g.dw_ih, "w_hh": g.dw_hh}
    want = {"y": ty, "h_n": th, "x": grads["x"], "h0": grads["h0"], "w_ih": grads["w_ih"], "w_hh": grads["w_hh"]}
    if d["b"] is not None:
        got["b"], want["b"] = g.db, grads["b"]
    else:
        assert g.db is None
    errs = {k: rel_err(got[k], want[k]) for k in want}
    bad = {k: v for k, v in errs.items() if not v <= TOL[dt]}
    assert not bad, f"relative errors above {TOL[dt]}: {bad}"
    # every gradient is non-trivial (the comparison could not pass with zeros)
    for k in ("x", "w_ih", "w_hh"):
        assert np.abs(got[k]).max() > 0, k
    return g


@pytest.mark.parametrize("sizes,periods,connect", STRUCTURES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_against_torch_float64(sizes, periods, connect, nonlinearity):
    d = make_case(11, 3, 4, sizes)
    check_against_torch(d, sizes, periods, connect, nonlinearity)


@pytest.mark.parametrize("sizes,periods,connect", STRUCTURES[:4])
def test_against_torch_float32(sizes, periods, connect):
    d = make_case(9, 4, 3, sizes, np.float32, seed=1)
    check_against_torch(d, sizes, periods, connect)


@pytest.mark.parametrize("use_dy,use_dhn,use_h0", [(True, False, True), (False, True, False), (True, True, False)])
@pytest.mark.parametrize("impl", ["numpy", "rnn"])
def test_partial_upstream_and_no_h0(use_dy, use_dhn, use_h0, impl):
    sizes, periods = (4, 3), (1, 3)
    d = make_case(10, 2, 3, sizes, seed=2)
    check_against_torch(d, sizes, periods, "none", impl=impl, use_dy=use_dy, use_dhn=use_dhn, use_h0=use_h0)


@pytest.mark.parametrize("impl", ["numpy", "rnn"])
@pytest.mark.parametrize("T,B", [(1, 1), (2, 1), (7, 5)])
def test_no_bias_and_small_sizes(impl, T, B):
    sizes, periods = (2, 3), (1, 2)
    d = make_case(T, B, 2, sizes, seed=3, bias=False)
    check_against_torch(d, sizes, periods, "none", impl=impl)


@pytest.mark.parametrize("backend", rnnfast.available_backends())
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_kernel_path_matches_numpy_path(backend, dtype):
    """connect="none" on the RNN kernels of every backend equals the per-step NumPy algorithm."""
    sizes, periods = (6, 5, 4), (1, 2, 5)
    d = make_case(13, 3, 2, sizes, dtype, seed=4)
    ref_y, ref_h, c = clockwork_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], sizes, periods,
                                        connect="none", impl="numpy")
    ref_g = clockwork_backward(d["dy"], d["dh_n"], c)
    with rnnfast.use_backend(backend):
        y, h, c2 = clockwork_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], sizes, periods,
                                     connect="none", impl="rnn")
        g = clockwork_backward(d["dy"], d["dh_n"], c2)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in [(y, ref_y), (h, ref_h), (g.dx, ref_g.dx), (g.dh0, ref_g.dh0), (g.dw_ih, ref_g.dw_ih),
                 (g.dw_hh, ref_g.dw_hh), (g.db, ref_g.db)]:
        assert a.dtype == dtype
        assert rel_err(a, b) <= tol


def test_mask_structure():
    m = clockwork_mask((2, 3, 1), (1, 2, 4), "slower-to-faster")
    # block upper-triangular (modules sorted by increasing period), self-connections included
    assert m[:2].all() and not m[2:5, :2].any() and m[2:5, 2:].all() and not m[5, :5].any() and m[5, 5]
    n = clockwork_mask((2, 3, 1), (1, 2, 4), "none")
    expect = np.zeros((6, 6), bool)
    expect[:2, :2] = expect[2:5, 2:5] = expect[5, 5] = True
    np.testing.assert_array_equal(n, expect)
    # slower-to-faster follows the periods, not the module order
    u = clockwork_mask((1, 1), (4, 1), "slower-to-faster")
    np.testing.assert_array_equal(u, [[True, False], [True, True]])


def test_schedule_and_carry():
    """Module i updates exactly at t % period_i == 0 and carries its state otherwise."""
    steps = clockwork_schedule((2, 2), (1, 3), "slower-to-faster", 7)
    assert [s.full for s in steps] == [t % 3 == 0 for t in range(7)]
    d = make_case(7, 2, 3, (2, 2), seed=5)
    y, h_n, _ = clockwork_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], (2, 2), (1, 3))
    for t in range(1, 7):
        same = np.array_equal(y[t][:, 2:], y[t - 1][:, 2:])
        assert same == (t % 3 != 0)
        assert not np.array_equal(y[t][:, :2], y[t - 1][:, :2])
    np.testing.assert_array_equal(h_n, y[-1])


def test_masked_weights_are_ignored():
    """Values outside the mask in W_hh do not change the forward; their gradient is zero."""
    sizes, periods = (3, 3), (1, 2)
    d = make_case(6, 2, 2, sizes, seed=6)
    mask = clockwork_mask(sizes, periods, "slower-to-faster")
    w2 = d["w_hh"].copy()
    w2[~mask] = 123.0
    y1, _, _ = clockwork_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], sizes, periods)
    y2, _, c = clockwork_forward(d["x"], d["h0"], d["w_ih"], w2, d["b"], sizes, periods)
    np.testing.assert_array_equal(y1, y2)
    g = clockwork_backward(d["dy"], None, c)
    assert np.all(g.dw_hh[~mask] == 0) and np.abs(g.dw_hh[mask]).min() > 0


# ------------------------------------------------------------------------------------ the module
def test_module_init_and_grads_accumulate():
    m = ClockworkRNN(3, (4, 6), (1, 2), connect="slower-to-faster", seed=0)
    mask = clockwork_mask((4, 6), (1, 2), "slower-to-faster")
    w = m.weight_hh.data
    assert np.all(w[~mask] == 0) and np.all(m.bias.data == 0)
    # Xavier bound per module block: rows 0:4 take all 10 state units, rows 4:10 take 6
    assert np.abs(w[:4]).max() <= np.sqrt(6 / (10 + 4)) and np.abs(w[:4]).max() > 0.5 * np.sqrt(6 / 14)
    assert np.abs(w[4:, 4:]).max() <= np.sqrt(6 / 12) and np.abs(m.weight_ih.data[4:]).max() <= np.sqrt(6 / 9)
    np.testing.assert_array_equal(ClockworkRNN(3, (4, 6), (1, 2), seed=0).weight_hh.data, w)   # seeded
    assert not np.array_equal(ClockworkRNN(3, (4, 6), (1, 2), seed=1).weight_hh.data, w)
    names = {n for n, _ in m.named_parameters()}
    assert names == {"weight_ih", "weight_hh", "bias"}

    d = make_case(5, 2, 3, (4, 6), seed=7)
    y, h_n = m.forward(d["x"], d["h0"])
    dx, dh0 = m.backward(d["dy"], d["dh_n"])
    g1 = {n: p.grad.copy() for n, p in m.named_parameters()}
    y_b, _ = m.forward(d["x"], d["h0"])
    m.backward(d["dy"], d["dh_n"])
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * g1[n], rtol=1e-14, atol=0)
    # the module computes exactly what the functional core computes
    y_f, _, c = clockwork_forward(d["x"], d["h0"], m.weight_ih.data, m.weight_hh.data, m.bias.data, (4, 6), (1, 2))
    g_f = clockwork_backward(d["dy"], d["dh_n"], c)
    np.testing.assert_array_equal(y, y_f)
    np.testing.assert_array_equal(dx, g_f.dx)
    np.testing.assert_array_equal(g1["weight_hh"], g_f.dw_hh)


def test_optimiser_keeps_masked_zeros():
    from rnnfast import optim

    m = ClockworkRNN(2, (3, 3, 2), (1, 2, 4), seed=0)
    mask = m.mask
    params = [p for _, p in m.named_parameters()]
    opt = optim.Adam(params, lr=0.05)
    d = make_case(8, 2, 2, (3, 3, 2), seed=8)
    w0 = m.weight_hh.data.copy()
    for _ in range(3):
        for p in params:
            p.grad = None
        m.forward(d["x"])
        m.backward(d["dy"], None)
        opt.step()
    assert np.all(m.weight_hh.data[~mask] == 0)
    assert np.abs(m.weight_hh.data - w0)[mask].min() > 0


def test_module_float32_and_no_bias():
    m = ClockworkRNN(2, (3, 2), (1, 2), connect="none", bias=False, dtype=np.float32, seed=0)
    assert m.bias is None and m.weight_ih.data.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((4, 2, 2)).astype(np.float32)
    y, h = m.forward(x)
    assert y.dtype == np.float32 and y.shape == (4, 2, 5)
    dx, dh0 = m.backward(np.ones_like(y) * 0.5, None)
    assert dx.dtype == np.float32 and {n for n, _ in m.named_parameters()} == {"weight_ih", "weight_hh"}
    with pytest.raises(TypeError, match="x has dtype float64"):
        m.forward(x.astype(np.float64))


# ------------------------------------------------------------------------------------ bad input
def test_bad_structure():
    with pytest.raises(ValueError, match="one period per module"):
        ClockworkRNN(2, (3, 3), (1,))
    with pytest.raises(ValueError, match="periods must be positive"):
        ClockworkRNN(2, (3, 3), (1, 0))
    with pytest.raises(ValueError, match="module_sizes must be positive"):
        ClockworkRNN(2, (3, 0), (1, 2))
    with pytest.raises(ValueError, match="connect must be one of"):
        ClockworkRNN(2, (3, 3), (1, 2), connect="faster-to-slower")
    with pytest.raises(ValueError, match="nonlinearity"):
        ClockworkRNN(2, (3, 3), (1, 2), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="impl='rnn' needs connect='none'"):
        ClockworkRNN(2, (3, 3), (1, 2), impl="rnn")
    with pytest.raises(TypeError, match="dtype"):
        ClockworkRNN(2, (3, 3), (1, 2), dtype=np.int32)
    with pytest.raises(ValueError, match="at least one module"):
        clockwork_mask((), (), "none")


def test_bad_arrays():
    sizes, periods = (2, 3), (1, 2)
    d = make_case(4, 2, 3, sizes)
    args = lambda **k: {**dict(x=d["x"], h0=d["h0"], w_ih=d["w_ih"], w_hh=d["w_hh"], b=d["b"]), **k}  # noqa: E731

    def fwd(**k):
        a = args(**k)
        return clockwork_forward(a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b"], sizes, periods)
    with pytest.raises(ValueError, match=r"x: expected 3 dimensions, got shape \(2, 3\)"):
        fwd(x=d["x"][0])
    with pytest.raises(ValueError, match=r"w_ih: expected shape \(5, 3\)"):
        fwd(w_ih=d["w_ih"][:, :2])
    with pytest.raises(ValueError, match=r"w_hh: expected shape \(5, 5\)"):
        fwd(w_hh=d["w_hh"][:4])
    with pytest.raises(ValueError, match=r"b: expected shape \(5,\)"):
        fwd(b=d["b"][:3])
    with pytest.raises(ValueError, match=r"h0: expected shape \(2, 5\)"):
        fwd(h0=d["h0"][:1])
    with pytest.raises(TypeError, match="w_hh has dtype float32"):
        fwd(w_hh=d["w_hh"].astype(np.float32))
    with pytest.raises(TypeError, match="expected float32 or float64"):
        fwd(x=d["x"].astype(np.int64))
    with pytest.raises(ValueError, match="impl must be"):
        clockwork_forward(d["x"], None, d["w_ih"], d["w_hh"], d["b"], sizes, periods, impl="fast")
    for impl in ("numpy", "rnn"):
        _, _, c = clockwork_forward(d["x"], None, d["w_ih"], d["w_hh"], d["b"], sizes, periods, connect="none",
                                    impl=impl)
        with pytest.raises(ValueError, match=r"dy: expected shape \(4, 2, 5\)"):
            clockwork_backward(d["dy"][:3], None, c)
        with pytest.raises(ValueError, match=r"dh_n: expected shape \(2, 5\)"):
            clockwork_backward(None, d["dh_n"][:, :4], c)
        with pytest.raises(TypeError, match="dh_n has dtype float32"):
            clockwork_backward(None, d["dh_n"].astype(np.float32), c)
    with pytest.raises(TypeError, match="cache must be"):
        clockwork_backward(d["dy"], None, object())
    with pytest.raises(RuntimeError, match="before forward"):
        ClockworkRNN(3, sizes, periods).backward(d["dy"])
