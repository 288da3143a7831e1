"""Hand SciPy's BLAS (scipy.linalg.cython_blas, i.e. SciPy's bundled OpenBLAS) to the compiled kernels.

numba's ``np.dot`` calls these same routines, so both compiled backends share one BLAS and one
thread pool. Rationale in docs/design.md.
"""
from __future__ import annotations

import ctypes


def capsule_address(module, name: str) -> int:
    """Address of the C function behind ``module.__pyx_capi__[name]``."""
    cap = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype = ctypes.c_void_p
    get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return get_ptr(cap, get_name(cap))


def gemm_addresses() -> tuple:
    """(sgemm, dgemm, sgemv, dgemv) addresses in SciPy's BLAS."""
    import scipy.linalg.cython_blas as cb

    return tuple(capsule_address(cb, n) for n in ("sgemm", "dgemm", "sgemv", "dgemv"))
