"""Argument checks shared by the functional API. Every error names the argument and the shapes."""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(name: str, a, ndim: int | tuple | None = None, dtype=None, optional: bool = False):
    """Return ``a`` as a C-contiguous float32/float64 array (copying only if not contiguous).

    Raises TypeError for a non-floating dtype or a dtype different from ``dtype``, ValueError for
    the wrong number of dimensions. Never casts between float32 and float64.
    """
    if a is None:
        if optional:
            return None
        raise ValueError(f"{name} is required, got None")
    arr = np.asarray(a)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got dtype {arr.dtype}")
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise TypeError(
            f"{name} has dtype {arr.dtype} but the other inputs are {np.dtype(dtype)}; "
            "rnnfast never mixes dtypes: convert explicitly")
    if ndim is not None:
        nd = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in nd:
            want = " or ".join(str(d) for d in nd)
            raise ValueError(f"{name}: expected {want} dimensions, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_shape(name: str, arr, expected: tuple, why: str = "") -> None:
    if arr is not None and tuple(arr.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}{' ' + why if why else ''}, got {arr.shape}")


def as_lengths(lengths, B: int, T: int, name: str = "lengths"):
    """(B,) int64 array with 0 <= lengths <= T, or None."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"{name}: expected shape ({B},) (one length per batch item), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > T):
        raise ValueError(f"{name}: every length must be in [0, T={T}], got min {arr.min()}, max {arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_output(name: str, out, shape: tuple, dtype) -> np.ndarray:
    """An array the caller gave us to write into: right shape, dtype, C-contiguous, writeable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (got strides {out.strides})")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out
