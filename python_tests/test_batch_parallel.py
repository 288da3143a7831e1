"""Batch-parallel recurrences (csrc/parallel.h): with several kernel threads the cpp sequence
kernels split the batch into row blocks, each running the whole time loop on its own thread.
The split results must equal torch and the unsplit kernel, with lengths and odd batch sizes."""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

torch = pytest.importorskip("torch")
if "cpp" not in rnnfast.available_backends():
    pytest.skip("cpp backend unavailable", allow_module_level=True)
from rnnfast import _core  # noqa: E402

rnnfast._backend.kernels("cpp")  # installs the BLAS


@pytest.fixture
def kernel_threads():
    """Run with 2 kernel threads, then restore."""
    prev = _core.get_num_threads()
    if not _core.has_blas_threads_local():
        pytest.skip("this BLAS has no thread-local thread count: no batch split")
    _core.set_num_threads(2)
    yield
    _core.set_num_threads(prev)


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _run(kind, d, lengths, threads):
    _core.set_num_threads(threads)
    with rnnfast.use_backend("cpp"):
        if kind == "gru":
            y, h, c = F.gru_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], lengths=lengths,
                                    reset_after=d["reset_after"])
            g = F.gru_backward(d["dy"], d["dh"], c)
            return [y, h, g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]
        if kind == "lstm":
            y, h, cn, c = F.lstm_forward(d["x"], d["h0"], d["c0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                                         w_hr=d["w_hr"], lengths=lengths)
            g = F.lstm_backward(d["dy"], d["dh"], d["dc"], c)
            out = [y, h, cn, g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]
            return out + ([g.dw_hr] if d["w_hr"] is not None else [])
        y, h, c = F.rnn_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], lengths=lengths,
                                nonlinearity=d["nl"])
        g = F.rnn_backward(d["dy"], d["dh"], c)
        return [y, h, g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]


CASES = [  # kind, B, I, H, P, extra; per-step work chosen so that 2 row blocks are used
    ("gru", 9, 5, 40, 0, dict(reset_after=True)),
    ("gru", 9, 5, 40, 0, dict(reset_after=False)),
    ("lstm", 9, 5, 32, 0, {}),
    ("lstm", 7, 5, 40, 24, {}),
    ("rnn", 9, 5, 64, 0, dict(nl="tanh")),
    ("rnn", 8, 5, 64, 0, dict(nl="relu")),
]


@pytest.mark.parametrize("kind,B,I,H,P,extra", CASES, ids=[f"{c[0]}-B{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_split_batch_equals_unsplit(kernel_threads, kind, B, I, H, P, extra):
    T = 6
    G = {"gru": 3, "lstm": 4, "rnn": 1}[kind] * H
    Pn = P or H
    work = G * Pn + (H * P if P else 0)
    assert _core.row_blocks(B, work) == 2, "the case must exercise the split path"
    rng = np.random.default_rng(B + H)
    n = lambda *s: rng.standard_normal(s)  # noqa: E731
    k = 1 / np.sqrt(H)
    d = dict(x=n(T, B, I), h0=n(B, Pn), c0=n(B, H), w_ih=rng.uniform(-k, k, (G, I)), w_hh=rng.uniform(-k, k, (G, Pn)),
             b_ih=rng.uniform(-k, k, G), b_hh=rng.uniform(-k, k, G), w_hr=rng.uniform(-k, k, (P, H)) if P else None,
             dy=n(T, B, Pn), dh=n(B, Pn), dc=n(B, H), **extra)
    lengths = rng.integers(0, T + 1, B)
    lengths[0] = T
    split = _run(kind, d, lengths, 2)
    whole = _run(kind, d, lengths, 1)
    _core.set_num_threads(2)
    for a, b in zip(split, whole):
        assert rel(a, b) < 1e-12
    # and against torch for the unpacked rows (lengths = T everywhere)
    full = _run(kind, d, None, 2)
    tmod = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[kind]
    if kind == "gru" and not d["reset_after"]:
        return  # torch has no reset_before GRU; test_gru_functional covers it against its formula
    kw = dict(proj_size=P) if kind == "lstm" else dict(nonlinearity=d["nl"]) if kind == "rnn" else {}
    m = tmod(I, H, dtype=torch.float64, **kw)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] + (["weight_hr_l0"] if P else [])
    keys = ["w_ih", "w_hh", "b_ih", "b_hh"] + (["w_hr"] if P else [])
    with torch.no_grad():
        for nm, key in zip(names, keys):
            getattr(m, nm).copy_(torch.from_numpy(d[key]))
    xt = torch.from_numpy(d["x"]).requires_grad_(True)
    h0 = torch.from_numpy(d["h0"])[None].requires_grad_(True)
    if kind == "lstm":
        c0 = torch.from_numpy(d["c0"])[None].requires_grad_(True)
        y, (h, c) = m(xt, (h0, c0))
        gr = torch.autograd.grad([y, h, c], [xt, h0, c0], [torch.from_numpy(d["dy"]), torch.from_numpy(d["dh"])[None],
                                                           torch.from_numpy(d["dc"])[None]])
        want = [y, h[0], c[0], gr[0], gr[1][0], gr[2][0]]
    else:
        y, h = m(xt, h0)
        gr = torch.autograd.grad([y, h], [xt, h0], [torch.from_numpy(d["dy"]), torch.from_numpy(d["dh"])[None]])
        want = [y, h[0], gr[0], gr[1][0]]
    for a, b in zip(full, want):
        assert rel(a, b.detach().numpy()) < 1e-10
