"""The backward kernels' workspaces come from the one buffer pool (rnnfast._buffers): a reused
workspace (even one full of NaN from elsewhere) gives exactly the gradients of a fresh one, on every
backend, with and without lengths; workspaces are reused across calls and never shared by concurrent
callers; clear_workspace() frees the pool and every backend's kernel scratch."""
import gc
import threading

import numpy as np
import pytest

import rnnfast
from rnnfast import _backend, _buffers, ctc
from rnnfast import functional as F

BACKENDS = rnnfast.available_backends()


def _data(kind, T=5, B=3, I=4, H=6, seed=0):
    g = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    r = np.random.default_rng(seed)
    n = lambda *s: r.standard_normal(s)
    return {"x": n(T, B, I), "h0": n(B, H), "w_ih": n(g * H, I) * 0.3, "w_hh": n(g * H, H) * 0.3, "b": n(g * H) * 0.1,
                "dy": n(T, B, H), "dh": n(B, H)}


def _run(kind, d, lengths):
    if kind == "gru":
        _, _, c = F.gru_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.gru_backward(d["dy"], d["dh"], c)
    elif kind == "lstm":
        _, _, _, c = F.lstm_forward(d["x"], d["h0"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.lstm_backward(d["dy"], d["dh"], d["dh"], c)
    else:
        _, _, c = F.rnn_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.rnn_backward(d["dy"], d["dh"], c)
    return [a.copy() for a in (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)]


@pytest.fixture
def small_pool(monkeypatch):
    """The pool serving every array down to 1 KB, so the small shapes of these tests go through it."""
    pool = _buffers.BufferPool(64 << 20)
    monkeypatch.setattr(_buffers, "pool", pool)
    monkeypatch.setattr(_buffers, "MIN_BYTES", 1024)
    return pool


def _poison(pool):
    """Fill every free pooled buffer with NaN."""
    for i, buf in enumerate(pool._bufs):
        if pool._is_free(i):
            buf.view(np.uint8)[:] = 0xFF  # NaN in both float dtypes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_reused_workspace_gives_fresh_results(backend, kind, with_lengths, small_pool):
    lengths = np.array([5, 0, 3]) if with_lengths else None
    d = _data(kind, T=40, H=8)
    with rnnfast.use_backend(backend):
        fresh = _run(kind, d, lengths)
        gc.collect()
        assert small_pool.stats()["free"] > 0, "nothing was returned to the pool"
        _poison(small_pool)
        _run(kind, _data(kind, T=40, H=8, seed=1), lengths)  # another call in between, on other data
        gc.collect()
        _poison(small_pool)
        again = _run(kind, d, lengths)
    for a, b in zip(fresh, again):
        np.testing.assert_array_equal(a, b)


def test_backward_workspace_is_reused_not_reallocated(small_pool):
    d = _data("gru", T=40, H=8)
    _run("gru", d, None)
    gc.collect()
    n = small_pool.stats()["buffers"]
    for _ in range(5):
        _run("gru", d, None)
    gc.collect()
    assert small_pool.stats()["buffers"] == n, "repeated calls of one shape kept adding buffers"


def test_concurrent_callers_never_share_a_workspace(small_pool):
    """Threads running backward passes at once get the results each gets alone."""
    datas = [_data("lstm", T=30, H=8, seed=s) for s in range(4)]
    want = [_run("lstm", d, None) for d in datas]
    got = [None] * len(datas)

    def work(i):
        for _ in range(5):
            got[i] = _run("lstm", datas[i], None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(datas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, g in zip(want, got):
        for a, b in zip(w, g):
            np.testing.assert_array_equal(a, b)


def test_one_size_limit(small_pool):
    """Workspaces obey the pool's limit like outputs do: past it, free buffers are dropped."""
    small_pool.max_bytes = 200_000
    for T in (40, 80, 120, 160):
        _run("gru", _data("gru", T=T, H=8), None)
        gc.collect()
        assert small_pool.stats()["bytes"] <= 200_000


# ----------------------------------------------------------------------------------- clear_workspace
def test_clear_workspace_drops_every_free_buffer(small_pool):
    keep = _run("rnn", _data("rnn", T=40, H=8), None)
    gc.collect()
    assert small_pool.stats()["buffers"] > 0
    F.clear_workspace()
    assert small_pool.stats() == {"buffers": 0, "free": 0, "bytes": 0, "max_bytes": small_pool.max_bytes}
    assert np.isfinite(keep[0]).all()  # arrays in use stay valid


def test_clear_workspace_asks_every_loaded_backend_to_release_its_scratch(monkeypatch):
    called = []
    for name in BACKENDS:
        mod = _backend.kernels(name)
        owner = getattr(mod, "_core", mod) if not hasattr(mod, "release_scratch") else mod
        monkeypatch.setattr(owner, "release_scratch", lambda n=name: called.append(n), raising=False)
    F.clear_workspace()
    assert sorted(called) == sorted(BACKENDS)


@pytest.mark.skipif("numba" not in BACKENDS, reason="numba backend unavailable")
def test_clear_workspace_frees_the_numba_ctc_scratch():
    from rnnfast._numba import ctc as nctc

    r = np.random.default_rng(0)
    lp = ctc.log_softmax(r.standard_normal((400, 2, 6)))
    with rnnfast.use_backend("numba"):
        ctc.ctc_loss(lp, [[1, 2, 3], [4, 5, 1]], [400, 300], [3, 3], return_grad=True)
    if hasattr(nctc, "_pool"):
        assert nctc._pool, "the numba CTC kernel kept no scratch to free"
    F.clear_workspace()
    if hasattr(nctc, "_pool"):
        assert not nctc._pool
    # and the next call works on fresh scratch
    with rnnfast.use_backend("numba"):
        loss = ctc.ctc_loss(lp, [[1, 2, 3], [4, 5, 1]], [400, 300], [3, 3], reduction="none")
    assert np.isfinite(loss).all()


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif("cpp" not in BACKENDS, reason="cpp backend unavailable")
def test_clear_workspace_frees_the_cpp_ctc_scratch():
    """The C++ CTC keeps per-thread scratch of 16 T (S + 9) bytes per item between calls; after
    clear_workspace() it is returned to the system."""
    from rnnfast import _core

    if not hasattr(_core, "release_scratch"):
        pytest.skip("this build of rnnfast._core has no release_scratch(): its CTC scratch cannot be freed yet")
    r = np.random.default_rng(0)
    T, S = 20000, 200  # 16 * T * (2S + 10) bytes = 131 MB of scratch
    lp = ctc.log_softmax(r.standard_normal((T, 1, 5)).astype(np.float32))
    tg = np.tile([1, 2, 3, 4], S // 4)[None]
    with rnnfast.use_backend("cpp"):
        F.clear_workspace()
        before = _rss_mb()
        ctc.ctc_loss(lp, tg, [T], [S], reduction="none")
        during = _rss_mb()
        F.clear_workspace()
        after = _rss_mb()
    assert during - before > 60, f"the scratch was not visible in RSS ({before:.0f} -> {during:.0f} MB)"
    assert after - before < 0.3 * (during - before), f"RSS {before:.0f} -> {during:.0f} -> {after:.0f} MB"
