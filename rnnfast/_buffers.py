"""The one memory pool of the functional layer: large outputs, forward caches, input gradients and the
backward kernels' workspaces all come from buffers kept between calls, under one size limit.

Why: a fresh ``np.empty`` of tens of MB is a fresh ``mmap`` whose every page the kernel must fault in and
clear on first touch. For a GRU forward at (T,B,I,H) = (200,32,128,256), float32, 2 threads, that was
16% of the call (25.8 vs 21.7 ms with the same arrays reused); PyTorch pays it too, the GEMM floor
does not.

Safety: a buffer is handed out again only when nothing but the pool refers to it. Every array this
module returns is a view whose ``base`` is the pooled buffer, and NumPy points the ``base`` of every
further view, slice or reshape at that same buffer, so the buffer's reference count is above the
pool's own as long as any array made from it is alive anywhere (a user's list of outputs, a cache, a
torch tensor sharing the memory, ...). A caller's data is therefore never overwritten; the only visible
difference from ``np.empty`` is ``a.base is not None`` (``a.flags.owndata`` is False). A workspace is
an array the functional layer holds only for the duration of the kernel call: it is free again as
soon as the call returns, and concurrent callers never share one (each holds its own reference).

A request is served by the smallest free buffer of its size up to 1.25 times its size, so batches of
varying sequence length reuse each other's buffers. Bounded: at most ``RNNFAST_BUFFER_POOL_MB`` MB
(default 1024) of buffers are tracked, least recently used free ones dropped first; arrays below 1 MB (where malloc reuses memory without page faults) and
arrays that do not fit are plain ``np.empty``. ``RNNFAST_BUFFER_POOL_MB=0`` turns reuse off;
:func:`rnnfast.functional.clear_workspace` drops every free buffer and asks each loaded backend to
release the scratch it keeps between calls (``rnnfast._backend.release_scratch``).
"""
from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 20


def _refcount_of_item(lst, i):
    return sys.getrefcount(lst[i])


def _free_count() -> int:
    """Reference count that :func:`_refcount_of_item` reports for a buffer held only by the pool's list
    (measured, not assumed: CPython versions count stack references differently)."""
    probe = [np.empty(8, np.uint8)]
    return _refcount_of_item(probe, 0)


class BufferPool:
    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._bufs: list = []       # 1-D uint8 buffers, least recently handed out first
        self._bytes = 0
        self._free_rc = _free_count()

    def _is_free(self, i: int) -> bool:
        return _refcount_of_item(self._bufs, i) == self._free_rc

    def empty(self, shape, dtype) -> np.ndarray:
        """Like ``np.empty(shape, dtype)`` (C order), from a free pooled buffer of the same size if any."""
        if not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_BYTES or nbytes > self.max_bytes:
            return np.empty(shape, dtype)
        shape = tuple(int(s) for s in shape)
        with self._lock:
            bufs = self._bufs
            # best fit among free buffers of nbytes .. 1.25 * nbytes (batches of varying length reuse
            # the buffers of slightly longer ones instead of piling up one buffer per length)
            best, limit = -1, nbytes + nbytes // 4
            for i in range(len(bufs)):
                size = bufs[i].nbytes
                if nbytes <= size <= limit and (best < 0 or size < bufs[best].nbytes) and self._is_free(i):
                    best = i
                    if size == nbytes:
                        break
            if best >= 0:
                buf = bufs.pop(best)
                bufs.append(buf)
                return buf[:nbytes].view(dtype).reshape(shape)
            # none free: make room by dropping free buffers, least recently used first
            i = 0
            while self._bytes + nbytes > self.max_bytes and i < len(bufs):
                if self._is_free(i):
                    self._bytes -= bufs.pop(i).nbytes
                else:
                    i += 1
            buf = np.empty(nbytes, np.uint8)
            if self._bytes + nbytes <= self.max_bytes:
                bufs.append(buf)
                self._bytes += nbytes
            return buf.view(dtype).reshape(shape)

    def clear(self) -> None:
        """Stop tracking every buffer (buffers still in use stay valid: their users keep them alive)."""
        with self._lock:
            self._bufs = []
            self._bytes = 0

    def stats(self) -> dict:
        with self._lock:
            free = sum(1 for i in range(len(self._bufs)) if self._is_free(i))
            return {"buffers": len(self._bufs), "free": free, "bytes": self._bytes, "max_bytes": self.max_bytes}


def _limit_from_env() -> int:
    v = os.environ.get("RNNFAST_BUFFER_POOL_MB", "1024")
    try:
        mb = float(v)
    except ValueError:
        raise ValueError(f"RNNFAST_BUFFER_POOL_MB must be a number of MB, got {v!r}") from None
    return max(0, int(mb * (1 << 20)))


pool = BufferPool(_limit_from_env())


def empty(shape, dtype) -> np.ndarray:
    """``pool.empty``: an output, cache or workspace array (see the module docstring)."""
    return pool.empty(shape, dtype)
