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


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def blas_library_path(address: int):
    """Path of the shared library that holds ``address`` (dladdr), or None."""
    try:
        libc = ctypes.CDLL(None)
        dladdr = libc.dladdr
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    if not dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
        return None
    return info.dli_fname.decode()


def thread_control_addresses() -> tuple:
    """(set_num_threads, get_num_threads) addresses of the OpenBLAS that holds SciPy's ``sgemm``,
    or (0, 0) when that BLAS offers no such control (the C++ kernels then never start a team)."""
    path = blas_library_path(gemm_addresses()[0])
    if path is None:
        return 0, 0
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return 0, 0
    for prefix in ("scipy_openblas", "openblas"):
        try:
            s, g = getattr(lib, prefix + "_set_num_threads"), getattr(lib, prefix + "_get_num_threads")
        except AttributeError:
            continue
        return ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(g, ctypes.c_void_p).value
    return 0, 0
