"""rnnfast.nn recurrent modules against torch.nn with the same weights (loaded through
state_dict): outputs, final states, dx, dh0 (dc0) and EVERY parameter gradient, for random
upstream gradients; multi-layer, bidirectional, batch_first, no bias, relu, proj_size, lengths
(vs pack_padded_sequence), unbatched input, dropout; cells over several BPTT steps; every backend."""
import numpy as np
import pytest

from conftest import TOL
from conftest import rel_err as rel
from rnnfast import nn

torch = pytest.importorskip("torch")

TDT = {np.float64: torch.float64, np.float32: torch.float32}


def make_pair(kind, I, H, dtype, seed=0, **kw):
    """(ours, torch) with identical weights: ours initialised by its seed, torch loads ours."""
    cls = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[kind]
    tcls = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[kind]
    ours = cls(I, H, dtype=dtype, seed=seed, **kw)
    theirs = tcls(I, H, dtype=TDT[dtype], **kw)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def run_pair(kind, ours, theirs, x, lengths=None, seed=1, use_h0=True):
    """Forward and backward both; returns (ours dict, torch dict) of comparable arrays."""
    rng = np.random.default_rng(seed)
    dt = x.dtype
    D = 2 if ours.bidirectional else 1
    LD = ours.num_layers * D
    P = ours.proj_size if kind == "lstm" and ours.proj_size else ours.hidden_size
    H = ours.hidden_size
    unb = x.ndim == 2
    B = 1 if unb else (x.shape[0] if ours.batch_first else x.shape[1])
    st = (LD, P) if unb else (LD, B, P)
    cst = (LD, H) if unb else (LD, B, H)
    h0 = rng.standard_normal(st).astype(dt) if use_h0 else None
    c0 = rng.standard_normal(cst).astype(dt) if use_h0 else None
    # ours
    if kind == "lstm":
        y, (hn, cn) = ours(x, (h0, c0), lengths=lengths)
    else:
        y, hn = ours(x, h0, lengths=lengths)
    dy = rng.standard_normal(y.shape).astype(dt)
    dhn = rng.standard_normal(hn.shape).astype(dt)
    dcn = rng.standard_normal(cn.shape).astype(dt) if kind == "lstm" else None
    if kind == "lstm":
        dx, (dh0, dc0) = ours.backward(dy, (dhn, dcn))
    else:
        dx, dh0 = ours.backward(dy, dhn)
    got = {"y": y, "h_n": hn, "dx": dx}
    if use_h0:
        got["dh0"] = dh0
    if kind == "lstm":
        got["c_n"] = cn
        if use_h0:
            got["dc0"] = dc0
    got.update({"grad." + n: p.grad for n, p in ours.named_parameters()})
    # torch
    xt = torch.from_numpy(x).requires_grad_(True)
    h0t = torch.from_numpy(h0).requires_grad_(True) if use_h0 else None
    c0t = torch.from_numpy(c0).requires_grad_(True) if use_h0 else None
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=ours.batch_first,
                                                      enforce_sorted=False)
    if kind == "lstm":
        out, (thn, tcn) = theirs(inp, (h0t, c0t) if use_h0 else None)
    else:
        out, thn = theirs(inp, h0t)
    if lengths is not None:
        T = x.shape[1] if ours.batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=ours.batch_first, total_length=T)
    outs = [out, thn] + ([tcn] if kind == "lstm" else [])
    ups = [torch.from_numpy(dy), torch.from_numpy(dhn)] + ([torch.from_numpy(dcn)] if kind == "lstm" else [])
    wrt = [xt] + ([h0t] if use_h0 else []) + ([c0t] if use_h0 and kind == "lstm" else [])
    params = [p for _, p in theirs.named_parameters()]
    g = torch.autograd.grad(outs, wrt + params, ups)
    want = {"y": out, "h_n": thn, "dx": g[0]}
    if use_h0:
        want["dh0"] = g[1]
    if kind == "lstm":
        want["c_n"] = tcn
        if use_h0:
            want["dc0"] = g[2]
    want.update({"grad." + n: gp for (n, _), gp in zip(theirs.named_parameters(), g[len(wrt):])})
    return got, want


def check(got, want, tol):
    assert set(got) == set(want), (sorted(got), sorted(want))
    bad = {k: rel(got[k], want[k]) for k in want}
    bad = {k: v for k, v in bad.items() if not v <= tol}
    assert not bad, f"relative errors above {tol}: {bad}"


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=3, bidirectional=True, batch_first=True),
    dict(bias=False, num_layers=2),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "default")
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_module_matches_torch(backend, kind, cfg, dtype):
    ours, theirs = make_pair(kind, 4, 6, dtype, **cfg)
    T, B = 5, 3
    shape = (B, T, 4) if cfg.get("batch_first") else (T, B, 4)
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    check(*run_pair(kind, ours, theirs, x), TOL[dtype])


@pytest.mark.parametrize("kw", [dict(nonlinearity="relu"), dict(nonlinearity="relu", bidirectional=True, num_layers=2)])
def test_rnn_relu(backend, kw):
    ours, theirs = make_pair("rnn", 3, 5, np.float64, **kw)
    x = np.random.default_rng(3).standard_normal((6, 2, 3))
    check(*run_pair("rnn", ours, theirs, x), 1e-10)


@pytest.mark.parametrize("kw", [dict(proj_size=2), dict(proj_size=3, num_layers=2, bidirectional=True)])
def test_lstm_proj_size(backend, kw):
    ours, theirs = make_pair("lstm", 3, 5, np.float64, **kw)
    x = np.random.default_rng(4).standard_normal((4, 3, 3))
    check(*run_pair("lstm", ours, theirs, x), 1e-10)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_lengths_match_packed_sequences(backend, kind, batch_first):
    """Bidirectional, 2 layers: the reverse direction must read each sequence from its last valid step."""
    ours, theirs = make_pair(kind, 3, 4, np.float64, num_layers=2, bidirectional=True, batch_first=batch_first)
    T, B = 6, 4
    x = np.random.default_rng(5).standard_normal((B, T, 3) if batch_first else (T, B, 3))
    check(*run_pair(kind, ours, theirs, x, lengths=[6, 2, 4, 1]), 1e-10)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_unbatched_and_no_initial_state(backend, kind):
    ours, theirs = make_pair(kind, 3, 4, np.float64, num_layers=2, bidirectional=True)
    x = np.random.default_rng(6).standard_normal((5, 3))
    check(*run_pair(kind, ours, theirs, x), 1e-10)
    ours.zero_grad()
    check(*run_pair(kind, ours, theirs, x[:, None, :], use_h0=False), 1e-10)


def test_gradients_accumulate_until_zero_grad(backend):
    m = nn.GRU(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(7).standard_normal((5, 2, 3))
    y, _ = m(x)
    m.backward(np.ones_like(y) * 0.5)
    first = {n: p.grad.copy() for n, p in m.named_parameters()}
    y, _ = m(x)
    m.backward(np.ones_like(y) * 0.5)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-12)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_init_matches_torch_distribution():
    """uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, reproducible from the seed."""
    a, b = nn.LSTM(8, 25, num_layers=2, seed=3), nn.LSTM(8, 25, num_layers=2, seed=3)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert p.data.dtype == np.float32
        assert np.abs(p.data).max() <= 1 / 5 and np.abs(p.data).max() > 0.15
    c = nn.LSTM(8, 25, num_layers=2, seed=4)
    assert not np.array_equal(a.weight_ih_l0.data, c.weight_ih_l0.data)


def test_dropout_train_and_eval(backend):
    ours, theirs = make_pair("lstm", 3, 5, np.float64, num_layers=3, dropout=0.4)
    x = np.random.default_rng(8).standard_normal((4, 2, 3))
    ours.eval()
    theirs.eval()
    check(*run_pair("lstm", ours, theirs, x), 1e-10)  # eval: no dropout, equals torch eval
    ours.train()
    ours.zero_grad()
    y1, _ = ours(x)
    y2, _ = ours(x)
    assert not np.allclose(y1, y2)  # fresh masks each training forward
    # the backward uses the forward's mask: directional derivative check with the mask fixed by reseeding
    rng = np.random.default_rng(9)
    dy = rng.standard_normal(y1.shape)

    def loss(xx):
        ours._rng = np.random.default_rng(123)
        y, _ = ours(xx)
        return float((y * dy).sum())

    loss(x)
    dx, _ = ours.backward(dy)
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    num = (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps)
    assert abs(num - float((dx * v).sum())) < 1e-6 * max(1.0, abs(num))


# ------------------------------------------------------------------------------------------ cells
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn", "rnn_relu"])
def test_cells_bptt_match_torch(backend, kind, unbatched, dtype):
    """Three steps forward, then three backward calls in reverse order (the cell's cache stack)."""
    I, H, B, T = 3, 5, 2, 3
    base = kind.split("_")[0]
    kw = dict(nonlinearity="relu") if kind == "rnn_relu" else {}
    cls = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.RNNCell}[base]
    tcls = {"gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell, "rnn": torch.nn.RNNCell}[base]
    ours = cls(I, H, dtype=dtype, seed=1, **kw)
    theirs = tcls(I, H, dtype=TDT[dtype], **kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(10)
    shp = (T, I) if unbatched else (T, B, I)
    hs = (H,) if unbatched else (B, H)
    xs = rng.standard_normal(shp).astype(dtype)
    h0 = rng.standard_normal(hs).astype(dtype)
    c0 = rng.standard_normal(hs).astype(dtype)
    dys = rng.standard_normal((T,) + hs).astype(dtype)
    # ours
    h, c, outs = h0, c0, []
    for t in range(T):
        if base == "lstm":
            h, c = ours(xs[t], (h, c))
        else:
            h = ours(xs[t], h)
        outs.append(h)
    dh, dc, dxs = np.zeros(hs, dtype), None, [None] * T
    for t in range(T - 1, -1, -1):
        if base == "lstm":
            dxs[t], (dh, dc) = ours.backward(dh + dys[t], dc)
        else:
            dxs[t], dh = ours.backward(dh + dys[t])
    got = {"h": np.stack(outs), "dx": np.stack(dxs), "dh0": dh}
    got.update({n: p.grad for n, p in ours.named_parameters()})
    # torch
    xt = torch.from_numpy(xs).requires_grad_(True)
    h = torch.from_numpy(h0).requires_grad_(True)
    c = torch.from_numpy(c0).requires_grad_(True)
    hh, cc, touts = h, c, []
    for t in range(T):
        if base == "lstm":
            hh, cc = theirs(xt[t], (hh, cc))
        else:
            hh = theirs(xt[t], hh)
        touts.append(hh)
    params = [p for _, p in theirs.named_parameters()]
    wrt = [xt, h] + ([c] if base == "lstm" else [])
    g = torch.autograd.grad(touts, wrt + params, [torch.from_numpy(d) for d in dys])
    want = {"h": torch.stack(touts), "dx": g[0], "dh0": g[1]}
    want.update({n: gp for (n, _), gp in zip(theirs.named_parameters(), g[len(wrt):])})
    if base == "lstm":
        got["dc0"], want["dc0"] = dc, g[2]
    check(got, want, TOL[dtype])


def test_cell_backward_without_forward_raises():
    cell = nn.GRUCell(2, 3)
    with pytest.raises(RuntimeError, match="backward called more times than forward"):
        cell.backward(np.zeros((1, 3), np.float32))


# ------------------------------------------------------------------------------------------ errors
def test_bad_input_errors():
    m = nn.GRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"x: expected input_size=3"):
        m(np.zeros((5, 2, 4), np.float32))
    with pytest.raises(TypeError, match="x has dtype float64 but the other inputs are float32"):
        m(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"h0: expected shape \(2, 2, 4\)"):
        m(np.zeros((5, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"lengths: every length must be in \[0, T=5\]"):
        m(np.zeros((5, 2, 3), np.float32), lengths=[6, 1])
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.LSTM(3, 4).backward(np.zeros((5, 2, 4), np.float32))
    y, _ = m(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout: expected shape \(5, 2, 4\)"):
        m.backward(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match="proj_size must be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\]"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nn.RNN(3, 4, dtype=np.int32)
    with pytest.raises(TypeError, match=r"hx must be None or a tuple"):
        nn.LSTM(3, 4)(np.zeros((2, 1, 3), np.float32), np.zeros((1, 1, 4), np.float32))


def test_load_state_dict_checks_everything_first():
    m = nn.GRU(3, 4, num_layers=2, seed=0)
    before = m.state_dict()
    sd = {k: v + 1 for k, v in before.items()}
    sd["weight_hh_l1"] = np.zeros((12, 5), np.float32)
    with pytest.raises(ValueError, match=r"weight_hh_l1: expected shape \(12, 4\), got \(12, 5\)"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k])
    sd = {k: v.astype(np.float64) for k, v in before.items()}
    with pytest.raises(TypeError, match="weight_ih_l0: parameter is float32 but the value is float64"):
        m.load_state_dict(sd)
    with pytest.raises(KeyError, match=r"missing keys \['bias_hh_l1'\]"):
        m.load_state_dict({k: v for k, v in before.items() if k != "bias_hh_l1"})
    missing, unexpected = m.load_state_dict({"weight_ih_l0": before["weight_ih_l0"], "extra": 1}, strict=False)
    assert unexpected == ["extra"] and "bias_hh_l1" in missing
