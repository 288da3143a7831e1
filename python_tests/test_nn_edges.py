"""rnnfast.nn at the edges, against torch.nn: constructor arguments (types, ranges, dropout = 1,
hidden size 0 for cells), sequence length 0, huge sizes, pickling on every backend."""
import pickle

import numpy as np
import pytest

from conftest import TOL, rel_err, torch_dtype, torch_module_like
from rnnfast import nn

torch = pytest.importorskip("torch")

SEQ = {"GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM, "RNN": torch.nn.RNN}
CELLS = {"GRUCell": torch.nn.GRUCell, "LSTMCell": torch.nn.LSTMCell, "RNNCell": torch.nn.RNNCell}


def _torch_accepts(f):
    try:
        f()
        return True
    except (TypeError, ValueError, RuntimeError):
        return False


# (keyword arguments, what rnnfast raises); torch raises for each of them as well
BAD_SEQ_ARGS = [
    (dict(bias="False"), TypeError, "bias must be a bool"),
    (dict(bias=0), TypeError, "bias must be a bool"),
    (dict(bias=None), TypeError, "bias must be a bool"),
    (dict(batch_first="False"), TypeError, "batch_first must be a bool"),
    (dict(dropout=1.5), ValueError, r"dropout must be in \[0, 1\]"),
    (dict(dropout=-0.1), ValueError, r"dropout must be in \[0, 1\]"),
    (dict(dropout=float("nan")), ValueError, r"dropout must be in \[0, 1\]"),
    (dict(dropout="0.5"), TypeError, "dropout must be a number"),
    (dict(dropout=True), TypeError, "dropout must be a number"),
    (dict(num_layers=0), ValueError, "num_layers must be an integer >= 1"),
    (dict(num_layers=1.5), TypeError, "num_layers must be an integer"),
    (dict(hidden_size=0), ValueError, "hidden_size must be an integer >= 1"),
    (dict(hidden_size=1.5), TypeError, "hidden_size must be an integer"),
    (dict(input_size=0), ValueError, "input_size must be an integer >= 1"),
    (dict(input_size=-1), ValueError, "input_size must be an integer >= 1"),
]


@pytest.mark.parametrize("kind", sorted(SEQ))
@pytest.mark.parametrize("kw, exc, msg", BAD_SEQ_ARGS)
def test_sequence_module_arguments_follow_torch(kind, kw, exc, msg):
    args = dict(input_size=3, hidden_size=4)
    args.update(kw)
    assert not _torch_accepts(lambda: SEQ[kind](**args)), "torch accepts it: the case is wrong"
    with pytest.raises(exc, match=msg):
        getattr(nn, kind)(**args)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_flags_must_be_bools(kind):
    # torch's cells turn bias="False" into a model WITH biases; rnnfast refuses the ambiguity
    with pytest.raises(TypeError, match="bias must be a bool"):
        getattr(nn, kind)(3, 4, bias="False")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        getattr(nn, kind)(3, 4, dtype=("float32",))


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("I, H", [(3, 0), (0, 3)])
def test_cells_with_size_zero_match_torch(backend, kind, I, H):
    ours = getattr(nn, kind)(I, H, dtype=np.float64, seed=0)
    theirs = torch_module_like(ours, CELLS[kind], I, H, dtype=torch.float64)
    x = np.random.default_rng(1).standard_normal((2, I))
    out = ours(x)
    tout = theirs(torch.from_numpy(x))
    if kind == "LSTMCell":
        assert out[0].shape == tuple(tout[0].shape) == (2, H) and out[1].shape == (2, H)
        if H:
            assert rel_err(out[0], tout[0]) < TOL[np.float64]
    else:
        assert out.shape == tuple(tout.shape) == (2, H)
        if H:
            assert rel_err(out, tout) < TOL[np.float64]


@pytest.mark.parametrize("kind", sorted(SEQ))
def test_sequence_length_zero_raises_as_torch(backend, kind):
    m = getattr(nn, kind)(3, 4)
    with pytest.raises(RuntimeError, match="larger than 0"):
        SEQ[kind](3, 4)(torch.zeros(0, 2, 3))
    with pytest.raises(ValueError, match="x: expected a sequence length larger than 0"):
        m(np.zeros((0, 2, 3), np.float32))


@pytest.mark.parametrize("kind", ["GRU", "LSTMCell"])
def test_huge_sizes_give_a_memory_error_naming_them(kind):
    with pytest.raises(MemoryError, match=r"hidden_size=4294967296"):
        getattr(nn, kind)(3, 2 ** 32)
    if kind == "GRU":  # each layer is small: refused before allocating layer after layer
        with pytest.raises(MemoryError, match=r"num_layers=18446744073709551617"):
            nn.GRU(3, 4, num_layers=2 ** 64 + 1)


@pytest.mark.parametrize("kind", sorted(SEQ))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_one_matches_torch(backend, kind, dtype):
    """p = 1 zeroes the output of every layer but the last (no 0/0); the module still equals torch's
    with the second layer fed zeros."""
    ours = getattr(nn, kind)(3, 4, num_layers=2, dropout=1.0, dtype=dtype, seed=0)
    theirs = torch_module_like(ours, SEQ[kind], 3, 4, num_layers=2, dropout=1.0, dtype=torch_dtype(dtype))
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(dtype)
    y, _ = ours(x)
    ty, _ = theirs(torch.from_numpy(x))
    assert np.isfinite(y).all()
    assert rel_err(y, ty) < TOL[dtype]
    dx, _ = ours.backward(np.ones_like(y))
    ty.sum().backward()
    assert np.array_equal(dx, np.zeros_like(dx))  # nothing reaches the input through a zeroed layer
    for name, p in ours.named_parameters():
        tp = dict(theirs.named_parameters())[name]
        if tp.grad is not None:
            assert rel_err(p.grad, tp.grad) < TOL[dtype] * 10, name


def test_dropout_layer_one_gives_zeros():
    m = nn.Dropout(1.0, seed=0)
    x = np.ones((3, 4), np.float32)
    y = m(x)
    assert np.array_equal(y, np.zeros_like(x))
    assert np.array_equal(m.backward(np.ones_like(x)), np.zeros_like(x))
    t = torch.nn.Dropout(1.0)(torch.ones(3, 4))
    assert np.array_equal(y, t.numpy())
    with pytest.raises(TypeError, match="p must be a number"):
        nn.Dropout("0.5")


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"])
def test_pickled_module_works_on_every_backend(backend, kind):
    m = getattr(nn, kind)(3, 4, seed=0)
    x = np.random.default_rng(3).standard_normal((5, 2, 3) if kind[-4:] != "Cell" else (2, 3)).astype(np.float32)
    want = m(x)
    m2 = pickle.loads(pickle.dumps(m))
    got = m2(x)
    for a, b in zip(np.atleast_1d(*[want]) if False else _flat(want), _flat(got)):
        np.testing.assert_array_equal(a, b)
    assert m2.dtype is np.dtype(np.float32)
    for _, p in m2.named_parameters():
        assert p.data.dtype is np.dtype(np.float32)
    # pickled between a forward and its backward: the backward still runs on every backend
    m3 = pickle.loads(pickle.dumps(m))
    out = m3(x) if kind[-4:] == "Cell" else m3(x)[0]
    out = out[0] if isinstance(out, tuple) else out
    m4 = pickle.loads(pickle.dumps(m3))
    m4.backward(np.ones_like(out))


def _flat(r):
    if isinstance(r, (tuple, list)):
        return [a for x in r for a in _flat(x)]
    return [r]


def test_parameters_are_checked_against_the_memory_available(monkeypatch):
    """A module whose parameters (and the float64 draw they start from) exceed the memory available now
    raises a MemoryError naming its sizes, before allocating: it would otherwise be killed by the kernel's
    out-of-memory handler or swap for minutes. The count follows the layers' real input sizes."""
    from rnnfast.nn import _args

    monkeypatch.setattr(_args, "_available_bytes", lambda: 8 * 2 ** 30)
    with pytest.raises(MemoryError, match=r"RNNCell\(input_size=2147483647, hidden_size=1\).*32 GiB.*8 GiB"):
        nn.RNNCell(2 ** 31 - 1, 1, dtype=np.float64)
    with pytest.raises(MemoryError, match=r"RNN\(input_size=2147483647, hidden_size=1, num_layers=2\): .* 24 GiB"):
        nn.RNN(2 ** 31 - 1, 1, num_layers=2, dtype=np.float32)
    monkeypatch.setattr(_args, "_available_bytes", lambda: 2 ** 20)  # 1 MiB: 6 layers of (4, 4) fit
    nn.LSTM(4, 4, num_layers=6)
    with pytest.raises(MemoryError, match="num_layers=2000"):
        nn.LSTM(4, 4, num_layers=2000)
