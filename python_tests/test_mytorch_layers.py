"""rnnfast.mytorch layers (Linear, activations, SoftmaxCrossEntropy) against PyTorch autograd, and
the spec's random-initialisation order of every MyTorch class (np.random global RNG)."""
import numpy as np
import pytest

from rnnfast.mytorch.gru_cell import GRUCell
from rnnfast.mytorch.gru_cell_2019 import GRU_Cell
from rnnfast.mytorch.models.char_predictor import CharacterPredictor
from rnnfast.mytorch.models.GRU import GRU
from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier
from rnnfast.mytorch.nn.activation import Identity, ReLU, Sigmoid, Tanh
from rnnfast.mytorch.nn.linear import Linear
from rnnfast.mytorch.nn.loss import SoftmaxCrossEntropy
from rnnfast.mytorch.rnn_cell import RNNCell

torch = pytest.importorskip("torch")
T_ = torch.from_numpy
GRU_NAMES = ["Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh"]


def close(a, b, tol=1e-12):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ------------------------------------------------------------------------------------------ init order
def _gru_draws(d, h):
    return [np.random.randn(h, d) for _ in range(3)] + [np.random.randn(h, h) for _ in range(3)] + \
        [np.random.randn(h) for _ in range(6)]


def test_rnn_cell_init_order():
    np.random.seed(7)
    c = RNNCell(3, 4)
    after = np.random.randn()
    np.random.seed(7)
    want = [np.random.randn(4, 3), np.random.randn(4, 4), np.random.randn(4), np.random.randn(4)]
    for a, b in zip((c.W_ih, c.W_hh, c.b_ih, c.b_hh), want):
        np.testing.assert_array_equal(a, b)
    assert after == np.random.randn()  # nothing else was drawn
    for g, shape in ((c.dW_ih, (4, 3)), (c.dW_hh, (4, 4)), (c.db_ih, (4,)), (c.db_hh, (4,))):
        assert g.shape == shape and not g.any()


def test_gru_cell_init_order():
    np.random.seed(8)
    g = GRUCell(3, 4)
    after = np.random.randn()
    np.random.seed(8)
    want = _gru_draws(3, 4)
    for n, b in zip(GRU_NAMES, want):
        np.testing.assert_array_equal(getattr(g, n), b)
        dn = getattr(g, "d" + n)
        assert dn.shape == b.shape and not dn.any()
    assert after == np.random.randn()


def test_char_predictor_init_order():
    np.random.seed(9)
    cp = CharacterPredictor(3, 4, 5)
    np.random.seed(9)
    want = _gru_draws(3, 4)
    for n, b in zip(GRU_NAMES, want):
        np.testing.assert_array_equal(getattr(cp.gru, n), b)
    np.testing.assert_array_equal(cp.projection.W, np.random.rand(5, 4))
    assert cp.projection.b.shape == (5, 1) and not cp.projection.b.any()


def test_gru_cell_2019_init_order():
    np.random.seed(10)
    old = GRU_Cell(3, 4)
    np.random.seed(10)
    for n, shape in (("Wzh", (4, 4)), ("Wrh", (4, 4)), ("Wh", (4, 4)), ("Wzx", (4, 3)), ("Wrx", (4, 3)),
                     ("Wx", (4, 3))):
        np.testing.assert_array_equal(getattr(old, n), np.random.randn(*shape))
        assert getattr(old, "d" + n).shape == shape and not getattr(old, "d" + n).any()


def test_models_draw_their_cells_in_layer_order():
    np.random.seed(11)
    m = RNNPhonemeClassifier(3, 4, 6, num_layers=2)
    np.random.seed(11)
    for cell, d in zip(m.rnn, (3, 4)):
        for a, shape in zip((cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh), ((4, d), (4, 4), (4,), (4,))):
            np.testing.assert_array_equal(a, np.random.randn(*shape))
    assert not m.output_layer.W.any() and m.output_layer.W.shape == (6, 4)
    np.random.seed(12)
    g = GRU(3, 4, num_layers=2)
    np.random.seed(12)
    for cell, d in zip(g.layers, (3, 4)):
        for n, b in zip(GRU_NAMES, _gru_draws(d, 4)):
            np.testing.assert_array_equal(getattr(cell, n), b)


def test_linear_starts_at_zero_and_draws_nothing():
    np.random.seed(13)
    lin = Linear(3, 5)
    assert lin.W.shape == (5, 3) and lin.b.shape == (5, 1) and not lin.W.any() and not lin.b.any()
    x = np.random.randn()
    np.random.seed(13)
    assert x == np.random.randn()


# ------------------------------------------------------------------------------------------ layers
def test_linear_matches_torch():
    rng = np.random.default_rng(0)
    N, i, o = 6, 4, 3
    lin = Linear(i, o)
    lin.W, lin.b = rng.standard_normal((o, i)), rng.standard_normal((o, 1))
    A, dZ = rng.standard_normal((N, i)), rng.standard_normal((N, o))
    W, b, At = (T_(a.copy()).requires_grad_(True) for a in (lin.W, lin.b[:, 0], A))
    Z = At @ W.T + b
    Z.backward(T_(dZ))
    close(lin.forward(A), Z)
    dA = lin.backward(dZ)
    close(dA, At.grad)
    close(lin.dLdW, W.grad)
    assert lin.dLdb.shape == (o, 1)
    close(lin.dLdb[:, 0], b.grad)


@pytest.mark.parametrize("cls,fn", [(Sigmoid, torch.sigmoid), (Tanh, torch.tanh), (ReLU, torch.relu),
                                    (Identity, lambda z: z * 1)])
def test_activations_match_torch(cls, fn):
    rng = np.random.default_rng(1)
    Z, dA = rng.standard_normal((5, 7)) * 3, rng.standard_normal((5, 7))
    Z[0, :3] = (-800.0, 800.0, 0.0)  # no overflow warnings at the extremes
    act = cls()
    assert not callable(act)  # MyTorch activations have no __call__
    Zt = T_(Z).requires_grad_(True)
    A = fn(Zt)
    A.backward(T_(dA))
    with np.errstate(all="raise"):
        close(act.forward(Z), A)
        close(act.backward(dA), Zt.grad)  # (ReLU at exactly 0: 0 in both)


def test_tanh_backward_uses_the_given_state():
    rng = np.random.default_rng(2)
    Z1, Z2, dA = (rng.standard_normal((3, 4)) for _ in range(3))
    act = Tanh()
    s1 = act.forward(Z1).copy()
    act.forward(Z2)  # the last forward is Z2's; `state` selects Z1's
    close(act.backward(dA, state=s1), dA * (1 - np.tanh(Z1) ** 2))
    close(act.backward(dA), dA * (1 - np.tanh(Z2) ** 2))


def test_softmax_cross_entropy_matches_torch():
    rng = np.random.default_rng(3)
    B, C = 5, 4
    x = rng.standard_normal((B, C)) * 4
    x[0] += 700  # large logits: shifted, no overflow
    y = np.eye(C)[rng.integers(0, C, B)]
    crit = SoftmaxCrossEntropy()
    xt = T_(x).requires_grad_(True)
    want = torch.nn.functional.cross_entropy(xt, T_(y), reduction="none")
    w = rng.standard_normal(B)  # random upstream weights per sample
    (want * T_(w)).sum().backward()
    with np.errstate(all="raise"):
        loss = crit.forward(x, y)
    assert loss.shape == (B,)
    close(loss, want)
    g = crit.backward()  # softmax - y, NOT divided by B: the gradient of the summed loss
    assert g.shape == (B, C)
    close(g * w[:, None], xt.grad)
