"""rnnfast._numba._vmath (vectorisable exp, expm1, sigmoid, tanh of the numba gate loops) against
long-double references: max ulp over dense grids, extremes, +-inf / NaN, signed zero, denormal inputs
and results, float32 and float64; that float32 stays float32; and that the loops really vectorise
(packed SIMD multiplies in the generated code)."""
import re

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from rnnfast._numba._vmath import vexp, vexpm1, vsigmoid, vtanh  # noqa: E402

_opts = dict(error_model="numpy")


@numba.njit(**_opts)
def _aexp(x, o):
    for i in range(x.size):
        o[i] = vexp(x[i])


@numba.njit(**_opts)
def _aexpm1(x, o):
    for i in range(x.size):
        o[i] = vexpm1(x[i])


@numba.njit(**_opts)
def _asigmoid(x, o):
    for i in range(x.size):
        o[i] = vsigmoid(x[i])


@numba.njit(**_opts)
def _atanh(x, o):
    for i in range(x.size):
        o[i] = vtanh(x[i])


def _ref(name, x):
    xl = x.astype(np.longdouble)
    with np.errstate(over="ignore"):  # (long double overflows beyond ~11356; float casts below)
        return {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name](xl)


FUNCS = {"exp": _aexp, "expm1": _aexpm1, "sigmoid": _asigmoid, "tanh": _atanh}
DTYPES = [np.float32, np.float64]
# max ulp allowed (measured: exp <= 1, expm1 <= 1.9, sigmoid and tanh <= 2.5 in both dtypes)
MAX_ULP = {"exp": 2, "expm1": 3, "sigmoid": 3.5, "tanh": 3.5}


def _grid(dt):
    fi = np.finfo(dt)
    big = 800.0 if dt == np.float64 else 110.0
    pos = np.concatenate([np.geomspace(fi.smallest_subnormal, 1e-3, 3000), np.geomspace(1e-3, big, 200001)])
    return np.concatenate([pos, -pos, np.linspace(-30, 30, 200001), [0.0, -0.0, fi.max, -fi.max]]).astype(dt)


def _call(f, x):
    o = np.empty_like(x)
    f(x, o)
    return o


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", list(FUNCS))
def test_max_ulp_on_dense_grid(name, dt):
    x = _grid(dt)
    got = _call(FUNCS[name], x)
    ref = _ref(name, x)
    with np.errstate(over="ignore"):
        ref_r = ref.astype(dt)
    fi = np.finfo(dt)
    normal = np.isfinite(ref_r) & (np.abs(ref_r) >= fi.tiny)
    err = np.abs(got[normal].astype(np.longdouble) - ref[normal]) / np.spacing(np.abs(ref_r[normal])).astype(
        np.longdouble)
    assert err.max() <= MAX_ULP[name], (name, dt, float(err.max()), x[normal][np.argmax(err)])
    # results in the denormal range: within a few units of the smallest denormal (exp, expm1, tanh);
    # sigmoid = 1 / (1 + exp(-x)) (the C++ kernels' formula too) is 0 once exp(-x) overflows, below the
    # smallest normal number
    sub = np.isfinite(ref_r) & (np.abs(ref_r) < fi.tiny)
    tol = fi.tiny if name == "sigmoid" else 4 * fi.smallest_subnormal
    assert sub.sum() > 100
    assert np.all(np.abs(got[sub].astype(np.longdouble) - ref[sub]) <= tol)
    # where the true result overflows, +-inf exactly
    over = ~np.isfinite(ref_r)
    np.testing.assert_array_equal(got[over], ref_r[over])


@pytest.mark.parametrize("dt", DTYPES)
def test_special_values(dt):
    fi = np.finfo(dt)
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny,
                  1e3, -1e3, 30.0, -30.0, fi.max, -fi.max], dt)
    with np.errstate(all="ignore"):
        tanh, sig, ex, em1 = (_call(f, x) for f in (_atanh, _asigmoid, _aexp, _aexpm1))
    # tanh: exact saturation to +-1, sign of zero kept, tiny x -> x, NaN -> NaN
    np.testing.assert_array_equal(tanh, np.array([1, -1, np.nan, 0.0, -0.0, fi.smallest_subnormal,
                                                  -fi.smallest_subnormal, fi.tiny, 1, -1, 1, -1, 1, -1], dt))
    assert np.signbit(tanh[4]) and not np.signbit(tanh[3])
    # sigmoid: exactly 0 and 1 at -inf and +inf (and for large |x|), 0.5 at 0 and for denormal x
    np.testing.assert_array_equal(sig[[0, 1, 3, 4, 5, 6, 7, 8, 9, 12, 13]], np.array([1, 0, .5, .5, .5, .5, .5, 1, 0, 1, 0], dt))
    assert np.isnan(sig[2])
    # exp / expm1
    np.testing.assert_array_equal(ex[[0, 1, 3, 4, 5, 8, 9]], np.array([np.inf, 0, 1, 1, 1, np.inf, 0], dt))
    np.testing.assert_array_equal(em1[[0, 1, 3, 5, 8, 9]], np.array([np.inf, -1, 0, fi.smallest_subnormal, np.inf, -1], dt))
    assert np.isnan(ex[2]) and np.isnan(em1[2])
    # no warnings/NaN from overflowing intermediates anywhere on a wide grid
    g = np.geomspace(fi.smallest_subnormal, fi.max, 10001).astype(dt)
    g = np.concatenate([-g, g])
    for f in FUNCS.values():
        assert not np.isnan(_call(f, g)).any()


def test_result_dtype_stays():
    """float32 in, float32 math out (no silent float64 promotion)."""
    for f in FUNCS.values():
        x = np.linspace(-3, 3, 7, dtype=np.float32)
        assert _call(f, x).dtype == np.float32
        sig = [s for s in f.signatures if str(s[0].dtype) == "float32"][0]
        ir = f.inspect_llvm(sig)
        assert "fpext float" not in ir, "float32 loop promotes to double"


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "exp"])
def test_loops_vectorise(name, dt):
    f = FUNCS[name]
    x = np.linspace(-3, 3, 64).astype(dt)
    _call(f, x)
    sig = [s for s in f.signatures if str(s[0].dtype) == np.dtype(dt).name][0]
    asm = f.inspect_asm(sig)
    # packed (SIMD) multiplies of the loop's element type: SSE/AVX/AVX-512 alike
    suffix = "ps" if dt == np.float32 else "pd"
    assert re.search(rf"\bv?(mul|fmadd\w*){suffix}\b", asm), f"{name} {np.dtype(dt).name} loop did not vectorise"
