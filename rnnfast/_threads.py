"""Thread control: one number governs the BLAS pool (SciPy's OpenBLAS, shared by the cpp and
numba backends: numba's np.dot calls it) and the compiled kernels' OpenMP loops. The numba kernels
have no parallel loops of their own, so numba's thread pool is never started (starting it before
torch is imported slows torch down tenfold in the same process)."""
from __future__ import annotations

import os

_n = {"threads": None}


def _blas_controller():
    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's OpenBLAS so threadpoolctl sees it)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the BLAS and in rnnfast's own kernels (process-wide)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _blas_controller().limit(limits=n, user_api="blas")
    try:
        from . import _core

        _core.set_num_threads(n)
    except ImportError:
        pass
    _n["threads"] = n


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads`, else the BLAS pool's current size."""
    if _n["threads"] is not None:
        return _n["threads"]
    info = [p["num_threads"] for p in _blas_controller().info() if p["user_api"] == "blas"]
    return max(info) if info else (os.cpu_count() or 1)
