"""fork() after threaded kernel work: the child's first calls must work (an OpenMP pool left by a
parallel region in the parent used to make the child's first parallel region hang). Each child runs
under a timeout, so a hang fails the test instead of hanging the suite."""
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import rnnfast
from rnnfast import ctc
from rnnfast import functional as F

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
BACKENDS = [b for b in ("cpp", "numba", "numpy") if b in rnnfast.available_backends()]
TIMEOUT = 120  # s; the calls take well under a second each


def _ctc_case(T=1000, B=8, C=20, L=300, seed=0):
    """A CTC batch above the kernels' threading threshold (2^22 state-frames)."""
    rng = np.random.default_rng(seed)
    lp = rng.standard_normal((T, B, C))
    lp -= np.log(np.exp(lp).sum(2, keepdims=True))
    tg = rng.integers(1, C, (B, L))
    return lp, tg, np.full(B, T), np.full(B, L)


def _threaded_work(backend):
    """Kernel calls that run on several threads: a large CTC batch, a batched beam search, a GRU team."""
    with rnnfast.use_backend(backend):
        lp, tg, il, tl = _ctc_case()
        loss, grad = ctc.ctc_loss(lp, tg, il, tl, reduction="sum", return_grad=True)
        hyps = ctc.beam_search(lp[:50, :4], beam_width=4)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((5, 32, 16))
        w_ih, w_hh = rng.standard_normal((192, 16)) * 0.1, rng.standard_normal((192, 64)) * 0.1
        y, _, cache = F.gru_forward(x, None, w_ih, w_hh)
        g = F.gru_backward(np.ones_like(y), None, cache)
    return float(loss), float(np.abs(grad).sum()), [h[0][0] for h in hyps], float(np.abs(g.dx).sum())


@pytest.fixture
def two_threads():
    before = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    yield
    rnnfast.set_num_threads(before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_os_fork_after_threaded_work(backend, two_threads):
    expected = _threaded_work(backend)
    if backend == "cpp":  # the parent really ran a team
        assert rnnfast._core.team_runs() > 0
    pid = os.fork()
    if pid == 0:  # child: the same calls must work and agree; never return into pytest
        code = 1
        try:
            code = 0 if _threaded_work(backend) == expected else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung for {TIMEOUT} s after threaded work in the parent")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_multiprocessing_fork_after_threaded_work(backend, two_threads):
    expected = _threaded_work(backend)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_threaded_work, (backend,)).get(timeout=TIMEOUT)  # TimeoutError if it hangs
    assert got == expected
