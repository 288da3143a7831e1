"""Argument checks shared by the functional API, one function per kind of argument, following
PyTorch where rnnfast mirrors it. Every error names the user's argument, what it got (shape, dtype or
value) and what was expected.

Arrays that pass are C-contiguous, aligned and of the canonical NumPy dtype object (an array made by
unpickling carries an equal but distinct dtype object, which the compiled bindings, comparing dtypes
by identity, would refuse): strided or misaligned arrays are copied, nothing else is.
"""
from __future__ import annotations

import operator

import numpy as np

F32, F64, I64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)
FLOAT_DTYPES = (F32, F64)


def _canonical(arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``arr`` (dtype equal to ``dt``) as a C-contiguous, aligned array whose dtype object is ``dt``."""
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.array(arr, dtype=dt, order="C", copy=True)  # a fresh array is aligned
    if arr.dtype is not dt:
        arr = arr.view(dt)
    return arr


def as_float_array(name: str, a, ndim: int | tuple | None = None, dtype=None, optional: bool = False):
    """Return ``a`` as a C-contiguous, aligned float32/float64 array (copying only if it is not).

    Raises TypeError for a non-floating dtype or a dtype different from ``dtype``, ValueError for
    the wrong number of dimensions. Never casts between float32 and float64.
    """
    if a is None:
        if optional:
            return None
        raise ValueError(f"{name} is required, got None")
    arr = a if type(a) is np.ndarray else np.asarray(a)
    dt = arr.dtype
    if dt == F32:
        dt = F32
    elif dt == F64:
        dt = F64
    else:
        raise TypeError(f"{name}: expected float32 or float64, got dtype {arr.dtype}")
    if dtype is not None and dt != dtype:
        raise TypeError(
            f"{name} has dtype {arr.dtype} but the other inputs are {np.dtype(dtype)}; "
            "rnnfast never mixes dtypes: convert explicitly")
    if ndim is not None:
        nd = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in nd:
            want = " or ".join(str(d) for d in nd)
            raise ValueError(f"{name}: expected {want} dimensions, got shape {arr.shape}")
    flags = arr.flags
    if flags.c_contiguous and flags.aligned and arr.dtype is dt:
        return arr
    return _canonical(arr, dt)


def check_shape(name: str, arr, expected: tuple, why: str = "", *why_args) -> None:
    """``arr`` (None passes) has shape ``expected``, else ValueError naming ``name``; the reason ``why`` is
    ``why.format(*why_args)`` when arguments are given (formatted only for the error)."""
    if arr is not None and tuple(arr.shape) != tuple(expected):
        if why_args:
            why = why.format(*why_args)
        raise ValueError(f"{name}: expected shape {tuple(expected)}{' ' + why if why else ''}, got {arr.shape}")


def check_sequence_length(name: str, x) -> None:
    """A sequence needs at least one step (PyTorch: "Expected sequence length to be larger than 0")."""
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected sequence length to be larger than 0, got shape {x.shape}")


def as_int_array(name: str, a, ndim: int | tuple | None = None, *, integral_floats: bool = False):
    """``a`` as a C-contiguous, aligned int64 array.

    Integers only, as PyTorch requires for lengths; an empty sequence (``[]``, float64 to NumPy) is
    accepted. ``integral_floats=True`` also accepts floats holding whole numbers (targets, which
    PyTorch casts; the MyTorch entry points, whose course code passes float lengths).
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        if (arr.size == 0 and arr.dtype.kind in "fiub"
                or integral_floats and arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            arr = arr.astype(I64)
        else:
            raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    if arr.dtype != I64:
        if arr.size and arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: values must fit in int64, got max {arr.max()}")
        arr = arr.astype(I64)
    return _canonical(arr, I64)


def as_batch_lengths(name: str, a, B: int, *, upper: int | None = None, upper_name: str = "T", what: str = "",
                     integral_floats: bool = False):
    """(B,) int64 lengths, one per batch item; a 0-d scalar is accepted for a batch of one (as PyTorch's
    ``ctc_loss`` does). With ``upper``, every length must be in [0, upper]; without, >= 0."""
    arr = as_int_array(name, a, None, integral_floats=integral_floats)
    if arr.ndim == 0 and B == 1:
        arr = arr.reshape(1)
    if arr.shape != (B,):
        raise ValueError(f"{name}: expected shape ({B},) {what or '(one length per batch item)'}, got {arr.shape}")
    if arr.size:
        # a ufunc reduction costs ~2 us however small the array; short batches go through Python ints
        small = arr.size <= 64
        vals = arr.tolist() if small else arr
        lo = min(vals) if small else arr.min()
        if upper is not None:
            hi = max(vals) if small else arr.max()
            if lo < 0 or hi > upper:
                raise ValueError(f"{name}: every length must be in [0, {upper_name}={upper}], got min {lo}, max {hi}")
        elif lo < 0:
            raise ValueError(f"{name}: lengths must be >= 0, got min {lo}")
    return arr


def as_lengths(lengths, B: int, T: int, name: str = "lengths"):
    """(B,) int64 array with 0 <= lengths <= T, or None."""
    if lengths is None:
        return None
    return as_batch_lengths(name, lengths, B, upper=T)


def as_int_scalar(name: str, v, lo: int | None = None, hi: int | None = None, what: str = "") -> int:
    """A Python int from an integer (``operator.index``: no floats) within [lo, hi]."""
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}") from None
    if (lo is not None and i < lo) or (hi is not None and i > hi):
        rng = f"[{'' if lo is None else lo}, {'' if hi is None else hi}]"
        raise ValueError(f"{name} = {i} is outside {rng}{' ' + what if what else ''}")
    return i


def check_output(name: str, out, shape: tuple, dtype) -> np.ndarray:
    """An array the caller gave us to write into: right shape, dtype, C-contiguous, aligned, writeable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (got strides {out.strides})")
    if not out.flags.aligned:
        raise ValueError(f"{name} must be aligned to its dtype (its data starts at a misaligned address)")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if out.dtype is not np.dtype(dtype):
        out = out.view(np.dtype(dtype))  # same memory, the canonical dtype object
    return out
