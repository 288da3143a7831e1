"""Probability-space CTC with MyTorch semantics (rnnfast.ctc_prob): against a direct loop transcription
of the spec's formulas, PyTorch autograd for the gradient, rnnfast's log-space CTC for long sequences,
every backend against the others, edge cases and bad input."""
import numpy as np
import pytest

import rnnfast
from rnnfast import ctc
from rnnfast.ctc_prob import extend_target_with_blank, prob_alpha_beta, prob_ctc_loss

TOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def close(a, b, tol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.array_equal(np.isfinite(a), np.isfinite(b)), "inf/nan pattern differs"
    fin = np.isfinite(b)
    if fin.any():
        np.testing.assert_allclose(a[fin], b[fin], rtol=tol, atol=tol * max(1.0, np.abs(b[fin]).max()))


# ---------------------------------------------------------------- the spec, transcribed loop by loop
def spec_ext(target, blank=0):
    ext = [blank]
    for c in target:
        ext += [int(c), blank]
    skip = [1 if (i >= 2 and ext[i] != blank and ext[i] != ext[i - 2]) else 0 for i in range(len(ext))]
    return ext, skip


def spec_alpha_beta_gamma(y, ext, skip):
    T, S = y.shape[0], len(ext)
    a, b = np.zeros((T, S)), np.zeros((T, S))
    a[0, 0] = y[0, ext[0]]
    if S > 1:
        a[0, 1] = y[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            v = a[t - 1, s]
            if s >= 1:
                v += a[t - 1, s - 1]
            if s >= 2 and skip[s]:
                v += a[t - 1, s - 2]
            a[t, s] = v * y[t, ext[s]]
    b[T - 1, S - 1] = 1
    if S > 1:
        b[T - 1, S - 2] = 1
    for t in range(T - 2, -1, -1):
        for s in range(S):
            v = b[t + 1, s] * y[t + 1, ext[s]]
            if s + 1 < S:
                v += b[t + 1, s + 1] * y[t + 1, ext[s + 1]]
            if s + 2 < S and skip[s + 2]:
                v += b[t + 1, s + 2] * y[t + 1, ext[s + 2]]
            b[t, s] = v
    g = np.zeros((T, S))
    for t in range(T):
        tot = sum(a[t, s] * b[t, s] for s in range(S))
        for s in range(S):
            g[t, s] = a[t, s] * b[t, s] / tot
    return a, b, g


def spec_loss(y, targets, il, tl, blank=0):
    """Per-item expected divergence and dY, from the spec's gamma."""
    T, B, C = y.shape
    loss, dY = np.zeros(B), np.zeros((T, B, C))
    for b in range(B):
        ext, skip = spec_ext(targets[b, :tl[b]], blank)
        yb = y[:il[b], b].astype(np.float64)
        g = spec_alpha_beta_gamma(yb, ext, skip)[2]
        for t in range(il[b]):
            for s, k in enumerate(ext):
                loss[b] -= g[t, s] * np.log(yb[t, k])
                dY[t, b, k] -= g[t, s] / yb[t, k]
    return loss, dY


def probs(rng, shape, dtype=np.float64):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)


# ---------------------------------------------------------------- alpha, beta, gamma
def test_extend_target_with_blank():
    ext, skip = extend_target_with_blank([1, 1, 2, 3, 3, 1])
    assert ext.tolist() == [0, 1, 0, 1, 0, 2, 0, 3, 0, 3, 0, 1, 0]
    assert skip.tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0]
    assert (ext.tolist(), skip.tolist()) == spec_ext([1, 1, 2, 3, 3, 1])
    ext, skip = extend_target_with_blank([2, 1], blank=3)
    assert ext.tolist() == [3, 2, 3, 1, 3] and skip.tolist() == [0, 0, 0, 1, 0]
    assert extend_target_with_blank([])[0].tolist() == [0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target,T", [([1, 1, 2, 3, 3, 1], 14), ([2], 1), ([], 4), ([1, 2, 1], 5), ([3, 3], 3)])
def test_alpha_beta_gamma_match_the_spec(backend, dtype, target, T):
    rng = np.random.default_rng(len(target) * 31 + T)
    y = probs(rng, (T, 4), dtype)
    ext, skip = spec_ext(target)
    want = spec_alpha_beta_gamma(y.astype(np.float64), ext, skip)
    got = prob_alpha_beta(y, ext, skip)
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.shape == (T, len(ext))
        close(g, w, TOL[dtype])
    alpha, beta, gamma = prob_alpha_beta(y, ext, np.array(skip, bool), compute="beta")
    assert alpha is None and gamma is None
    close(beta, want[1], TOL[dtype])


def test_alpha_beta_infeasible_frames_are_nan_as_the_spec(backend):
    y = probs(np.random.default_rng(0), (2, 3))
    ext, skip = spec_ext([1, 1])  # needs 3 frames
    alpha, beta, gamma = prob_alpha_beta(y, ext, skip)
    assert np.isnan(gamma).all() and not np.isnan(alpha).any()


# ---------------------------------------------------------------- loss and gradient
CASES = [  # (T, C, targets, input_lengths, target_lengths, blank)
    (10, 4, [[1, 2, 2], [3, 1, 0], [2, 0, 0]], [10, 8, 6], [3, 2, 1], 0),
    (6, 3, [[1, 1, 1], [2, 2, 0]], [6, 4], [3, 2], 0),  # repeated labels (need 5 and 3 frames)
    (7, 5, [[0, 1, 2, 0], [3, 0, 0, 0]], [7, 7], [4, 1], 4),  # blank not 0
    (5, 3, [[1, 2], [0, 0]], [5, 3], [2, 0], 0),  # an empty target
    (5, 3, [[1, 1, 2]], [4], [3], 0),  # exactly the minimal T (1 _ 1 2)
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_loss_and_grad_match_the_spec(backend, dtype, case):
    T, C, tg, il, tl, blank = CASES[case]
    tg, il, tl = np.array(tg), np.array(il), np.array(tl)
    y = probs(np.random.default_rng(case), (T, len(tg), C), dtype)
    loss, dY, gamma = prob_ctc_loss(y, tg, il, tl, blank, return_gamma=True)
    assert loss.dtype == dY.dtype == gamma.dtype == dtype
    want_loss, want_dY = spec_loss(y, tg, il, tl, blank)
    close(loss, want_loss, TOL[dtype])
    close(dY, want_dY, TOL[dtype])
    assert gamma.shape == (len(tg), T, 2 * tl.max() + 1)
    for b in range(len(tg)):
        ext, skip = spec_ext(tg[b, :tl[b]], blank)
        want_g = spec_alpha_beta_gamma(y[:il[b], b].astype(np.float64), ext, skip)[2]
        close(gamma[b, :il[b], :len(ext)], want_g, TOL[dtype])
        assert not gamma[b, il[b]:].any() and not gamma[b, :, len(ext):].any()
        assert not dY[il[b]:, b].any()


def _torch_nll(torch, y, ext, skip):
    """-log P(target | y) by the probability-space forward recursion, in torch (autograd)."""
    S = len(ext)
    e = torch.as_tensor(ext)
    sk = torch.as_tensor(skip, dtype=y.dtype)
    z1 = torch.zeros(1, dtype=y.dtype)
    a = torch.cat([y[0, e[:2]], torch.zeros(S - min(S, 2), dtype=y.dtype)])[:S]
    for t in range(1, y.shape[0]):
        a1 = torch.cat([z1, a[:-1]])
        a2 = torch.cat([z1, z1, a[:-2]])[:S] * sk
        a = (a + a1 + a2) * y[t, e]
    return -torch.log(a[-1] + (a[-2] if S > 1 else 0))


def test_grad_is_the_negative_log_likelihood_gradient_by_torch_autograd(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    T, B, C = 9, 3, 5
    tg, il, tl = np.array([[1, 2, 2, 4], [3, 3, 0, 0], [4, 1, 2, 3]]), np.array([9, 7, 8]), np.array([4, 2, 4])
    y = probs(rng, (T, B, C))
    w = rng.standard_normal(B)  # random upstream gradient of the per-item losses
    _, dY = prob_ctc_loss(y, tg, il, tl)
    yt = torch.tensor(y, requires_grad=True)
    total = 0
    for b in range(B):
        ext, skip = spec_ext(tg[b, :tl[b]])
        total = total + float(w[b]) * _torch_nll(torch, yt[:il[b], b], ext, skip)
    total.backward()
    close(dY * w[None, :, None], yt.grad.numpy(), 1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_sequences_do_not_underflow(backend, dtype):
    """T = 1500 with 120 labels: the spec's raw alpha underflows, the log-space kernel does not. The
    posteriors are checked against rnnfast's log-space PyTorch-semantics CTC, whose gradient is
    exp(log_probs) - sum_{s: ext_s = c} gamma[t, s]."""
    rng = np.random.default_rng(4)
    T, B, C, L = 1500, 2, 6, 120
    y = probs(rng, (T, B, C), np.float64)
    tg = rng.integers(1, C, size=(B, L))
    il, tl = np.array([T, 1200]), np.array([L, 90])
    assert prob_alpha_beta(y[:, 0], *extend_target_with_blank(tg[0]), compute="alpha")[0][-1].max() == 0
    loss, dY = prob_ctc_loss(y.astype(dtype), tg, il, tl)
    assert np.isfinite(loss).all() and np.isfinite(dY).all()
    _, g = ctc.ctc_loss(np.log(y), tg, il, tl, reduction="none", return_grad=True)
    post = np.where(np.arange(T)[:, None, None] < il[None, :, None], y - g, 0)  # sum of gamma per class
    want_dY = -post / y
    want_loss = -(post * np.log(y)).sum(axis=(0, 2))
    tol = 1e-9 if dtype == np.float64 else 2e-3
    close(loss, want_loss, tol)
    close(dY, want_dY, tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_confident_wrong_model_takes_the_exact_path(backend, dtype):
    """Blank at 1 - 2e-12 everywhere, 30 labels in 100 frames: P(target) ~ 1e-330, the normalised
    forward and backward rows barely overlap, so the compiled kernels leave their scaled recursions
    for log space; compared with rnnfast's log-space CTC posteriors (see the test above)."""
    T, B, C, L = 100, 2, 3, 30
    rng = np.random.default_rng(10)
    y = np.empty((T, B, C))
    y[:, 0] = [1 - 2e-12, 1e-12, 1e-12]
    y[:, 1] = rng.dirichlet(np.ones(C), size=T)  # an ordinary item alongside
    tg, il, tl = rng.integers(1, C, size=(B, L)), np.array([T, 90]), np.array([L, 25])
    loss, dY = prob_ctc_loss(y.astype(dtype), tg, il, tl)
    _, g = ctc.ctc_loss(np.log(y), tg, il, tl, reduction="none", return_grad=True)
    post = np.where(np.arange(T)[:, None, None] < il[None, :, None], y - g, 0)
    close(loss, -(post * np.log(y)).sum(axis=(0, 2)), 1e-9 if dtype == np.float64 else 1e-4)
    close(dY * y, -post, 1e-9 if dtype == np.float64 else 1e-4)  # dY * y: the posteriors, in [-1, 0]
    assert np.isfinite(dY).all() and (np.abs(dY[:, 0, 1:]).max() > 1e9)


def test_infeasible_items_and_empty_inputs(backend):
    y = probs(np.random.default_rng(5), (3, 3, 3))
    tg = np.array([[1, 1], [1, 2], [2, 0]])
    loss, dY, gamma = prob_ctc_loss(y, tg, [2, 1, 0], [2, 2, 0], return_gamma=True)
    assert loss[0] == np.inf and np.isnan(dY[:2, 0]).all() and np.isnan(gamma[0, :2, :5]).all()  # 1 _ 1: 3 frames
    assert not dY[2:, 0].any() and not gamma[0, 2:].any()
    assert loss[1] == np.inf and np.isnan(dY[:1, 1]).all() and not dY[1:, 1].any()
    assert loss[2] == 0 and not dY[:, 2].any()
    loss, dY = prob_ctc_loss(y, tg, [3, 3, 0], [0, 1, 1])
    assert np.isfinite(loss[:2]).all() and loss[2] == np.inf


def test_zero_probabilities_give_no_nan(backend):
    """A class with probability 0 everywhere: its states are unreachable (gamma 0) and contribute 0."""
    y = probs(np.random.default_rng(6), (8, 2, 4))
    y[:, :, 3] = 0
    y[2, 0, 1] = 0
    tg = np.array([[1, 2], [2, 2]])
    loss, dY = prob_ctc_loss(y, tg, [8, 8], [2, 2])
    assert np.isfinite(loss).all() and np.isfinite(dY).all()
    assert not dY[:, :, 3].any()
    want_loss, _ = spec_loss(y + 1e-300 * (y == 0), tg, np.array([8, 8]), np.array([2, 2]))
    close(loss, want_loss, 1e-9)


def test_backends_agree():
    rng = np.random.default_rng(7)
    T, B, C, L = 60, 5, 7, 12
    tg = rng.integers(1, C, size=(B, L))
    il = rng.integers(40, T + 1, size=B)
    tl = rng.integers(0, L + 1, size=B)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        y = probs(rng, (T, B, C), dtype)
        out = {}
        for be in rnnfast.available_backends():
            with rnnfast.use_backend(be):
                out[be] = prob_ctc_loss(y, tg, il, tl, return_gamma=True) + prob_alpha_beta(
                    y[:, 0], *extend_target_with_blank(tg[0, :tl[0]]))
        ref = out.pop("numpy")
        for be, got in out.items():
            for g, r in zip(got, ref):
                close(g, r, tol)


def test_threaded_batches_agree_with_the_reference():
    """A batch of >= 2^20 state-frames runs its items on the kernel threads (cpp OpenMP, numba
    Python threads); smaller ones on the calling thread. Both against the NumPy reference."""
    rng = np.random.default_rng(11)
    T, B, C, L = 1200, 8, 8, 90
    tg = rng.integers(1, C, size=(B, L))
    il = rng.integers(1000, T + 1, size=B)
    tl = rng.integers(60, L + 1, size=B)
    assert int(np.dot(il, 2 * tl + 1)) >= 1 << 20
    y = probs(rng, (T, B, C))
    with rnnfast.use_backend("numpy"):
        ref = prob_ctc_loss(y, tg, il, tl, return_gamma=True)
    prev = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        for be in rnnfast.available_backends():
            if be != "numpy":
                with rnnfast.use_backend(be):
                    for g, r in zip(prob_ctc_loss(y, tg, il, tl, return_gamma=True), ref):
                        close(g, r, 1e-11)
    finally:
        rnnfast.set_num_threads(prev)


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors(backend):
    y = probs(np.random.default_rng(8), (5, 2, 4))
    tg, il, tl = np.array([[1, 2], [3, 0]]), np.array([5, 5]), np.array([2, 1])
    bad = [
        (dict(y=y[0]), ValueError, "y: expected 3 dimensions"),
        (dict(y=y.astype(np.int64)), TypeError, "y: expected float32 or float64"),
        (dict(y=-y), ValueError, "finite and >= 0"),
        (dict(y=np.where(np.arange(4) == 2, np.nan, y)), ValueError, r"finite and >= 0, got y\[0, 0, 2\] = nan"),
        (dict(targets=np.array([[1, 4], [3, 0]])), ValueError, r"targets\[0, 1\] = 4"),
        (dict(targets=np.array([[1, 0], [3, 0]]), target_lengths=[2, 1]), ValueError, "differ from blank=0"),
        (dict(targets=tg[:1]), ValueError, "targets: expected 2 rows"),
        (dict(input_lengths=[5, 6]), ValueError, r"input_lengths: every length must be in \[0, T=5\]"),
        (dict(target_lengths=[3, 1]), ValueError, r"target_lengths: every length must be in \[0, 2\]"),
        (dict(target_lengths=[2]), ValueError, r"target_lengths: expected shape \(2,\)"),
        (dict(input_lengths=[2.5, 5]), TypeError, "input_lengths: expected integers"),
        (dict(blank=4), ValueError, r"blank = 4 is outside \[0, C=4\)"),
    ]
    for kw, exc, msg in bad:
        args = dict(y=y, targets=tg, input_lengths=il, target_lengths=tl)
        args.update(kw)
        with pytest.raises(exc, match=msg):
            prob_ctc_loss(**args)
    ext, skip = extend_target_with_blank([1, 2])
    with pytest.raises(ValueError, match=r"ext\[1\] = 9 is outside"):
        prob_alpha_beta(y[:, 0], [0, 9, 0, 2, 0], skip)
    with pytest.raises(ValueError, match=r"skip: expected shape \(5,\)"):
        prob_alpha_beta(y[:, 0], ext, skip[:3])
    with pytest.raises(ValueError, match="skip: entries must be 0 or 1"):
        prob_alpha_beta(y[:, 0], ext, skip * 2)
    with pytest.raises(ValueError, match=r"skip\[0\] and skip\[1\] must be 0"):
        prob_alpha_beta(y[:, 0], ext, [0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="compute: unknown outputs"):
        prob_alpha_beta(y[:, 0], ext, skip, compute=("delta",))
    with pytest.raises(ValueError, match="at least one frame"):
        prob_alpha_beta(y[:0, 0], ext, skip)


def test_cpp_bindings_check_every_array():
    if "cpp" not in rnnfast.available_backends():
        pytest.skip("cpp backend not built")
    from rnnfast import _core

    y = probs(np.random.default_rng(9), (4, 2, 3))
    tg, il, tl = np.array([[1, 2], [2, 0]]), np.array([4, 4]), np.array([2, 1])
    y1 = np.ascontiguousarray(y[:, 0])
    loss, grad, gamma, work = np.empty(2), np.empty((4, 2, 3)), np.empty((2, 4, 5)), np.empty((2, 2, 5))
    with pytest.raises(ValueError, match=r"gamma: expected shape \(2, 4, 5\)"):
        _core.ctc_prob_loss(loss, grad, np.empty((2, 3, 5)), work, y, tg, il, tl, 0)
    with pytest.raises(ValueError, match="target_lengths"):
        _core.ctc_prob_loss(loss, grad, np.empty((2, 4, 3)), np.empty((2, 2, 3)), y, tg, il, tl, 0)
    with pytest.raises(TypeError, match="loss: expected dtype float64"):
        _core.ctc_prob_loss(loss.astype(np.float32), grad, gamma, work, y, tg, il, tl, 0)
    ro = np.empty(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="loss is read-only"):
        _core.ctc_prob_loss(ro, grad, gamma, work, y, tg, il, tl, 0)
    with pytest.raises(ValueError, match=r"targets\[0, 1\] = 3"):
        _core.ctc_prob_loss(loss, grad, gamma, work, y, np.array([[1, 3], [2, 0]]), il, tl, 0)
    with pytest.raises(ValueError, match=r"ext\[0\] = 3 is outside"):
        _core.ctc_prob_alpha_beta(np.empty((4, 1)), None, None, y1, np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="gamma needs alpha and beta"):
        _core.ctc_prob_alpha_beta(np.empty((4, 1)), None, np.empty((4, 1)), y1, np.array([0]), np.array([0]))
