"""Arguments at the edges, each found by the fuzzer: every backend gives the same clear answer (a value
or an exception naming the user's argument)."""
import numpy as np
import pytest

import rnnfast
from rnnfast import ctc, ctc_prob
from rnnfast.mytorch.gru_cell import GRUCell
from rnnfast.mytorch.rnn_cell import RNNCell
from test_hardening_kernels import _misaligned


def misaligned(a):
    """A C-contiguous copy of a at an odd byte offset of a buffer."""
    return _misaligned(np.asarray(a))


def test_log_softmax_edges():
    x = np.zeros((0, 3))
    assert ctc.log_softmax(x).shape == (0, 3)
    assert ctc.log_softmax(np.zeros((2, 0)), axis=0).shape == (2, 0)
    with pytest.raises(ValueError, match="axis 2 is out of range for x of shape"):
        ctc.log_softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="axis must be an int, got float"):
        ctc.log_softmax(np.zeros((2, 3)), axis=1.0)
    with pytest.raises(TypeError, match="x: expected float32 or float64"):
        ctc.log_softmax(np.zeros((2, 3), np.float16))


def test_ctc_loss_from_logits_names_logits():
    args = ([[1]], [2], [1])
    with pytest.raises(TypeError, match="logits: expected float32 or float64"):
        ctc.ctc_loss_from_logits(np.zeros((2, 1, 3), np.float16), *args)
    with pytest.raises(ValueError, match="logits must not be empty"):
        ctc.ctc_loss_from_logits(np.zeros((0, 1, 3)), *args)


@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_beam_search_refuses_nan_within_the_lengths(backend):
    lp = np.log(np.full((3, 2, 4), 0.25))
    lp[2, 1, 3] = np.nan
    with rnnfast.use_backend(backend):
        with pytest.raises(ValueError, match=r"log_probs\[2, 1, 3\] is nan \(within input_lengths\[1\] = 3\)"):
            ctc.beam_search(lp, beam_width=4)
        lp2 = lp.copy()
        lp2[2, 1, 3] = np.inf
        with pytest.raises(ValueError, match=r"log_probs\[2, 1, 3\] is inf .*finite or -inf"):
            ctc.beam_search(lp2, beam_width=4)
        # past the item's length the frame is never read
        ref = ctc.beam_search(lp[:2], beam_width=4)
        assert ctc.beam_search(lp, [3, 2], beam_width=4)[1] == ref[1]


def test_ctc_prob_scalar_checks():
    with pytest.raises(TypeError, match="blank must be an integer, got NoneType"):
        ctc_prob.extend_target_with_blank([1, 2], blank=None)
    with pytest.raises(ValueError, match="blank = -1 is outside"):
        ctc_prob.extend_target_with_blank([1, 2], blank=-1)
    with pytest.raises(ValueError, match="blank = 9223372036854775808 is outside"):
        ctc_prob.extend_target_with_blank([1, 2], blank=2 ** 63)
    y = np.full((3, 3), 1 / 3)
    ext, skip = ctc_prob.extend_target_with_blank([1])
    with pytest.raises(TypeError, match="compute must be one of"):
        ctc_prob.prob_alpha_beta(y, ext, skip, compute=None)
    a, b, g = ctc_prob.prob_alpha_beta(y, ext, skip, compute=["alpha"])
    assert a.shape == (3, 3) and b is None and g is None


@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_mytorch_cells_take_misaligned_arrays(backend):
    """A view at an odd byte offset computes as its aligned copy (MyTorch takes any NumPy array)."""
    rng = np.random.default_rng(0)
    with rnnfast.use_backend(backend):
        a, b = RNNCell(4, 3), RNNCell(4, 3)
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            setattr(b, name, misaligned(getattr(a, name)))
        x, h, d = rng.standard_normal((2, 4)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
        ha, hb = a(x, h), b(misaligned(x), misaligned(h))
        np.testing.assert_array_equal(ha, hb)
        for got, want in zip(b.backward(misaligned(d), misaligned(hb), misaligned(x), misaligned(h)),
                             a.backward(d, ha, x, h)):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(b.dW_ih, a.dW_ih)

        np.random.seed(1)
        g1 = GRUCell(4, 3)
        np.random.seed(1)
        g2 = GRUCell(4, 3)
        xv, hv, dv = x[0], h[0], d[0]
        np.testing.assert_array_equal(g1.forward(xv, hv), g2.forward(misaligned(xv), misaligned(hv)))
        for got, want in zip(g2.backward(misaligned(dv)), g1.backward(dv)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_mytorch_rnncell_checks_weights_and_empty_batches(backend):
    with rnnfast.use_backend(backend):
        cell = RNNCell(0, 2)
        cell.b_ih = np.zeros((2, 1))
        with pytest.raises(ValueError, match=r"RNNCell: b_ih should have shape \(2,\) .* got \(2, 1\)"):
            cell(np.zeros((4, 0)), np.zeros((4, 2)))
        cell = RNNCell(2, 3)  # an empty batch adds nothing to the gradients (no 0/0)
        dx, dh = cell.backward(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
        assert dx.shape == (0, 2) and dh.shape == (0, 3)
        assert not cell.dW_ih.any() and np.isfinite(cell.dW_hh).all()


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_ctc_nan_and_plus_inf_log_probs_give_nan_as_torch(backend, value, zero_infinity):
    """A NaN or +inf log-prob on the item's paths gives a NaN loss, as in torch: zero_infinity zeroes only an
    infinite (infeasible) loss, and +inf - +inf in the log-sum-exp is NaN."""
    torch = pytest.importorskip("torch")
    lp = np.log(np.full((3, 2, 5), 0.2))
    lp[1, 0, 1] = value
    want = torch.nn.functional.ctc_loss(torch.from_numpy(lp), torch.tensor([[1], [2]]), [3, 3], [1, 1],
                                        reduction="none", zero_infinity=zero_infinity).numpy()
    with rnnfast.use_backend(backend):
        got = ctc.ctc_loss(lp, [[1], [2]], [3, 3], [1, 1], reduction="none", zero_infinity=zero_infinity)
    assert np.isnan(want[0]) and np.isnan(got[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_ctc_loss_with_nan_and_inf_log_probs_follows_torch(backend):
    """Random small cases with NaN, +inf and -inf log-probs: the loss of every item is torch's, NaN for NaN."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for _ in range(300):
        T, B, C = rng.integers(1, 6), rng.integers(1, 4), rng.integers(2, 5)
        lp = np.log(rng.dirichlet(np.ones(C), size=(T, B)))
        m = rng.random(lp.shape) < 0.1
        lp[m] = rng.choice([np.nan, np.inf, -np.inf], m.sum())
        il, tl, tg = rng.integers(0, T + 1, B), rng.integers(0, 4, B), rng.integers(1, C, (B, 3))
        zi = bool(rng.integers(0, 2))
        want = torch.nn.functional.ctc_loss(torch.from_numpy(lp), torch.from_numpy(tg), torch.from_numpy(il),
                                            torch.from_numpy(tl), reduction="none", zero_infinity=zi).numpy()
        with rnnfast.use_backend(backend):
            got = ctc.ctc_loss(lp, tg, il, tl, reduction="none", zero_infinity=zi)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{lp} {il} {tl} {tg} {zi}")
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9)
