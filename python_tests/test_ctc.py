"""CTC loss and gradient against torch.nn.functional.ctc_loss and autograd, brute force over all
alignments, warp-ctc's published case, a float64 gradcheck, decoding, bad input; every backend."""
import itertools
import math

import numpy as np
import pytest

import rnnfast
from rnnfast import ctc

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = {np.float64: 1e-10, np.float32: 2e-5}


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def rel(a, b):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    fin = np.isfinite(b)
    assert np.array_equal(fin, np.isfinite(a)), "inf/nan pattern differs"
    if not fin.any():
        return 0.0
    return np.abs(a[fin] - b[fin]).max() / max(np.abs(b[fin]).max(), 1e-300)


def case(T, B, C, S, dtype=np.float64, blank=0, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    lp = ctc.log_softmax((rng.standard_normal((T, B, C)) * scale).astype(dtype))
    labels = [c for c in range(C) if c != blank]
    tg = rng.choice(labels, size=(B, S))
    return lp, tg


def vs_torch(lp, tg, il, tl, blank=0, reduction="mean", zero_infinity=False, concat=False):
    if concat:
        tg_in = np.concatenate([tg[b, :tl[b]] for b in range(len(tl))])
    else:
        tg_in = tg
    loss, grad = ctc.ctc_loss(lp, tg_in, il, tl, blank=blank, reduction=reduction, zero_infinity=zero_infinity,
                              return_grad=True)
    lt = torch.from_numpy(lp.astype(np.float64)).requires_grad_(True)
    L = TF.ctc_loss(lt, torch.from_numpy(np.asarray(tg_in)), torch.tensor(il), torch.tensor(tl), blank=blank,
                    reduction=reduction, zero_infinity=zero_infinity)
    L.backward(torch.ones_like(L))
    assert loss.dtype == lp.dtype and grad.dtype == lp.dtype and grad.shape == lp.shape
    return (loss, L), (grad, lt.grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("concat", [False, True], ids=["padded", "concatenated"])
def test_matches_torch(backend, reduction, dtype, concat):
    T, B, C, S = 15, 5, 7, 5
    lp, tg = case(T, B, C, S, dtype, seed=1)
    il = [15, 12, 9, 15, 7]
    tl = [5, 3, 0, 4, 2]
    (l, L), (g, G) = vs_torch(lp, tg, il, tl, reduction=reduction, concat=concat)
    assert rel(l, L) < TOL[dtype] and rel(g, G) < TOL[dtype]


@pytest.mark.parametrize("blank", [3, 6])
def test_blank_not_zero(backend, blank):
    lp, tg = case(10, 3, 7, 4, blank=blank, seed=2)
    (l, L), (g, G) = vs_torch(lp, tg, [10, 8, 10], [4, 4, 1], blank=blank, reduction="none")
    assert rel(l, L) < 1e-10 and rel(g, G) < 1e-10


def test_minimal_feasible_length_and_forced_repeats(backend):
    """Repeated labels need a blank between them: 'aab' needs T >= 4; a target of length S with
    no repeats needs T >= S."""
    lp, _ = case(6, 4, 4, 3, seed=3)
    tg = np.array([[1, 1, 2], [1, 1, 1], [1, 2, 3], [2, 2, 2]])
    il = [4, 5, 3, 6]  # exactly the minimum for each
    tl = [3, 3, 3, 3]
    (l, L), (g, G) = vs_torch(lp, tg, il, tl, reduction="none")
    assert np.all(np.isfinite(l)) and rel(l, L) < 1e-10 and rel(g, G) < 1e-10


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_infeasible(backend, zero_infinity):
    lp, _ = case(6, 3, 4, 3, seed=4)
    tg = np.array([[1, 1, 2], [1, 2, 3], [1, 2, 0]])
    il = [3, 2, 6]  # item 0 needs 4 frames, item 1 needs 3: infeasible
    tl = [3, 3, 2]
    loss, grad = ctc.ctc_loss(lp, tg, il, tl, reduction="none", zero_infinity=zero_infinity, return_grad=True)
    L = TF.ctc_loss(torch.from_numpy(lp), torch.from_numpy(tg), torch.tensor(il), torch.tensor(tl), reduction="none",
                    zero_infinity=zero_infinity)
    assert rel(loss, L) < 1e-10
    if zero_infinity:
        assert loss[0] == 0 and loss[1] == 0 and not np.any(grad[:, :2])
    else:
        assert np.isinf(loss[0]) and np.isinf(loss[1])
    assert np.isfinite(loss[2]) and np.all(np.isfinite(grad[:, 2]))


def test_zero_input_length(backend):
    lp, tg = case(4, 2, 3, 2, seed=5)
    loss = ctc.ctc_loss(lp, tg, [0, 0], [0, 2], reduction="none")
    assert loss[0] == 0 and np.isinf(loss[1])


def _brute(lp, target, blank):
    """-log of the sum over every frame labelling that collapses to target."""
    T, C = lp.shape
    tot = -math.inf
    for path in itertools.product(range(C), repeat=T):
        col = [c for i, c in enumerate(path) if (i == 0 or c != path[i - 1]) and c != blank]
        if col == list(target):
            s = sum(lp[t, c] for t, c in enumerate(path))
            tot = np.logaddexp(tot, s)
    return -tot


@pytest.mark.parametrize("T,C,target,blank", [(1, 2, [1], 0), (3, 3, [1, 2], 0), (4, 3, [1, 1], 0),
                                              (5, 3, [2, 1, 2], 0), (6, 3, [1, 0], 2), (6, 2, [], 0),
                                              (5, 3, [0, 0], 1)])
def test_brute_force(backend, T, C, target, blank):
    lp = ctc.log_softmax(np.random.default_rng(T * C).standard_normal((T, C)) * 2)
    got = ctc.ctc_loss(lp[:, None], np.array([target or [1]])[:, :max(len(target), 1)], [T], [len(target)],
                       blank=blank, reduction="none")
    assert abs(got[0] - _brute(lp, target, blank)) < 1e-10 * max(1.0, abs(got[0]))


def test_warp_ctc_published_case(backend):
    """T=5, 6 symbols, blank 5: labels {0,1,2,1,0} and {0,1,1,0} give 3.34211 and 5.42262."""
    p0 = [[0.633766, 0.221185, 0.0917319, 0.0129757, 0.0142857, 0.0260553],
          [0.111121, 0.588392, 0.278779, 0.0055756, 0.00569609, 0.010436],
          [0.0357786, 0.633813, 0.321418, 0.00249248, 0.00272882, 0.0037688],
          [0.0663296, 0.643849, 0.280111, 0.00283995, 0.0035545, 0.00331533],
          [0.458235, 0.396634, 0.123377, 0.00648837, 0.00903441, 0.00623107]]
    p1 = [[0.30176, 0.28562, 0.0831517, 0.0862751, 0.0816851, 0.161508],
          [0.24082, 0.397533, 0.0557226, 0.0546814, 0.0557528, 0.19549],
          [0.230246, 0.450868, 0.0389607, 0.038309, 0.0391602, 0.202456],
          [0.280884, 0.429522, 0.0326593, 0.0339046, 0.0326856, 0.190345],
          [0.423286, 0.315517, 0.0338439, 0.0523291, 0.0339527, 0.152108]]
    for dt in (np.float64, np.float32):
        lp = np.log(np.stack([np.array(p0), np.array(p1)], 1)).astype(dt)
        loss = ctc.ctc_loss(lp, [0, 1, 2, 1, 0, 0, 1, 1, 0], [5, 5], [5, 4], blank=5, reduction="none")
        np.testing.assert_allclose(loss, [3.34211, 5.42262], atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_through_log_softmax(backend, dtype):
    """ctc_loss_from_logits' gradient is the gradient w.r.t. the logits (torch autograd)."""
    rng = np.random.default_rng(6)
    T, B, C = 12, 3, 5
    logits = (rng.standard_normal((T, B, C)) * 3).astype(dtype)
    tg = rng.integers(1, C, (B, 4))
    il, tl = [12, 10, 11], [4, 2, 3]
    loss, grad = ctc.ctc_loss_from_logits(logits, tg, il, tl, return_grad=True)
    xt = torch.from_numpy(logits.astype(np.float64)).requires_grad_(True)
    L = TF.ctc_loss(TF.log_softmax(xt, 2), torch.from_numpy(tg), torch.tensor(il), torch.tensor(tl))
    L.backward()
    assert rel(loss, L) < TOL[dtype] and rel(grad, xt.grad) < TOL[dtype]


def test_gradcheck_through_autograd_function(backend):
    """torch.autograd.gradcheck of a Function whose forward/backward are the rnnfast kernel."""
    name = backend

    class RnnfastCTC(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, tg, il, tl):
            with rnnfast.use_backend(name):
                loss, grad = ctc.ctc_loss_from_logits(logits.detach().numpy(), tg.numpy(), il.numpy(), tl.numpy(),
                                                      reduction="sum", return_grad=True)
            ctx.save_for_backward(torch.from_numpy(grad))
            return torch.tensor(float(loss), dtype=torch.float64)

        @staticmethod
        def backward(ctx, g):
            (grad,) = ctx.saved_tensors
            return g * grad, None, None, None

    rng = np.random.default_rng(7)
    logits = torch.from_numpy(rng.standard_normal((6, 2, 4))).requires_grad_(True)
    args = (logits, torch.tensor([[1, 2, 2], [3, 1, 0]]), torch.tensor([6, 5]), torch.tensor([3, 2]))
    assert torch.autograd.gradcheck(RnnfastCTC.apply, args, eps=1e-6, atol=1e-7)


def test_long_sequences_and_large_logits(backend):
    """T in the thousands, targets in the hundreds, logits of magnitude ~100: finite, equal to torch."""
    T, B, C, S = 1500, 2, 20, 300
    lp, tg = case(T, B, C, S, seed=8, scale=50.0)
    (l, L), (g, G) = vs_torch(lp, tg, [T, 1200], [S, 250], reduction="none")
    assert np.all(np.isfinite(l)) and np.all(np.isfinite(g))
    assert rel(l, L) < 1e-9 and rel(g, G) < 1e-8


def test_fallback_to_log_space_when_probabilities_underflow(backend):
    """Frames where every class of the item has log-probability -800 (exp underflows to 0 even in
    double): the scaled (probability-space) pass cannot represent these paths, so a finite loss equal
    to torch's proves the log-space pass redid those items; the other items stay on the scaled pass."""
    T, B, C, S = 40, 3, 6, 4
    lp, tg = case(T, B, C, S, seed=13)
    tg[:, :] = [1, 2, 3, 1]
    for t in (5, 17, 30):  # items 0 and 2: blank and labels 1..3 at -800, the mass on classes 4, 5
        for b in (0, 2):
            lp[t, b, :4] = -800.0
            lp[t, b, 4:] = np.log(0.5)
    (l, L), (g, G) = vs_torch(lp, tg, [T, T, 33], [4, 4, 3], reduction="none")
    assert np.all(np.isfinite(l)) and l[0] > 2400 and l[2] > 2400
    assert rel(l, L) < 1e-10 and rel(g, G) < 1e-10


def test_float32_emissions_below_float_range(backend):
    """float32 log-probabilities around -150 on every class of the item at some frames: exp() of
    them underflows in float32 (1e-65), not in the double arithmetic of the scaled pass."""
    T, B, C, S = 60, 2, 8, 6
    lp, tg = case(T, B, C, S, np.float32, seed=14)
    lp[10:14, :, :] = -150.0
    lp[10:14, :, 7] = 0.0  # a class no target uses holds the mass
    tg = np.where(tg == 7, 1, tg)
    (l, L), (g, G) = vs_torch(lp, tg, [T, 50], [6, 5], reduction="sum")
    assert np.isfinite(l) and float(l) > 1000
    assert rel(l, L) < TOL[np.float32] and rel(g, G) < TOL[np.float32]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_random_sequences_both_passes(backend, dtype):
    """Random (untrained-network) inputs: T = 2500 makes the per-frame overlap of the normalised
    alpha and beta rows fall below the scaled pass's threshold for the first item (log-space pass),
    T = 300 does not (scaled pass); both match torch, and the loss-only call gives the same loss."""
    rng = np.random.default_rng(15)
    T, B, C, S = 2500, 2, 30, 100
    lp = ctc.log_softmax(rng.standard_normal((T, B, C)).astype(dtype) * 2)
    tg = rng.integers(1, C, (B, S))
    il, tl = [T, 300], [S, 60]
    (l, L), (g, G) = vs_torch(lp, tg, il, tl, reduction="none")
    assert rel(l, L) < TOL[dtype] and rel(g, G) < TOL[dtype]  # float32 too: double arithmetic inside
    assert np.array_equal(ctc.ctc_loss(lp, tg, il, tl, reduction="none"), l)


def test_neg_inf_log_probs(backend):
    """-inf log-probabilities (a masked class no target uses): zero emissions; loss and the other
    classes' gradient as torch; the masked class gets gradient 0 (exp(-inf) - 0), where torch's
    backward gives NaN."""
    lp, tg = case(12, 2, 5, 3, seed=16)
    lp[:, :, 4] = -np.inf
    tg = np.where(tg == 4, 2, tg)
    (l, L), (g, G) = vs_torch(lp, tg, [12, 10], [3, 2], reduction="none")
    assert rel(l, L) < 1e-10 and rel(g[..., :4], G[..., :4]) < 1e-10
    assert not np.any(g[..., 4])


def test_threaded_batch_matches_one_thread(backend):
    """A batch above the threading threshold (2^22 state-frames): items run on 2 threads and give
    bit-identical results to one thread."""
    from rnnfast._threads import get_num_threads

    rng = np.random.default_rng(17)
    T, B, C, S = 700, 14, 20, 260
    lp = ctc.log_softmax(rng.standard_normal((T, B, C)).astype(np.float32))
    tg = rng.integers(1, C, (B, S))
    il = np.full(B, T)
    tl = rng.integers(200, S + 1, B)
    assert int(np.dot(il, 2 * tl + 1)) >= 1 << 22
    old = get_num_threads()
    try:
        rnnfast.set_num_threads(1)
        l1, g1 = ctc.ctc_loss(lp, tg, il, tl, reduction="none", return_grad=True)
        rnnfast.set_num_threads(2)
        l2, g2 = ctc.ctc_loss(lp, tg, il, tl, reduction="none", return_grad=True)
    finally:
        rnnfast.set_num_threads(old)
    assert np.array_equal(l1, l2) and np.array_equal(g1, g2)


def test_numba_vector_exp():
    """The numba kernels' exp (_vexp: polynomial and bit casts, so that LLVM vectorises it) is
    within 1 ulp of libm's over the whole range, including denormal results, 0, inf and NaN."""
    if "numba" not in rnnfast.available_backends():
        pytest.skip("numba backend unavailable")
    from numba import njit

    from rnnfast._numba.ctc import _vexp

    @njit
    def run(x, out):
        for i in range(x.size):
            out[i] = _vexp(x[i])

    x = np.concatenate([np.random.default_rng(18).uniform(-760, 720, 200000),
                        [-745.2, -745.0, -740.0, -708.5, -1e300, -np.inf, 0.0, 1e-300, 709.7, 710.0, np.inf, np.nan]])
    got = np.empty_like(x)
    run(x, got)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(np.isinf(got), np.isinf(ref))
    normal = (ref > 2.3e-308) & np.isfinite(ref)
    assert np.max(np.abs(got[normal] - ref[normal]) / ref[normal]) < 3e-16
    tiny = ref <= 2.3e-308  # denormal results and 0: within one denormal step
    assert np.all(np.abs(got[tiny] - ref[tiny]) <= 5e-324)


def test_backends_agree():
    backends = rnnfast.available_backends()
    if len(backends) < 2:
        pytest.skip(f"only {backends}")
    lp, tg = case(30, 6, 9, 8, seed=9)
    il, tl = [30, 25, 20, 30, 9, 16], [8, 6, 0, 3, 8, 5]
    outs = []
    for b in backends:
        with rnnfast.use_backend(b):
            outs.append(ctc.ctc_loss(lp, tg, il, tl, reduction="none", return_grad=True))
    for l, g in outs[1:]:
        assert rel(l, outs[0][0]) < 1e-12 and rel(g, outs[0][1]) < 1e-12


def test_unbatched(backend):
    lp, tg = case(8, 1, 5, 3, seed=10)
    l1 = ctc.ctc_loss(lp[:, 0], tg[0], 8, 3, reduction="none")
    l2 = ctc.ctc_loss(lp, tg, [8], [3], reduction="none")
    assert abs(float(l1) - float(l2[0])) < 1e-12


# ------------------------------------------------------------------------------------------ errors
BAD = [
    (dict(tg=[[1, 2, 7]]), ValueError, r"targets\[0, 2\] = 7: labels must be in \[0, C=5\)"),
    (dict(tg=[[1, 0, 2]]), ValueError, r"targets\[0, 1\] = 0: labels must be in \[0, C=5\) and differ from blank=0"),
    (dict(il=[9]), ValueError, r"input_lengths: every length must be in \[0, T=8\]"),
    (dict(il=[-1]), ValueError, r"input_lengths: every length must be in \[0, T=8\]"),
    (dict(tl=[4]), ValueError, r"target_lengths: max 4 exceeds the padded target length 3"),
    (dict(tl=[-1]), ValueError, "target_lengths: lengths must be >= 0"),
    (dict(il=[8, 8]), ValueError, r"input_lengths: expected shape \(1,\)"),
    (dict(tg=[[1.5, 2, 3]]), TypeError, "targets: expected integers"),
    (dict(lp=np.zeros((8, 5), np.int32)), TypeError, "log_probs: expected float32 or float64"),
    (dict(lp=np.zeros((8, 1, 5, 1))), ValueError, "log_probs: expected 2 or 3 dimensions"),
    (dict(blank=5), ValueError, r"blank = 5 is outside \[0, C=5\)"),
    (dict(reduction="avg"), ValueError, "reduction must be one of"),
    (dict(tg=[1, 2]), ValueError, r"targets: 1-D \(concatenated\) targets must have sum\(target_lengths\) = 3"),
]


@pytest.mark.parametrize("kw,exc,msg", BAD, ids=[f"{list(k)[0]}{i}" for i, (k, _, _) in enumerate(BAD)])
def test_bad_input(backend, kw, exc, msg):
    a = dict(lp=ctc.log_softmax(np.zeros((8, 1, 5))), tg=[[1, 2, 3]], il=[8], tl=[3], blank=0, reduction="mean")
    a.update(kw)
    with pytest.raises(exc, match=msg):
        ctc.ctc_loss(a["lp"], a["tg"], a["il"], a["tl"], blank=a["blank"], reduction=a["reduction"])


def test_cpp_binding_rejects_bad_arrays():
    if "cpp" not in rnnfast.available_backends():
        pytest.skip("cpp backend unavailable")
    from rnnfast import _core
    T, B, C, S = 4, 2, 3, 2
    lp = np.zeros((T, B, C))
    ok = dict(loss=np.empty(B), grad=np.empty((T, B, C)), log_probs=lp, targets=np.ones((B, S), np.int64),
              input_lengths=np.array([4, 4]), target_lengths=np.array([2, 1]), grad_scale=None, blank=0,
              zero_infinity=False)
    _core.ctc_loss(**ok)
    with pytest.raises(ValueError, match=r"target_lengths\[1\] = 3 is outside \[0, S=2\]"):
        _core.ctc_loss(**{**ok, "target_lengths": np.array([2, 3])})
    with pytest.raises(ValueError, match=r"targets\[0, 1\] = 3"):
        _core.ctc_loss(**{**ok, "targets": np.array([[1, 3], [1, 1]])})
    ro = np.empty((T, B, C))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grad is read-only"):
        _core.ctc_loss(**{**ok, "grad": ro})
    with pytest.raises(TypeError, match="targets: expected dtype int64"):
        _core.ctc_loss(**{**ok, "targets": np.ones((B, S), np.int32)})


# ------------------------------------------------------------------------------------------ decoding
def test_greedy_decode():
    C = 4
    frames = [[0, 1, 1, 0, 1, 2, 2, 3], [3, 3, 0, 3, 0, 0, 0, 0]]
    lp = np.full((8, 2, C), -10.0)
    for b, fr in enumerate(frames):
        for t, c in enumerate(fr):
            lp[t, b, c] = 0.0
    assert ctc.greedy_decode(lp, [8, 4]) == [[1, 1, 2, 3], [3, 3]]
    assert ctc.greedy_decode(lp, [8, 8], blank=3) == [[0, 1, 0, 1, 2], [0, 0]]  # 3,0,3,0: the blank separates


def _best_labelling(lp, blank):
    """Most probable labelling by exhaustive search over labellings (probability = sum over alignments)."""
    T, C = lp.shape
    labels = [c for c in range(C) if c != blank]
    best, best_score = None, -math.inf
    for n in range(T + 1):
        for lab in itertools.product(labels, repeat=n):
            if n and T < n + sum(lab[i] == lab[i - 1] for i in range(1, n)):
                continue
            s = -ctc.ctc_loss(lp[:, None], np.array([list(lab) or [labels[0]]]), [T], [n], blank=blank,
                              reduction="none")[0]
            if s > best_score:
                best, best_score = list(lab), s
    return best, best_score


@pytest.mark.parametrize("seed", range(4))
def test_beam_search_finds_most_probable_labelling(backend, seed):
    rng = np.random.default_rng(seed)
    T, C = 5, 3
    lp = ctc.log_softmax(rng.standard_normal((T, C)) * 1.5)
    best, score = _best_labelling(lp, 0)
    out = ctc.beam_search(lp[:, None], [T], beam_width=64, top_k=3)[0]
    assert out[0][0] == best
    assert abs(out[0][1] - score) < 1e-9
    assert out[0][1] >= out[1][1] >= out[2][1]


def test_beam_search_language_model_changes_the_choice():
    # two equally likely single-label outputs; an LM preferring label 2 decides
    lp = np.log(np.array([[0.1, 0.45, 0.45]] * 1))[:, None]
    no_lm = ctc.beam_search(lp, [1], beam_width=4, top_k=2)[0]
    assert {tuple(no_lm[0][0]), tuple(no_lm[1][0])} == {(1,), (2,)}
    table = {((), 1): math.log(0.1), ((), 2): math.log(0.9)}
    with_lm = ctc.beam_search(lp, [1], beam_width=4, lm=table, alpha=1.0)[0]
    assert with_lm[0][0] == [2]
    fn = ctc.beam_search(lp, [1], beam_width=4, lm=lambda prefix, c: 0.0 if c == 1 else -5.0, alpha=1.0)[0]
    assert fn[0][0] == [1]


def test_beam_search_backends_agree_and_match_the_python_reference():
    """Every backend's kernel gives the prefixes and scores of the readable Python reference."""
    from rnnfast._numpy.ctc import beam_search_item

    rng = np.random.default_rng(11)
    T, B, C = 30, 4, 6
    lp = ctc.log_softmax(rng.standard_normal((T, B, C)) * 2)
    il = [30, 17, 0, 25]
    ref = [beam_search_item(lp[:, b], il[b], 2, 8)[:3] for b in range(B)]
    for name in rnnfast.available_backends():
        with rnnfast.use_backend(name):
            got = ctc.beam_search(lp, il, beam_width=8, top_k=3, blank=2)
        for g, r in zip(got, ref):
            assert [x[0] for x in g] == [x[0] for x in r], name
            np.testing.assert_allclose([x[1] for x in g], [x[1] for x in r], rtol=1e-12)
    assert got[2] == [([], 0.0)]  # no frames: only the empty prefix, probability 1


def test_beam_search_float32_and_fewer_hypotheses_than_k(backend):
    lp = ctc.log_softmax(np.random.default_rng(12).standard_normal((1, 1, 3)).astype(np.float32))
    out = ctc.beam_search(lp, [1], beam_width=5, top_k=5)[0]
    assert len(out) == 3  # one frame: "", (1,), (2,)
    assert sorted(tuple(x[0]) for x in out) == [(), (1,), (2,)]


def test_cpp_beam_search_binding_checks():
    if "cpp" not in rnnfast.available_backends():
        pytest.skip("cpp backend unavailable")
    from rnnfast import _core
    lp = np.zeros((4, 2, 3))
    ok = dict(labels=np.empty((2, 1, 4), np.int64), lengths=np.empty((2, 1), np.int64), scores=np.empty((2, 1)),
              log_probs=lp, input_lengths=np.array([4, 4]), blank=0, beam_width=2, top_k=1)
    _core.ctc_beam_search(**ok)
    with pytest.raises(ValueError, match=r"labels: expected shape \(2, 1, 4\)"):
        _core.ctc_beam_search(**{**ok, "labels": np.empty((2, 1, 3), np.int64)})
    with pytest.raises(ValueError, match=r"input_lengths\[0\] = 5 is outside"):
        _core.ctc_beam_search(**{**ok, "input_lengths": np.array([5, 4])})
    with pytest.raises(ValueError, match="beam_width and top_k must be >= 1"):
        _core.ctc_beam_search(**{**ok, "beam_width": 0})
