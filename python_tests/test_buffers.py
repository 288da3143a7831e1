"""rnnfast._buffers: outputs and caches served from reused buffers must never overwrite an array that
is still referenced anywhere, and must be reused once nothing refers to them."""
import gc

import numpy as np

import rnnfast
from rnnfast import _buffers
from rnnfast import functional as F


def test_pool_reuses_only_unreferenced_buffers():
    p = _buffers.BufferPool(64 << 20)
    a = p.empty((1024, 512), np.float32)  # 2 MB
    assert a.shape == (1024, 512) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    base = id(a.base)  # an id, not a reference: a reference would keep the buffer in use
    view = a[3:, ::2]
    del a
    b = p.empty((1024, 512), np.float32)
    assert id(b.base) != base, "a buffer with a live view was handed out again"
    del view
    gc.collect()
    c = p.empty((512, 1024), np.float32)  # same byte size, other shape
    assert id(c.base) == base, "a free buffer was not reused"
    assert c.shape == (512, 1024)
    assert p.stats()["buffers"] == 2


def test_pool_reuses_slightly_larger_buffers_best_fit():
    p = _buffers.BufferPool(64 << 20)
    big = p.empty((1 << 20,), np.float32)  # 4 MB
    mid = p.empty((900_000,), np.float32)  # 3.6 MB
    ids = {"big": id(big.base), "mid": id(mid.base)}
    del big, mid
    a = p.empty((850_000,), np.float32)  # 3.4 MB: fits both, best fit is the 3.6 MB buffer
    assert id(a.base) == ids["mid"] and a.shape == (850_000,) and a.flags.c_contiguous
    b = p.empty((700_000,), np.float32)  # 2.8 MB: the free 4 MB one is more than 1.25x: a new buffer
    assert id(b.base) not in ids.values()
    a[:] = 1.0
    b[:] = 2.0
    assert np.all(a == 1.0) and np.all(b == 2.0)
    assert p.stats()["buffers"] == 3


def test_pool_bounded_small_and_disabled():
    p = _buffers.BufferPool(5 << 20)
    small = p.empty((10, 10), np.float64)
    assert small.base is None  # below MIN_BYTES: plain np.empty
    a = p.empty((1 << 20,), np.float32)  # 4 MB, tracked
    b = p.empty((1 << 20,), np.float32)  # would exceed 5 MB while a is alive: not tracked
    assert p.stats()["bytes"] == 4 << 20
    del a, b
    d = p.empty((3 << 18,), np.float32)  # 3 MB: the free 4 MB buffer is dropped to make room
    assert p.stats()["bytes"] == 3 << 20 and p.stats()["buffers"] == 1
    del d
    off = _buffers.BufferPool(0)
    assert off.empty((1 << 20,), np.float32).base is None


def test_outputs_survive_later_calls_on_every_backend():
    rng = np.random.default_rng(0)
    T, B, I, H = 40, 16, 32, 128  # y is 1.3 MB float32 (pooled); the cache is larger
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    w_ih = rng.standard_normal((3 * H, I)).astype(np.float32) * 0.1
    w_hh = rng.standard_normal((3 * H, H)).astype(np.float32) * 0.1
    for backend in rnnfast.available_backends():
        with rnnfast.use_backend(backend):
            y1, _, c1 = F.gru_forward(x, None, w_ih, w_hh)
            keep = y1.copy()
            del c1
            y2, _, _ = F.gru_forward(x * 0.5, None, w_ih, w_hh)  # must not reuse y1's memory
            np.testing.assert_array_equal(y1, keep)
            assert not np.shares_memory(y1, y2)
            del y1, y2
            gc.collect()
            y3, _, _ = F.gru_forward(x, None, w_ih, w_hh)  # buffers free again: results still exact
            np.testing.assert_array_equal(y3, keep)
    F.clear_workspace()
    assert _buffers.pool.stats()["buffers"] == 0


def test_pool_size_from_environment():
    import os
    import subprocess
    import sys

    code = "import rnnfast._buffers as b; print(b.pool.max_bytes)"
    env = dict(os.environ, RNNFAST_BUFFER_POOL_MB="16")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == str(16 << 20), out.stderr
    env["RNNFAST_BUFFER_POOL_MB"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "RNNFAST_BUFFER_POOL_MB must be a number of MB, got 'lots'" in out.stderr
