"""rnnfast.init: bounds, moments and orthogonality of the initialisers; fans and gains as torch;
reproducibility from a seeded Generator."""
import math

import numpy as np
import pytest

from rnnfast import init


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_fans_and_gains_match_torch():
    torch = pytest.importorskip("torch")
    for shape in [(30, 20), (8, 4, 3), (5, 6, 2, 2)]:
        t = torch.empty(shape)
        assert init.fan_in_and_fan_out(np.empty(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(t)
    for nl, p in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                  ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p), rel=1e-15)
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2"):
        init.fan_in_and_fan_out(np.empty(5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_families_bounds_and_variance(dtype):
    shape = (400, 300)  # fan_in 300, fan_out 400
    cases = [
        (lambda a, r: init.xavier_uniform_(a, gain=2.0, rng=r), 2.0 * math.sqrt(6.0 / 700)),
        (lambda a, r: init.kaiming_uniform_(a, nonlinearity="relu", rng=r), math.sqrt(2.0) * math.sqrt(3.0 / 300)),
        (lambda a, r: init.kaiming_uniform_(a, mode="fan_out", nonlinearity="relu", rng=r),
         math.sqrt(2.0) * math.sqrt(3.0 / 400)),
        (lambda a, r: init.kaiming_uniform_(a, a=math.sqrt(5), rng=r), 1.0 / math.sqrt(300)),
        (lambda a, r: init.uniform_(a, -0.3, 0.3, rng=r), 0.3),
    ]
    for fn, bound in cases:
        a = np.zeros(shape, dtype)
        out = fn(a, _rng())
        assert out is a and a.dtype == dtype
        assert np.abs(a).max() <= bound * (1 + 1e-6)
        assert np.abs(a).max() > 0.99 * bound          # the full range is used
        assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
        assert abs(a.mean()) < 0.01 * bound


def test_normal_families_std():
    shape = (400, 300)
    for fn, std in [
        (lambda a, r: init.xavier_normal_(a, rng=r), math.sqrt(2.0 / 700)),
        (lambda a, r: init.kaiming_normal_(a, nonlinearity="tanh", rng=r), (5 / 3) / math.sqrt(300)),
        (lambda a, r: init.normal_(a, 0.5, 2.0, rng=r), 2.0),
    ]:
        a = fn(np.zeros(shape), _rng(1))
        assert a.std() == pytest.approx(std, rel=0.01)
    a = init.normal_(np.zeros(shape), 0.5, 2.0, rng=_rng(1))
    assert a.mean() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 8), (4, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal(shape, dtype):
    a = init.orthogonal_(np.zeros(shape, dtype), gain=1.5, rng=_rng(2))
    m = a.reshape(shape[0], -1).astype(np.float64)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=tol)


def test_orthogonal_is_haar_not_biased():
    # sign correction: the diagonal of a Haar-distributed orthogonal matrix has mean ~0
    diag = [np.diag(init.orthogonal_(np.zeros((4, 4)), rng=_rng(s))).mean() for s in range(300)]
    assert abs(np.mean(diag)) < 0.05


def test_constants():
    a = np.empty((3, 4), np.float32)
    assert not init.zeros_(a).any()
    assert (init.ones_(a) == 1).all()
    assert (init.constant_(a, 2.5) == 2.5).all()
    np.testing.assert_array_equal(init.eye_(a), np.eye(3, 4))


def test_reproducible_and_parameter_objects():
    class P:
        def __init__(self, a):
            self.data = a

    a = init.kaiming_uniform_(np.zeros((5, 7)), rng=_rng(7))
    b = init.kaiming_uniform_(P(np.zeros((5, 7))), rng=_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.kaiming_uniform_(np.zeros((5, 7)), rng=_rng(8)))


def test_layer_defaults():
    w, b = np.zeros((200, 50)), np.zeros(200)
    init.linear_default_(w, b, rng=_rng(3))
    k = 1 / math.sqrt(50)
    for x in (w, b):
        assert np.abs(x).max() <= k and np.abs(x).max() > 0.95 * k
    e = np.zeros((1000, 16))
    init.embedding_default_(e, padding_idx=3, rng=_rng(3))
    assert not e[3].any() and e.std() == pytest.approx(1.0, rel=0.02)
    ps = [np.zeros((30, 8)), np.zeros((30, 10)), np.zeros(30), np.zeros(30)]
    init.rnn_default_(ps, 10, rng=_rng(3))
    for x in ps:
        assert np.abs(x).max() <= 1 / math.sqrt(10) and np.abs(x).max() > 0.8 / math.sqrt(10)


def test_errors():
    with pytest.raises(TypeError, match="floating"):
        init.uniform_(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="Generator"):
        init.uniform_(np.zeros(3), rng=np.random.RandomState(0))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.normal_(ro)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(np.zeros((3, 3)), mode="fan_avg")
    with pytest.raises(TypeError, match="NumPy array"):
        init.zeros_([1.0, 2.0])
