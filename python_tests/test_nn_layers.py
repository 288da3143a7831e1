"""rnnfast.nn layers, losses and Sequential against torch autograd: forward, input gradient and
every parameter gradient with random upstream gradients, float64 (tight) and float32; state_dict
loading from torch; bad input."""
import numpy as np
import pytest

from conftest import rel_err as rel
from rnnfast import nn

torch = pytest.importorskip("torch")
TOL = {np.float64: 1e-11, np.float32: 2e-6}
TDT = {np.float64: torch.float64, np.float32: torch.float32}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear(dtype, bias, shape):
    ours = nn.Linear(4, 3, bias=bias, dtype=dtype, seed=0)
    theirs = torch.nn.Linear(4, 3, bias=bias, dtype=TDT[dtype])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape[:-1] + (3,)).astype(dtype)
    y = ours(x)
    dx = ours.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(dy))
    assert rel(y, yt) < TOL[dtype] and rel(dx, xt.grad) < TOL[dtype]
    for n, p in theirs.named_parameters():
        assert rel(getattr(ours, n).grad, p.grad) < TOL[dtype], n


def test_linear_init_range_and_accumulation():
    m = nn.Linear(16, 8, seed=3)
    assert np.abs(m.weight.data).max() <= 0.25 and m.weight.data.dtype == np.float32
    x = np.ones((2, 16), np.float32)
    for _ in range(2):
        m(x)
        m.backward(np.ones((2, 8), np.float32))
    np.testing.assert_allclose(m.bias.grad, 4 * np.ones(8))


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding(padding_idx):
    ours = nn.Embedding(7, 3, padding_idx=padding_idx, dtype=np.float64, seed=0)
    if padding_idx is not None:
        assert not ours.weight.data[padding_idx].any()
    theirs = torch.nn.Embedding(7, 3, padding_idx=padding_idx, dtype=torch.float64)
    theirs.load_state_dict({"weight": torch.from_numpy(ours.weight.data)})
    ids = np.array([[1, 2, 2], [6, 0, 2]])
    dy = np.random.default_rng(2).standard_normal((2, 3, 3))
    y = ours(ids)
    assert ours.backward(dy) is None
    yt = theirs(torch.from_numpy(ids))
    yt.backward(torch.from_numpy(dy))
    assert rel(y, yt) < 1e-15 and rel(ours.weight.grad, theirs.weight.grad) < 1e-14


@pytest.mark.parametrize("cls,tcls", [(nn.ReLU, torch.nn.ReLU), (nn.Tanh, torch.nn.Tanh),
                                      (nn.Sigmoid, torch.nn.Sigmoid)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations(cls, tcls, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 5)) * 3).astype(dtype)
    dy = rng.standard_normal((4, 5)).astype(dtype)
    m = cls()
    y, dx = m(x), None
    dx = m.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = tcls()(xt)
    yt.backward(torch.from_numpy(dy))
    assert y.dtype == dtype and rel(y, yt) < TOL[dtype] * 10 and rel(dx, xt.grad) < TOL[dtype] * 10


@pytest.mark.parametrize("dim", [-1, 1, 0])
@pytest.mark.parametrize("cls,tf", [(nn.LogSoftmax, torch.nn.functional.log_softmax),
                                    (nn.Softmax, torch.nn.functional.softmax)])
def test_softmaxes(cls, tf, dim):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5)) * 5
    dy = rng.standard_normal((3, 4, 5))
    m = cls(dim)
    y = m(x)
    dx = m.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = tf(xt, dim)
    yt.backward(torch.from_numpy(dy))
    assert rel(y, yt) < 1e-13 and rel(dx, xt.grad) < 1e-12


def test_dropout_train_eval_and_gradient():
    m = nn.Dropout(0.3, seed=0)
    x = np.ones((200, 50))
    y = m(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02 and np.allclose(y[kept], 1 / 0.7)
    np.testing.assert_array_equal(m.backward(np.ones_like(x)), y)  # same mask
    m.eval()
    np.testing.assert_array_equal(m(x), x)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("kw", [{}, dict(ignore_index=1), dict(label_smoothing=0.2), dict(weight=True),
                                dict(weight=True, label_smoothing=0.1, ignore_index=0)])
@pytest.mark.parametrize("shape", ["2d", "4d"])
def test_cross_entropy(reduction, kw, shape):
    rng = np.random.default_rng(5)
    C = 4
    x = rng.standard_normal((6, C) if shape == "2d" else (3, C, 2, 2)) * 2
    t = rng.integers(0, C, (6,) if shape == "2d" else (3, 2, 2))
    kw = dict(kw)
    w = rng.uniform(0.5, 2, C) if kw.pop("weight", False) else None
    ours = nn.CrossEntropyLoss(weight=w, reduction=reduction, **kw)
    theirs = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.from_numpy(w), reduction=reduction, **kw)
    loss = ours(x, t)
    up = rng.standard_normal(loss.shape) if reduction == "none" else 0.7
    dx = ours.backward(up)
    xt = torch.from_numpy(x).requires_grad_(True)
    lt = theirs(xt, torch.from_numpy(t))
    lt.backward(torch.tensor(up if reduction == "none" else 0.7, dtype=torch.float64))
    assert rel(loss, lt) < 1e-12 and rel(dx, xt.grad) < 1e-12


def test_cross_entropy_float32_and_unbatched():
    x = np.random.default_rng(6).standard_normal(5).astype(np.float32)
    ours = nn.CrossEntropyLoss()
    loss = ours(x, np.array(2))
    dx = ours.backward()
    xt = torch.from_numpy(x).requires_grad_(True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(2))
    lt.backward()
    assert loss.dtype == np.float32 and rel(loss, lt) < 1e-6 and rel(dx, xt.grad) < 1e-6


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_mse(reduction):
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ours = nn.MSELoss(reduction)
    loss = ours(x, t)
    up = rng.standard_normal((4, 3)) if reduction == "none" else 1.3
    dx = ours.backward(up)
    xt = torch.from_numpy(x).requires_grad_(True)
    lt = torch.nn.MSELoss(reduction=reduction)(xt, torch.from_numpy(t))
    lt.backward(torch.as_tensor(up, dtype=torch.float64))
    assert rel(loss, lt) < 1e-14 and rel(dx, xt.grad) < 1e-14


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_loss_module(reduction):
    rng = np.random.default_rng(8)
    T, B, C = 12, 3, 5
    lp = torch.nn.functional.log_softmax(torch.from_numpy(rng.standard_normal((T, B, C))), 2).numpy()
    tg, il, tl = rng.integers(1, C, (B, 4)), np.array([12, 10, 11]), np.array([4, 2, 3])
    ours = nn.CTCLoss(reduction=reduction)
    loss = ours(lp, tg, il, tl)
    up = rng.standard_normal(B) if reduction == "none" else 1.0
    g = ours.backward(up)
    lt = torch.from_numpy(lp).requires_grad_(True)
    L = torch.nn.CTCLoss(reduction=reduction)(lt, torch.from_numpy(tg), torch.from_numpy(il), torch.from_numpy(tl))
    L.backward(torch.as_tensor(up, dtype=torch.float64))
    assert rel(loss, L) < 1e-12 and rel(g, lt.grad) < 1e-12


def test_sequential_matches_torch_and_names():
    ours = nn.Sequential(nn.Linear(4, 8, dtype=np.float64, seed=0), nn.Tanh(), nn.Linear(8, 3, dtype=np.float64,
                                                                                           seed=1), nn.LogSoftmax(-1))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8, dtype=torch.float64), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3, dtype=torch.float64), torch.nn.LogSoftmax(-1))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(9)
    x, dy = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    y = ours(x)
    dx = ours.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(dy))
    assert rel(y, yt) < 1e-13 and rel(dx, xt.grad) < 1e-12
    for n, p in theirs.named_parameters():
        assert rel(dict(ours.named_parameters())[n].grad, p.grad) < 1e-12
    assert len(ours) == 4 and isinstance(ours[1], nn.Tanh)


def test_bad_input():
    with pytest.raises(ValueError, match=r"x: expected in_features=4 in its last dimension, got shape \(2, 3\)"):
        nn.Linear(4, 2)(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="x has dtype float64 but the other inputs are float32"):
        nn.Linear(4, 2)(np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        nn.Linear(4, 2).backward(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"ids: every index must be in \[0, 5\)"):
        nn.Embedding(5, 2)(np.array([5]))
    with pytest.raises(TypeError, match="ids: expected integers"):
        nn.Embedding(5, 2)(np.array([1.0]))
    with pytest.raises(ValueError, match=r"target: class indices must be in \[0, C=3\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target: expected shape \(2,\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss("avg")
    with pytest.raises(TypeError, match="argument 1 is a int, not a Module"):
        nn.Sequential(nn.Tanh(), 3)
