"""Resources: 10,000 forward+backward calls of every kernel keep the resident set flat after a warm-up
(no leak per call: scratch, thread teams, pools), and the CTC scratch kept between calls can be freed
(rnnfast._core.release_scratch, rnnfast._numba.ctc.release_scratch).

RSS is read from /proc/self/statm; the warm-up fills the allocator's and the pools' caches, then the
growth over the timed calls must stay below a bound far under what one leaked byte per call of any
array would give (a leak of the smallest array of a call, 8 bytes x 10,000, is 80 kB; a leaked
thread stack is 8 MB)."""
import gc
import os

import numpy as np
import pytest
from test_hardening_kernels import BACKENDS, kernels, make_params, run_recurrent

import rnnfast

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
CALLS = 10_000
WARMUP = 300
MAX_GROWTH = 1 << 20  # bytes


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _flat(call, calls=CALLS):
    for _ in range(WARMUP):
        call()
    gc.collect()
    before = _rss()
    for _ in range(calls):
        call()
    gc.collect()
    return _rss() - before


# The numpy reference is 20-100x slower per call: it gets fewer calls (its kernels hold no native state).
def _calls(backend):
    return CALLS if backend != "numpy" else CALLS // 10


@pytest.mark.parametrize("family", ["gru", "lstm", "lstm_proj", "rnn_tanh"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_kernels_rss_flat(backend, family):
    """Sequence and cell kernels, forward and backward, with biases and lengths."""
    d = make_params(family, 2, 3, 4, 5, seed=0)
    k = kernels(backend)
    growth = _flat(lambda: run_recurrent(k, d, lengths=[2, 1, 2]), _calls(backend))
    assert growth < MAX_GROWTH, f"RSS grew by {growth} bytes over {_calls(backend)} calls"


def _threads():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_cpp_teams_leave_no_threads_or_memory():
    """Thread teams start threads per call (csrc/team.h): none may outlive the call. Fewer calls than
    above: each starts a thread (slow when the machine is loaded)."""
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    from rnnfast import _core
    d = make_params("lstm", 2, 8, 4, 32, seed=0)
    before_threads, policy = rnnfast.get_num_threads(), _core.get_team_policy()
    rnnfast.set_num_threads(2)
    _core.set_team_policy(1, 1, 1, 1)
    try:
        threads, runs = _threads(), _core.team_runs()
        growth = _flat(lambda: run_recurrent(kernels("cpp"), d, lengths=[2, 1] * 4, cell=False), 500)
        assert _core.team_runs() > runs + 1000
        assert _threads() == threads
    finally:
        rnnfast.set_num_threads(before_threads)
        _core.set_team_policy(*policy)
    assert growth < MAX_GROWTH, f"RSS grew by {growth} bytes over 500 team calls"


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctc_kernels_rss_flat(backend):
    """CTC loss with gradient (both passes: a frame of probability ~0 forces the log-space pass on one
    item) and beam search."""
    rng = np.random.default_rng(0)
    T, B, C = 6, 2, 4
    lp = rng.standard_normal((T, B, C))
    lp -= np.log(np.exp(lp).sum(2, keepdims=True))
    lp[2, 1] = -800.0
    tg = np.array([[1, 2], [3, 3]], np.int64)
    il, tl = np.array([6, 5], np.int64), np.array([2, 2], np.int64)
    k = kernels(backend)

    def call():
        loss, grad = np.empty(B), np.empty((T, B, C))
        k.ctc_loss(loss, grad, lp, tg, il, tl, None, 0, False)
        k.ctc_beam_search(np.empty((B, 2, T), np.int64), np.empty((B, 2), np.int64), np.empty((B, 2)), lp, il, 0, 3,
                          2)

    growth = _flat(call, _calls(backend))
    assert growth < MAX_GROWTH, f"RSS grew by {growth} bytes over {_calls(backend)} calls"


def _raise_glibc_mmap_threshold():
    """glibc raises its mmap threshold to the size of a freed mapped block (at most 32 MiB): larger
    blocks are then taken from the heap, where freeing them in its middle returns nothing to the system
    (as after a long test session). A 31.9 MiB block makes the CTC scratch's 31.7 MiB rows heap memory."""
    import ctypes
    import ctypes.util
    import platform
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(int(31.9 * 2**20)))


def test_cpp_release_scratch_frees_ctc_memory():
    """One long CTC item leaves its scratch (16 * T * ldw bytes, ldw = (S + 9) & ~7, here 66 MB) in the pool;
    release_scratch() frees it (RSS drops), and later calls still work."""
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    from rnnfast import _core, ctc
    T, C, L = 20000, 5, 100
    rng = np.random.default_rng(1)
    lp = rng.standard_normal((T, 1, C))
    lp -= np.log(np.exp(lp).sum(2, keepdims=True))
    tg = rng.integers(1, C, (1, L))
    _core.release_scratch()
    _raise_glibc_mmap_threshold()
    with rnnfast.use_backend("cpp"):
        first = ctc.ctc_loss(lp, tg, [T], [L], reduction="sum")
        held = _rss()
        assert _core.release_scratch() >= 1
        assert held - _rss() > 40 << 20, "the CTC scratch should have been returned to the system"
        assert _core.release_scratch() == 0
        assert ctc.ctc_loss(lp, tg, [T], [L], reduction="sum") == first


def test_numba_release_scratch_frees_ctc_pool():
    if "numba" not in BACKENDS:
        pytest.skip("numba backend missing")
    from rnnfast import ctc
    from rnnfast._numba import ctc as nctc
    rng = np.random.default_rng(1)
    lp = rng.standard_normal((50, 2, 5))
    lp -= np.log(np.exp(lp).sum(2, keepdims=True))
    with rnnfast.use_backend("numba"):
        first = ctc.ctc_loss(lp, [[1, 2], [3, 4]], [50, 50], [2, 2])
        assert nctc.release_scratch() >= 1
        assert not nctc._pool
        assert ctc.ctc_loss(lp, [[1, 2], [3, 4]], [50, 50], [2, 2]) == first
