"""Vectorisable exp, expm1, sigmoid and tanh for the numba gate loops (the counterpart of csrc/vmath.h).

numba here has no SVML, so ``np.exp``/``np.tanh`` in a loop are scalar libm calls and keep LLVM from
vectorising the loop. These functions are plain arithmetic that LLVM vectorises (AVX-512/AVX2 when
inlined into a loop over contiguous arrays):

* exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (ln2 split in a high part with trailing
  zero bits, so n*ln2_hi is exact, and a low part); a Taylor polynomial for exp(r) (degree 13 for
  float64, 7 for float32, each in its own precision); 2^n built exactly from the exponent bits, as
  2^n1 * 2^n2 with n1 + n2 = n, so that gradual underflow (denormal results) and overflow to +inf
  come out of the multiplication without a branch. x is clamped first so the exponents stay in range.
* expm1(x) = 2^n expm1(r) + (2^n - 1), accurate near 0 (no cancellation when n = 0).
* sigmoid(x) = 1 / (1 + exp(-x)): exactly 1 for large x, 0 at -inf, 0.5 at 0, no overflow warning.
* tanh(x) = sign(x) * (-u / (u + 2)) with u = expm1(-2|x|) in (-1, 0]: exactly +-1 for large |x|
  and at +-inf, x itself for tiny (denormal) x.
NaN propagates. Accuracy (tested in python_tests/test_numba_vmath.py against libm over dense grids):
within a few ulp in float64 and float32.

Each function is one name for both dtypes (numba ``overload``): the float32 version computes in
float32 only, with float32 constants.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_jit = njit(cache=True, nogil=True, error_model="numpy")


@intrinsic
def _as_float(typingctx, i):
    """The bits of an int64 (int32) as a float64 (float32): an LLVM bitcast, which vectorises."""
    if i == types.int64:
        sig, llty = types.float64(types.int64), ir.DoubleType()
    elif i == types.int32:
        sig, llty = types.float32(types.int32), ir.FloatType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llty)

    return sig, codegen


# float64 constants. ln2 = LN2_HI + LN2_LO; LN2_HI has 32 significant bits, so n * LN2_HI is exact
# for |n| < 2^20 (fdlibm's split).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LO64 = -746.0  # exp(x) rounds to 0 below ~-745.13; clamping keeps n within [-1077, 1025]
_HI64 = 710.0  # exp(x) overflows above ~709.78
# float32: LN2_HI32 has 16 significant bits (n * LN2_HI32 exact for |n| < 2^8).
_LOG2E32 = np.float32(1.44269504)
_LN2_HI32 = np.float32(0.693145752)
_LN2_LO32 = np.float32(1.42860677e-06)
_LO32 = np.float32(-104.0)  # expf underflows to 0 below ~-103.97; n within [-151, 129]
_HI32 = np.float32(89.0)  # expf overflows above ~88.72
_HALF32 = np.float32(0.5)
_ONE32 = np.float32(1.0)
_TWO32 = np.float32(2.0)


@_jit
def _reduce64(x):
    """(r, n) with x = n ln2 + r, |r| <= ln2/2 (up to rounding); x clamped to [_LO64, _HI64]."""
    x = _HI64 if x > _HI64 else x  # comparisons are false for NaN: NaN passes through
    x = _LO64 if x < _LO64 else x
    nf = np.floor(x * _LOG2E + 0.5)
    r = (x - nf * _LN2_HI) - nf * _LN2_LO
    return r, nf


@_jit
def _expm1_poly64(r):
    """expm1(r) for |r| <= 0.35: Taylor to degree 13 (truncation < 1e-18 relative)."""
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    return r + r * (r * p)


@_jit
def _pow2_64(nf):
    """(2^n1, 2^n2), n1 + n2 = n = int(nf), both normal for n in [-1077, 1025]."""
    n = np.int64(nf)
    n1 = n >> 1
    n2 = n - n1
    return _as_float((n1 + 1023) << 52), _as_float((n2 + 1023) << 52)


@_jit
def _reduce32(x):
    x = _HI32 if x > _HI32 else x
    x = _LO32 if x < _LO32 else x
    nf = np.floor(x * _LOG2E32 + _HALF32)
    r = (x - nf * _LN2_HI32) - nf * _LN2_LO32
    return r, nf


@_jit
def _expm1_poly32(r):
    """expm1(r) for |r| <= 0.35 in float32: Taylor to degree 7 (truncation < 1e-8 relative)."""
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + _HALF32
    return r + r * (r * p)


@_jit
def _pow2_32(nf):
    n = np.int64(nf)  # numba computes in int64 anyway; the exponent fields are cut to int32
    n1 = n >> 1
    n2 = n - n1
    return _as_float(np.int32((n1 + 127) << 23)), _as_float(np.int32((n2 + 127) << 23))


@_jit
def _exp64(x):
    r, nf = _reduce64(x)
    s1, s2 = _pow2_64(nf)
    return ((_expm1_poly64(r) + 1.0) * s1) * s2


@_jit
def _expm1_64(x):
    r, nf = _reduce64(x)
    s1, s2 = _pow2_64(nf)
    s = s1 * s2  # 2^n, or 0 below -1074 (then the result is -1); no overflow for the x that need it
    p = _expm1_poly64(r)
    return (s * p + (s - 1.0)) if x < 700.0 else ((p + 1.0) * s1) * s2


@_jit
def _exp32(x):
    r, nf = _reduce32(x)
    s1, s2 = _pow2_32(nf)
    return ((_expm1_poly32(r) + _ONE32) * s1) * s2


@_jit
def _expm1_32(x):
    r, nf = _reduce32(x)
    s1, s2 = _pow2_32(nf)
    s = s1 * s2
    p = _expm1_poly32(r)
    return (s * p + (s - _ONE32)) if x < np.float32(80.0) else ((p + _ONE32) * s1) * s2


def vexp(x):
    """exp(x), vectorisable (float32 or float64)."""
    return np.exp(x)


def vexpm1(x):
    """expm1(x), vectorisable (float32 or float64)."""
    return np.expm1(x)


def vsigmoid(x):
    """1 / (1 + exp(-x)), vectorisable (float32 or float64)."""
    return 1 / (1 + np.exp(-x))


def vtanh(x):
    """tanh(x), vectorisable (float32 or float64)."""
    return np.tanh(x)


def _is(x, bits):
    return isinstance(x, types.Float) and x.bitwidth == bits


@overload(vexp, jit_options={"error_model": "numpy"})
def _ov_vexp(x):
    if _is(x, 64):
        return lambda x: _exp64(x)
    if _is(x, 32):
        return lambda x: _exp32(x)


@overload(vexpm1, jit_options={"error_model": "numpy"})
def _ov_vexpm1(x):
    if _is(x, 64):
        return lambda x: _expm1_64(x)
    if _is(x, 32):
        return lambda x: _expm1_32(x)


@overload(vsigmoid, jit_options={"error_model": "numpy"})
def _ov_vsigmoid(x):
    if _is(x, 64):
        return lambda x: 1.0 / (1.0 + _exp64(-x))
    if _is(x, 32):
        return lambda x: _ONE32 / (_ONE32 + _exp32(-x))


@overload(vtanh, jit_options={"error_model": "numpy"})
def _ov_vtanh(x):
    if _is(x, 64):
        def impl(x):
            u = _expm1_64(-2.0 * abs(x))  # in (-1, 0]
            return math.copysign(-u / (u + 2.0), x)  # (a select here kept LLVM from vectorising)
        return impl
    if _is(x, 32):
        def impl32(x):
            u = _expm1_32(-_TWO32 * abs(x))
            return math.copysign(-u / (u + _TWO32), x)
        return impl32


def like(v, x):
    """The number v in the float type of x, a float or a float array (a float32 constant for float32:
    a Python int or float literal would promote float32 arithmetic to float64)."""
    return np.asarray(x).dtype.type(v)


@overload(like, jit_options={"error_model": "numpy"})
def _ov_like(v, x):
    if isinstance(x, types.Array):
        x = x.dtype
    if _is(x, 64):
        return lambda v, x: np.float64(v)
    if _is(x, 32):
        return lambda v, x: np.float32(v)
