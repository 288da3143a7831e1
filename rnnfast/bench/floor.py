"""The GEMM floor: the BLAS products of a kernel timed alone (:class:`GemmOp`, :class:`GemmFloor`),
and the large-SGEMM rate of the machine (:func:`sgemm_rate`)."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GemmOp:
    """``count`` row-major products C (M,N) = op(A) (M,K) op(B) (K,N) (csrc/blas.h's gemm()).

    ``vary`` names the operand that differs between the ``count`` calls (a per-time-step state),
    the other one is the same matrix every call (a weight).
    """
    count: int
    M: int
    N: int
    K: int
    trans_a: bool = False
    trans_b: bool = False
    vary: str = "a"

    def variants(self):
        """The 8 equivalent ways to get the product: C or C^T (= op(B)^T op(A)^T), each operand
        stored either way round."""
        for ta in (False, True):
            for tb in (False, True):
                yield GemmOp(self.count, self.M, self.N, self.K, ta, tb, self.vary)
                yield GemmOp(self.count, self.N, self.M, self.K, ta, tb, "b" if self.vary == "a" else "a")

    @property
    def flops(self) -> float:
        return 2.0 * self.count * self.M * self.N * self.K

    def __str__(self):
        a = f"({self.K},{self.M})^T" if self.trans_a else f"({self.M},{self.K})"
        b = f"({self.N},{self.K})^T" if self.trans_b else f"({self.K},{self.N})"
        if self.count > 1:  # mark the operand that differs per call
            a, b = (a + "[t]", b) if self.vary == "a" else (a, b + "[t]")
        return f"{self.count} x ({self.M},{self.N}) = {a} {b}"


try:  # numba-jitted loops of np.dot into a preallocated output: no per-call Python overhead.
    # numba's np.dot calls scipy.linalg.cython_blas, i.e. SciPy's OpenBLAS: ?gemm, or ?gemv when
    # one operand is a single row/column (B = 1: measured 3x faster than ?gemm for (3H,H)x(H,1)).
    import numba as _numba

    # X (count, rows, cols): the varying operand; op(X[i]) = X[i] or X[i].T. The fixed operand is
    # passed already as a C- or F-contiguous 2-D view (numba hands BLAS the transpose flag).
    @_numba.njit(cache=True, nogil=True)
    def _dot_va(X, W, C):
        for i in range(X.shape[0]):
            np.dot(X[i], W, C)

    @_numba.njit(cache=True, nogil=True)
    def _dot_va_t(X, W, C):
        for i in range(X.shape[0]):
            np.dot(X[i].T, W, C)

    @_numba.njit(cache=True, nogil=True)
    def _dot_vb(W, X, C):
        for i in range(X.shape[0]):
            np.dot(W, X[i], C)

    @_numba.njit(cache=True, nogil=True)
    def _dot_vb_t(W, X, C):
        for i in range(X.shape[0]):
            np.dot(W, X[i].T, C)
except ImportError:
    _numba = None


def floor_engine() -> str:
    """How GEMM floors are timed here: "numba" (no per-call overhead) or "scipy-f2py"."""
    return "scipy-f2py" if _numba is None else "numba"


def gemm_callable(op: GemmOp, dtype, rng, engine: str):
    """(fn, A, B, C): a no-argument callable doing ``op`` with SciPy's OpenBLAS on fresh random
    operands A, B (stored shapes, with a leading ``count`` axis on the varying one) into C."""
    sa = (op.K, op.M) if op.trans_a else (op.M, op.K)   # stored shapes
    sb = (op.N, op.K) if op.trans_b else (op.K, op.N)
    va, vb = op.vary == "a", op.vary == "b"
    A = rng.standard_normal(((op.count,) if va else ()) + sa).astype(dtype)
    B = rng.standard_normal(((op.count,) if vb else ()) + sb).astype(dtype)
    C = np.zeros((op.M, op.N), dtype)
    if engine == "numba":
        if va:
            fn, args = (_dot_va_t if op.trans_a else _dot_va), (A, B.T if op.trans_b else B, C)
        else:
            fn, args = (_dot_vb_t if op.trans_b else _dot_vb), (A.T if op.trans_a else A, B, C)
        return (lambda: fn(*args)), A, B, C
    # f2py: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T; passing the stored
    # arrays' transposes (F-contiguous views, no copy) with the same trans flags computes exactly that.
    from scipy.linalg.blas import get_blas_funcs

    gemm = get_blas_funcs("gemm", dtype=C.dtype)
    Ct, ta, tb = C.T, int(op.trans_b), int(op.trans_a)

    def run():
        for i in range(op.count):
            gemm(1.0, (B[i] if vb else B).T, (A[i] if va else A).T, 0.0, Ct, ta, tb, 1)
    return run, A, B, C


def best_variant(op: GemmOp, dtype, engine: str) -> tuple:
    """(fastest variant of op, its time in s): each variant warmed up, then the min of 2 calls.
    Calibrated once per (op, dtype, engine, BLAS thread count)."""
    import rnnfast

    return _calibrate(op, np.dtype(dtype).name, engine, rnnfast.get_num_threads())


@functools.cache
def _calibrate(op: GemmOp, dtype: str, engine: str, threads: int) -> tuple:
    rng = np.random.default_rng(2)
    best = None
    for v in op.variants():
        fn = gemm_callable(v, dtype, rng, engine)[0]
        fn()
        t = []
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        if best is None or min(t) < best[1]:
            best = (v, min(t))
        del fn
    return best


class GemmFloor:
    """Callable timing the BLAS products of a kernel alone, with SciPy's OpenBLAS (the BLAS the
    compiled kernels call), on preallocated random operands. The numba engine goes through numba's
    np.dot, which uses ?gemv instead of ?gemm when an operand is a single row or column.

    With ``best=True`` each product is done in the fastest of its 8 equivalent forms
    (:meth:`GemmOp.variants`, chosen by a short calibration), so that the floor is a lower bound on
    the BLAS time of ANY implementation of those products, whatever orientation a kernel picks;
    with ``best=False`` each product is done in the form stated. ``best=None`` (what suites pass)
    leaves the choice to the run (``--floor``): the runner calls :meth:`prepare` before timing;
    an unprepared floor uses the fastest forms. Returns None (nothing to compare).
    """

    def __init__(self, ops, dtype, rng=None, engine=None, best=None):
        self._stated = list(ops)
        self._dtype = np.dtype(dtype)
        self._rng = rng or np.random.default_rng(0)
        self.engine = engine or floor_engine()
        self.best = best
        self.ops = None
        self._calls = None
        if best is not None:
            self.prepare(best)

    def prepare(self, best: bool = True) -> GemmFloor:
        """Choose the forms (unless fixed at construction) and allocate the operands; idempotent."""
        if self._calls is None:
            if self.best is None:
                self.best = bool(best)
            self.ops = [(best_variant(op, self._dtype, self.engine)[0] if self.best else op) for op in self._stated]
            self._calls = [gemm_callable(op, self._dtype, self._rng, self.engine)[0] for op in self.ops]
        return self

    def describe(self) -> list:
        self.prepare()
        return [str(op) for op in self.ops]

    def __call__(self):
        if self._calls is None:
            self.prepare()
        for fn in self._calls:
            fn()


def sgemm_rate(n: int = 2048, calls: int = 5, dtype=np.float32) -> dict:
    """GFLOP/s of a large square product (n,n)x(n,n) with SciPy's BLAS (the floor's and the compiled
    kernels'), at the current thread count: the median of ``calls`` timed calls after one warm-up.
    A reference rate to compare the kernels' and the floor's GFLOP/s with."""
    import rnnfast

    rng = np.random.default_rng(3)
    fn = gemm_callable(GemmOp(1, n, n, n), dtype, rng, floor_engine())[0]
    fn()
    ts = []
    for _ in range(max(1, calls)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    med = float(np.median(ts))
    return {"n": n, "dtype": np.dtype(dtype).name, "threads": rnnfast.get_num_threads(), "calls": len(ts),
            "median_ms": med * 1e3, "gflops": 2.0 * n ** 3 / med / 1e9, "engine": floor_engine()}
