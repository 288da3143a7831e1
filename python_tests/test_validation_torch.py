"""PyTorch's own edge cases for its RNN, cell and CTC functions (the cases of torch's test_nn.py:
cell no-broadcasting, cell input/hidden size checks, zero hidden size, zero batch, CTC length and type
checks, empty targets, critical target length, zero_infinity, unbatched input, empty log_probs),
transcribed to rnnfast: on every backend, rnnfast raises where torch raises, with a message naming the
argument, and gives torch's numbers where torch accepts. Then the inputs torch accepts that NumPy
adds: arrays whose dtype object was made by unpickling, misaligned views."""
import pickle

import numpy as np
import pytest

import rnnfast
from rnnfast import ctc
from rnnfast import functional as F

torch = pytest.importorskip("torch")

BACKENDS = rnnfast.available_backends()
REL = 1e-10


@pytest.fixture(params=BACKENDS)
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def close(a, b, rel=REL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel)


def torch_raises(fn) -> bool:
    try:
        fn()
    except (RuntimeError, ValueError, TypeError, IndexError):
        return True
    return False


def t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def npw(p):
    return None if p is None else p.detach().numpy().copy()


# ------------------------------------------------------------------------------------------- cells
CELLS = {"rnn_tanh": (torch.nn.RNNCell, {"nonlinearity": "tanh"}), "rnn_relu": (torch.nn.RNNCell,
         {"nonlinearity": "relu"}), "gru": (torch.nn.GRUCell, {}), "lstm": (torch.nn.LSTMCell, {})}


def rnnfast_cell(kind, cell, x, hx):
    """rnnfast's step with the torch cell's parameters; returns (outputs, cache)."""
    w = [npw(cell.weight_ih), npw(cell.weight_hh), npw(cell.bias_ih), npw(cell.bias_hh)]
    if kind == "lstm":
        h, c, cache = F.lstm_cell_forward(x, hx[0], hx[1], *w)
        return (h, c), cache
    if kind == "gru":
        h, cache = F.gru_cell_forward(x, hx, *w)
    else:
        h, cache = F.rnn_cell_forward(x, hx, *w, nonlinearity=CELLS[kind][1]["nonlinearity"])
    return (h,), cache


def run_both(kind, I, H, x, hx, bias=True):
    cell = CELLS[kind][0](I, H, bias=bias, **CELLS[kind][1]).double()
    tx = t(x, True)
    thx = tuple(t(a, True) for a in hx) if kind == "lstm" else t(hx, True)
    try:
        tout = cell(tx, thx)
    except (RuntimeError, ValueError) as e:
        torch_err = e
    else:
        torch_err = None
    try:
        out, cache = rnnfast_cell(kind, cell, x, hx)
    except (ValueError, TypeError) as e:
        ours_err = e
    else:
        ours_err = None
    return cell, tx, thx, (tout if torch_err is None else torch_err), (None if ours_err else (out, cache)), ours_err


def rand(*s, seed=0):
    return np.random.default_rng(seed + sum(s)).standard_normal(s)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_no_broadcasting(backend, kind):
    """torch: the hidden state's batch and size, and the input's size, must match exactly."""
    I, H = 10, 20
    x, good, bad_batch, bad_size = rand(3, I), rand(3, H), rand(1, H), rand(3, 1)
    cases = [(x, bad_batch), (x, bad_size), (rand(3, 1), good)]
    for xi, hb in cases:
        hxs = [(hb, good), (good, hb)] if kind == "lstm" else [hb]
        for hx in hxs:
            *_, tres, ours, err = run_both(kind, I, H, xi, hx)
            assert isinstance(tres, Exception), "torch accepted a broadcasting shape"
            assert ours is None and err is not None, f"rnnfast accepted x {xi.shape}, hx shapes {[a.shape for a in np.atleast_1d(hx)] if kind != 'lstm' else [a.shape for a in hx]}"
            assert any(n in str(err) for n in ("w_ih", "h:", "c:", "h0", "x")), str(err)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_cell_steps_match_torch(backend, kind, bias):
    """torch's cell smoke test (six steps from a fixed input, then backward of the sum), compared."""
    I, H, B = 10, 20, 3
    cell = CELLS[kind][0](I, H, bias=bias, **CELLS[kind][1]).double()
    x = rand(B, I)
    hx = (rand(B, H), rand(B, H, seed=1)) if kind == "lstm" else rand(B, H)
    th = tuple(t(a) for a in hx) if kind == "lstm" else t(hx)
    ours = hx
    for _ in range(6):
        th = cell(t(x), th)
        out, _ = rnnfast_cell(kind, cell, x, ours)
        ours = out if kind == "lstm" else out[0]
    for a, b in zip((ours if kind == "lstm" else (ours,)), (th if kind == "lstm" else (th,))):
        close(a, b.detach().numpy())


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_zero_hidden_size(backend, kind):
    """torch returns (B, 0) for a hidden size of 0; the gradient w.r.t. the input is then zero."""
    I, B = 10, 3
    x = rand(B, I)
    hx = (np.zeros((B, 0)), np.zeros((B, 0))) if kind == "lstm" else np.zeros((B, 0))
    *_, tout, ours, err = run_both(kind, I, 0, x, hx)
    assert err is None, err
    (out, cache) = ours
    tfirst = tout[0] if kind == "lstm" else tout
    assert out[0].shape == tuple(tfirst.shape) == (B, 0)
    if kind == "lstm":
        g = F.lstm_cell_backward(np.zeros((B, 0)), np.zeros((B, 0)), cache)
    elif kind == "gru":
        g = F.gru_cell_backward(np.zeros((B, 0)), cache)
    else:
        g = F.rnn_cell_backward(np.zeros((B, 0)), cache)
    assert g.dx.shape == (B, I) and not g.dx.any()
    assert g.dw_ih.shape == (0, I)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_zero_input_size_and_zero_batch(backend, kind):
    """torch accepts an input size of 0 (the step is driven by the bias and state) and a batch of 0."""
    for I, B in ((0, 2), (3, 0)):
        H = 4
        x = rand(B, I)
        hx = (rand(B, H), rand(B, H, seed=2)) if kind == "lstm" else rand(B, H)
        *_, tout, ours, err = run_both(kind, I, H, x, hx)
        assert err is None, err
        touts = tout if kind == "lstm" else (tout,)
        for a, b in zip(ours[0], touts):
            close(a, b.detach().numpy())


@pytest.mark.parametrize("kind", ["lstm"])
def test_lstm_cell_forward_input_and_hidden_size(backend, kind):
    """torch's test_LSTM_cell_forward_input_size / _hidden_size."""
    *_, tres, ours, err = run_both(kind, 10, 20, rand(3, 11), (rand(3, 20), rand(3, 20)))
    assert isinstance(tres, Exception) and ours is None
    assert "w_ih: expected shape (80, 11)" in str(err)
    for hx in ((rand(3, 21), rand(3, 20)), (rand(3, 20), rand(3, 21))):
        *_, tres, ours, err = run_both(kind, 10, 20, rand(3, 10), hx)
        assert isinstance(tres, Exception) and ours is None
        assert "expected shape (3, 20)" in str(err)


# ----------------------------------------------------------------------------------------- sequences
SEQ = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def rnnfast_seq(kind, m, x):
    w = [npw(m.weight_ih_l0), npw(m.weight_hh_l0), npw(m.bias_ih_l0), npw(m.bias_hh_l0)]
    if kind == "lstm":
        return F.lstm_forward(x, None, None, *w)
    return (F.gru_forward if kind == "gru" else F.rnn_forward)(x, None, *w)


@pytest.mark.parametrize("kind", list(SEQ))
def test_zero_length_sequence_raises_like_torch(backend, kind):
    m = SEQ[kind](3, 4).double()
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        m(t(np.zeros((0, 2, 3))))
    with pytest.raises(ValueError, match=r"x: expected sequence length to be larger than 0, got shape \(0, 2, 3\)"):
        rnnfast_seq(kind, m, np.zeros((0, 2, 3)))


@pytest.mark.parametrize("kind", list(SEQ))
def test_zero_batch_sequence(backend, kind):
    """torch's test_RNN_input_size_zero: an input of (5, 0, 3) gives (5, 0, 4) and a backward that
    works (parameter gradients zero)."""
    m = SEQ[kind](3, 4).double()
    x = np.zeros((5, 0, 3))
    tx = t(x, True)
    tout = m(tx)
    tout[0].sum().backward()
    out = rnnfast_seq(kind, m, x)
    assert out[0].shape == tuple(tout[0].shape) == (5, 0, 4)
    cache = out[-1]
    if kind == "lstm":
        g = F.lstm_backward(np.ones((5, 0, 4)), None, None, cache)
    else:
        g = (F.gru_backward if kind == "gru" else F.rnn_backward)(np.ones((5, 0, 4)), None, cache)
    assert g.dx.shape == (5, 0, 3)
    close(g.dw_ih, m.weight_ih_l0.grad.numpy())
    close(g.dw_hh, m.weight_hh_l0.grad.numpy())
    close(g.db_ih, m.bias_ih_l0.grad.numpy())


# ------------------------------------------------------------------------------------------------ CTC
def torch_ctc(lp, tg, il, tl, reduction="none", zero_infinity=False, blank=0):
    tlp = t(lp, True)
    conv = lambda a: a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    loss = torch.nn.functional.ctc_loss(tlp, conv(tg), conv(il), conv(tl), blank=blank, reduction=reduction,
                                        zero_infinity=zero_infinity)
    loss.sum().backward()
    return loss.detach().numpy(), tlp.grad.numpy()


def both_ctc(lp, tg, il, tl, **kw):
    """(torch's (loss, grad) or its exception, rnnfast's (loss, grad) or its exception)."""
    kw.setdefault("reduction", "none")
    try:
        ref = torch_ctc(lp, tg, il, tl, **kw)
    except (RuntimeError, ValueError, TypeError) as e:
        ref = e
    try:
        ours = ctc.ctc_loss(lp, tg, il, tl, return_grad=True, **kw)
    except (ValueError, TypeError) as e:
        ours = e
    return ref, ours


def assert_same_outcome(ref, ours, match=None):
    if isinstance(ref, Exception):
        assert isinstance(ours, Exception), f"torch raised {ref!r}, rnnfast returned"
        if match:
            assert match in str(ours), str(ours)
        return
    assert not isinstance(ours, Exception), f"torch accepted, rnnfast raised {ours!r}"
    close(ours[0], ref[0])
    close(ours[1], ref[1])


def log_probs(T, B, C, seed=0):
    return ctc.log_softmax(np.random.default_rng(seed).standard_normal((T, B, C)))


def test_ctc_length_checks(backend):
    """torch's test_CTCLoss_lengthchecks: a target length beyond the padded targets, an input length
    beyond T."""
    lp = log_probs(50, 3, 15)
    tg = np.random.default_rng(0).integers(1, 15, (3, 29))
    ref, ours = both_ctc(lp, tg, [50, 50, 50], [30, 25, 20])
    assert_same_outcome(ref, ours, "target_lengths")
    ref, ours = both_ctc(lp, tg, [50, 51, 50], [20, 25, 20])
    assert_same_outcome(ref, ours, "input_lengths")


def test_ctc_type_checks(backend):
    """torch's test_CTCLoss_typechecks: float input or target lengths are refused."""
    lp = log_probs(50, 3, 15)
    tl = np.array([30, 25, 20])
    tg = np.random.default_rng(1).integers(1, 15, tl.sum())
    ref, ours = both_ctc(lp, tg, np.array([50.0, 50.0, 50.0]), tl)
    assert_same_outcome(ref, ours, "input_lengths: expected integers, got dtype float64")
    ref, ours = both_ctc(lp, tg, np.array([50, 50, 50]), tl.astype(np.float64))
    assert_same_outcome(ref, ours, "target_lengths: expected integers, got dtype float64")
    ref, ours = both_ctc(lp, tg.astype(np.float64), np.array([50, 50, 50]), tl)  # whole-number targets: cast
    assert_same_outcome(ref, ours)


@pytest.mark.parametrize("shape", [(0, 0, 4), (0, 2, 4), (5, 0, 4), (5, 2, 0)])
def test_ctc_empty_log_probs(backend, shape):
    """torch: "log_probs tensor must not be empty"."""
    T, B, _ = shape
    ref, ours = both_ctc(np.zeros(shape), np.ones((B, 1), np.int64), np.full(B, T), np.ones(B, np.int64))
    assert_same_outcome(ref, ours, f"log_probs must not be empty, got shape {shape}")


def test_ctc_empty_targets(backend):
    """torch's test_CTCLoss_empty_target: every target empty, and one non-empty among empty ones."""
    lp = log_probs(50, 3, 15)
    ref, ours = both_ctc(lp, np.zeros((3, 0), np.int64), [50, 50, 50], [0, 0, 0])
    assert_same_outcome(ref, ours)
    close(ours[0], -lp[:, :, 0].sum(0))
    tg = np.random.default_rng(2).integers(1, 15, (3, 9))
    ref, ours = both_ctc(lp, tg, [50, 50, 50], [0, 9, 0])
    assert_same_outcome(ref, ours)


def test_ctc_critical_target_length(backend):
    """torch's test_CTCLoss_critical_target_len: input length == target length (one alignment)."""
    T = 20
    lp = log_probs(T, 1, 5)
    tg = np.array([[1, 2, 3, 4] * 5])
    ref, ours = both_ctc(lp, tg, [T], [T])
    assert_same_outcome(ref, ours)
    assert np.isfinite(ours[0]).all()


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_zero_infinity(backend, zero_infinity):
    """torch's test_CTCLoss_zero_infinity: an infeasible item (target longer than its input)."""
    lp = log_probs(10, 3, 6)
    tg = np.array([[1, 2, 3, 4, 5, 1], [1, 1, 1, 1, 1, 1], [2, 3, 0, 0, 0, 0]])
    il, tl = [10, 8, 3], [6, 6, 2]
    ref, ours = both_ctc(lp, tg, il, tl, zero_infinity=zero_infinity)
    if zero_infinity:
        assert_same_outcome(ref, ours)
    else:  # infinite loss; torch's gradient is NaN on the infeasible item, compare the others
        close(ours[0], ref[0])
        close(ours[1][:, [0, 2]], ref[1][:, [0, 2]])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_no_batch_dim(backend, reduction):
    """torch's test_CTCLoss_no_batch_dim: (T, C) input, (S,) target, 0-d lengths, equal to the batch of one."""
    lp = log_probs(12, 1, 6)[:, 0]
    tg = np.array([1, 2, 2, 3])
    ref, ours = both_ctc(lp, tg, torch.tensor(12), torch.tensor(4), reduction=reduction)
    assert_same_outcome(ref, ours)
    ours2 = ctc.ctc_loss(lp, tg, np.array(12), np.array(4), reduction=reduction, return_grad=True)
    close(ours2[0], ref[0])


def test_ctc_0d_lengths_for_a_batch_of_one(backend):
    """torch accepts 0-d input and target lengths for a batch of one, and refuses them for more."""
    lp = log_probs(12, 1, 6)
    tg = np.array([[1, 2, 2, 3]])
    for il, tl in ((np.array([12]), np.array(4)), (np.array(12), np.array([4])), (np.array(12), np.array(4))):
        ref, ours = both_ctc(lp, tg, torch.as_tensor(il), torch.as_tensor(tl))
        assert_same_outcome(ref, ours)
        ref2, ours2 = both_ctc(lp, tg, il, tl)
        assert_same_outcome(ref2, ours2)
    lp2 = log_probs(12, 2, 6)
    ref, ours = both_ctc(lp2, np.vstack([tg, tg]), torch.tensor([12, 12]), torch.tensor(4))
    assert_same_outcome(ref, ours, "target_lengths: expected shape (2,)")


def test_decoders_take_a_scalar_input_length_for_unbatched_input(backend):
    """As ctc_loss does: (T, C) input with a 0-d input length."""
    lp = log_probs(12, 1, 6)
    assert ctc.greedy_decode(lp[:, 0], 7) == ctc.greedy_decode(lp, [7])
    assert ctc.greedy_decode(lp[:, 0], np.array(7)) == ctc.greedy_decode(lp, [7])
    assert ctc.beam_search(lp[:, 0], 7, beam_width=4, top_k=2) == ctc.beam_search(lp, [7], beam_width=4, top_k=2)
    with pytest.raises(TypeError, match="input_lengths: expected integers, got dtype float64"):
        ctc.greedy_decode(lp[:, 0], 7.0)
    with pytest.raises(ValueError, match=r"beam_width = 9223372036854775808 is outside \[1, 9223372036854775807\]"):
        ctc.beam_search(lp, [7], beam_width=2**63)
    with pytest.raises(ValueError, match=r"beam_width = 0 is outside"):
        ctc.beam_search(lp, [7], beam_width=0)
    with pytest.raises(TypeError, match="beam_width must be an integer, got float"):
        ctc.beam_search(lp, [7], beam_width=2.5)


# ------------------------------------------------------------------------------ NumPy-specific inputs
def test_unpickled_arrays_are_accepted(backend):
    """An unpickled array's dtype equals float32 but is another object; it must work like the original."""
    r = np.random.default_rng(3)
    args = [r.standard_normal(s).astype(np.float32) for s in ((4, 2, 3), (2, 5), (15, 3), (15, 5), (15,), (15,))]
    y, _, _ = F.gru_forward(*args)
    back = pickle.loads(pickle.dumps(args))
    assert back[0].dtype == np.float32 and back[0].dtype is not np.dtype(np.float32)
    y2, _, c2 = F.gru_forward(*back)
    np.testing.assert_array_equal(y, y2)
    F.gru_backward(pickle.loads(pickle.dumps(y2)), None, c2)
    lp = pickle.loads(pickle.dumps(log_probs(6, 1, 4).astype(np.float32)))
    tg, il, tl = pickle.loads(pickle.dumps((np.array([[1, 2]]), np.array([6]), np.array([2]))))
    assert np.isfinite(ctc.ctc_loss(lp, tg, il, tl))


def _misaligned(a):
    """A C-contiguous copy of ``a`` starting one byte into a buffer (not aligned to its dtype)."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = buf[1:].view(a.dtype).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


def test_misaligned_arrays_are_copied(backend):
    r = np.random.default_rng(4)
    args = [r.standard_normal(s) for s in ((4, 2, 3), (2, 5), (2, 5), (20, 3), (20, 5), (20,), (20,))]
    y, *_ = F.lstm_forward(*args, lengths=np.array([4, 2]))
    y2, *_, cache = F.lstm_forward(*[_misaligned(a) for a in args], lengths=_misaligned(np.array([4, 2])))
    np.testing.assert_array_equal(y, y2)
    assert cache.x.flags.aligned
    g = F.lstm_backward(_misaligned(y2), None, None, cache)
    assert np.isfinite(g.dw_ih).all()
    lp = log_probs(6, 1, 4)
    l1 = ctc.ctc_loss(lp, [[1, 2]], [6], [2])
    l2 = ctc.ctc_loss(_misaligned(lp), _misaligned(np.array([[1, 2]])), [6], [2])
    np.testing.assert_array_equal(l1, l2)


def test_misaligned_accumulators_are_refused(backend):
    x, h = rand(2, 3), rand(2, 4)
    _, cache = F.rnn_cell_forward(x, h, rand(4, 3), rand(4, 4))
    g = F.rnn_cell_backward(h, cache)
    g.dw_hh = _misaligned(g.dw_hh)
    with pytest.raises(ValueError, match="grads.dw_hh must be aligned"):
        F.rnn_cell_backward(h, cache, g)


def test_float_sequence_lengths_are_refused(backend):
    r = np.random.default_rng(5)
    with pytest.raises(TypeError, match="lengths: expected integers, got dtype float64"):
        F.rnn_forward(r.standard_normal((3, 2, 2)), None, r.standard_normal((4, 2)), r.standard_normal((4, 4)),
                      lengths=[3.0, 2.0])
