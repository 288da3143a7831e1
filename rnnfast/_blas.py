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
    import scipy.linalg.cython_blas as cb

    return capsule_address(cb, "sgemm"), capsule_address(cb, "dgemm")


def set_threads_local_address(gemm_address: int) -> int:
    """Address of ``openblas_set_num_threads_local`` in the library that holds ``gemm_address``
    (SciPy's OpenBLAS), or 0 when that BLAS has none (the kernels then stay single-threaded in
    their recurrences)."""

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    try:
        libc = ctypes.CDLL(None)
        info = DlInfo()
        if not libc.dladdr(ctypes.c_void_p(gemm_address), ctypes.byref(info)) or not info.dli_fname:
            return 0
        lib = ctypes.CDLL(info.dli_fname.decode())
        return ctypes.cast(lib.openblas_set_num_threads_local, ctypes.c_void_p).value or 0
    except (OSError, AttributeError):
        return 0
