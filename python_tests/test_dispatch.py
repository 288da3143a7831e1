"""Runtime CPU dispatch of the C++ kernels (csrc/dispatch.h, docs/cpu-dispatch.md).

* the kernel tests (vs torch) at every instruction-set level this machine supports, each in a
  subprocess with RNNFAST_CPU_CAPABILITY set (the default level runs in the main suite);
* RNNFAST_CPU_CAPABILITY and _set_cpu_capability errors name the variable / argument;
* csrc/vmath.h (exp, expm1, sigmoid, tanh) at every level against long double: max ulp over dense
  grids, denormal and overflowing results, special values;
* the machine code: each level's kernels use that level's registers (zmm only in avx512, ymm from
  avx2 on) and vectorise the vector math; no code outside the levels' namespaces (bindings, shared
  library code that two levels instantiate) uses AVX, so a baseline CPU never meets an AVX instruction.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

core = pytest.importorskip("rnnfast._core", reason="the C++ extension is not built")

ROOT = Path(__file__).resolve().parent
LEVELS = core._cpu_capabilities()  # compiled and supported, lowest first
DEFAULT = core._cpu_capability()
NATIVE = core._build_info()["native"]


def _env(**extra):
    env = dict(os.environ)
    env.pop("RNNFAST_CPU_CAPABILITY", None)
    env.update(extra)
    # the subprocess imports the same rnnfast as this process
    import rnnfast
    src = str(Path(rnnfast.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _run(code, **extra):
    return subprocess.run([sys.executable, "-c", code], env=_env(**extra), capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def level_restore():
    yield
    core._set_cpu_capability(DEFAULT)


def test_default_is_best_supported_level():
    assert DEFAULT == LEVELS[-1]
    if NATIVE:
        assert LEVELS == ["native"]
        return
    assert LEVELS[0] == "baseline"
    best = core._cpu_best()
    compiled = [n for n, _ in core._cpu_capabilities_compiled()]
    if compiled == ["baseline", "avx2", "avx512"]:  # an x86-64 build
        assert DEFAULT == best
        flags = Path("/proc/cpuinfo").read_text() if os.path.exists("/proc/cpuinfo") else ""
        if flags:  # cpuid's answer agrees with the kernel's view of the CPU
            has512 = all(re.search(rf"\b{f}\b", flags) for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))
            has2 = all(re.search(rf"\b{f}\b", flags) for f in ("avx2", "fma"))
            assert best == ("avx512" if has512 else "avx2" if has2 else "baseline")
    else:  # non-x86: the baseline only
        assert compiled == ["baseline"] and DEFAULT == "baseline"


@pytest.mark.parametrize("level", LEVELS)
def test_env_var_selects_level(level):
    r = _run("import rnnfast._core as c; print(c._cpu_capability())",
             RNNFAST_CPU_CAPABILITY="baseline" if level == "native" else level)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == level


@pytest.mark.parametrize("value", ["avx1024", "AVX2", "sse2", " "])
def test_env_var_bad_value_is_an_error_naming_it(value):
    r = _run("import rnnfast._core", RNNFAST_CPU_CAPABILITY=value)
    assert r.returncode != 0
    assert "RNNFAST_CPU_CAPABILITY" in r.stderr and "baseline, avx2, avx512" in r.stderr, r.stderr


def test_env_var_level_above_the_cpu_or_build_is_an_error():
    above = [lv for lv in ("avx2", "avx512") if lv not in LEVELS]
    if not above:
        pytest.skip(f"this machine and build support every level ({LEVELS}); nothing above them to request")
    r = _run("import rnnfast._core", RNNFAST_CPU_CAPABILITY=above[-1])
    assert r.returncode != 0
    assert "RNNFAST_CPU_CAPABILITY" in r.stderr and "not available" in r.stderr, r.stderr


# A lesser CPU, on this one: RNNFAST_MAX_CPU_CAPABILITY caps what the CPU is taken to support. Reporting
# (show_config lists every compiled level with its flags) must not run any code of a level above it: on a
# CPU without AVX-512 that code is an illegal instruction. Beyond the cap, asking for a level's kernels
# raises inside the extension, so a report that touches them fails here on any machine.
LESSER_CPU_PROBE = """
import io, contextlib, json
import numpy as np
import rnnfast, rnnfast._core as c
from rnnfast import functional as F
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rnnfast.show_config()
x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
lstm = rnnfast.nn.LSTM(4, 6)
with rnnfast.use_backend("cpp"):
    y, _ = lstm(x)
try:
    c._set_cpu_capability("avx512")
    above = "switched"
except ValueError as e:
    above = str(e)
print(json.dumps(dict(best=c._cpu_best(), level=c._cpu_capability(), levels=c._cpu_capabilities(),
                      compiled=[n for n, _ in c._cpu_capabilities_compiled()], config=buf.getvalue(),
                      finite=bool(np.isfinite(y).all()), above=above)))
"""


@pytest.mark.parametrize("cap", ["baseline", "avx2"])
def test_a_lesser_cpu_never_runs_a_higher_levels_code(cap):
    if NATIVE:
        pytest.skip("a native build has one level")
    order = ["baseline", "avx2", "avx512"]
    r = _run(LESSER_CPU_PROBE, RNNFAST_MAX_CPU_CAPABILITY=cap)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    expect = order[min(order.index(cap), order.index(core._cpu_best()))]
    assert got["best"] == got["level"] == expect
    assert got["levels"] == order[: order.index(expect) + 1]
    assert got["compiled"] == [n for n, _ in core._cpu_capabilities_compiled()]  # every level still listed
    assert f"capability {expect}" in got["config"] and got["finite"]
    assert "not available" in got["above"], got["above"]
    capped = order.index(cap) < order.index(core._cpu_best())
    assert ("RNNFAST_MAX_CPU_CAPABILITY" in got["above"]) == capped, got["above"]


@pytest.mark.parametrize("value", ["avx1024", "AVX2", " "])
def test_max_cpu_capability_bad_value_is_an_error_naming_it(value):
    r = _run("import rnnfast._core", RNNFAST_MAX_CPU_CAPABILITY=value)
    assert r.returncode != 0
    assert "RNNFAST_MAX_CPU_CAPABILITY" in r.stderr and "baseline, avx2, avx512" in r.stderr, r.stderr


def test_bad_env_var_makes_the_cpp_backend_fail_loudly():
    r = _run("import rnnfast; rnnfast.set_backend('cpp')", RNNFAST_CPU_CAPABILITY="avx1024")
    assert r.returncode != 0 and "RNNFAST_CPU_CAPABILITY" in r.stderr, r.stderr


def test_private_switch(level_restore):
    for lv in LEVELS:
        core._set_cpu_capability("baseline" if lv == "native" else lv)
        assert core._cpu_capability() == lv
    with pytest.raises(ValueError, match="capability='avx1024' is not one of"):
        core._set_cpu_capability("avx1024")
    assert core._cpu_capability() == LEVELS[-1]  # unchanged by the failed switch


# ------------------------------------------------------------------------------------------ kernels
KERNEL_TESTS = ["test_gru_functional.py", "test_lstm_functional.py", "test_rnn_functional.py", "test_ctc.py",
                "test_ctc_prob.py"]


@pytest.mark.parametrize("level", [lv for lv in LEVELS if lv != DEFAULT])
def test_kernel_tests_at_level(level):
    """The cpp-backend kernel tests (against torch) with this level's kernels (~20 s per level)."""
    pytest.importorskip("torch")
    env = _env(RNNFAST_CPU_CAPABILITY=level)
    probe = subprocess.run([sys.executable, "-c", "import rnnfast._core as c; print(c._cpu_capability())"],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert probe.stdout.strip() == level, probe.stderr
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cpp and not numba",
                        *[str(ROOT / f) for f in KERNEL_TESTS]], env=env, capture_output=True, text=True,
                       timeout=900, cwd=str(ROOT), check=False)
    tail = "\n".join(r.stdout.splitlines()[-15:])
    assert r.returncode == 0, f"kernel tests failed at {level}:\n{tail}\n{r.stderr[-2000:]}"
    m = re.search(r"(\d+) passed", r.stdout)
    assert m and int(m.group(1)) >= 150, tail  # the selection really ran


# --------------------------------------------------------------------------------------- vector math
def _ref(name, x):
    xl = x.astype(np.longdouble)
    with np.errstate(over="ignore"):
        return {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name](xl)


FUNCS = ["exp", "expm1", "sigmoid", "tanh"]
DTYPES = [np.float32, np.float64]
# max ulp allowed (measured at every level: exp <= 1, expm1 <= 1.9, sigmoid and tanh <= 2.5)
MAX_ULP = {"exp": 2, "expm1": 3, "sigmoid": 3.5, "tanh": 3.5}


def _grid(dt):
    fi = np.finfo(dt)
    big = 800.0 if dt == np.float64 else 110.0
    pos = np.concatenate([np.geomspace(fi.smallest_subnormal, 1e-3, 3000), np.geomspace(1e-3, big, 100001)])
    # odd lengths: the vector loops' remainders run too
    return np.concatenate([pos, -pos, np.linspace(-30, 30, 100001), [0.0, -0.0, fi.max, -fi.max]]).astype(dt)


def _call(name, x):
    out = np.empty_like(x)
    core._vmath(name, out, x)
    return out


def _level(lv):
    return "baseline" if lv == "native" else lv


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", FUNCS)
def test_vmath_max_ulp(name, dt, level, level_restore):
    core._set_cpu_capability(_level(level))
    x = _grid(dt)
    got = _call(name, x)
    ref = _ref(name, x)
    with np.errstate(over="ignore"):
        ref_r = ref.astype(dt)
    fi = np.finfo(dt)
    normal = np.isfinite(ref_r) & (np.abs(ref_r) >= fi.tiny)
    err = np.abs(got[normal].astype(np.longdouble) - ref[normal]) / np.spacing(np.abs(ref_r[normal])).astype(
        np.longdouble)
    assert err.max() <= MAX_ULP[name], (name, dt, level, float(err.max()), x[normal][np.argmax(err)])
    # denormal results: within a few units of the smallest denormal (sigmoid is 0 once exp(-x) overflows)
    sub = np.isfinite(ref_r) & (np.abs(ref_r) < fi.tiny)
    tol = fi.tiny if name == "sigmoid" else 4 * fi.smallest_subnormal
    assert sub.sum() > 100
    assert np.all(np.abs(got[sub].astype(np.longdouble) - ref[sub]) <= tol)
    over = ~np.isfinite(ref_r)  # where the true result overflows: +-inf exactly
    np.testing.assert_array_equal(got[over], ref_r[over])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dt", DTYPES)
def test_vmath_special_values(dt, level, level_restore):
    core._set_cpu_capability(_level(level))
    fi = np.finfo(dt)
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny,
                  1e3, -1e3, 30.0, -30.0, fi.max, -fi.max], dt)
    tanh, sig, ex, em1 = (_call(f, x) for f in ("tanh", "sigmoid", "exp", "expm1"))
    np.testing.assert_array_equal(tanh, np.array([1, -1, np.nan, 0.0, -0.0, fi.smallest_subnormal,
                                                  -fi.smallest_subnormal, fi.tiny, 1, -1, 1, -1, 1, -1], dt))
    assert np.signbit(tanh[4]) and not np.signbit(tanh[3])
    np.testing.assert_array_equal(sig[[0, 1, 3, 4, 5, 6, 7, 8, 9, 12, 13]],
                                  np.array([1, 0, .5, .5, .5, .5, .5, 1, 0, 1, 0], dt))
    assert np.isnan(sig[2])
    np.testing.assert_array_equal(ex[[0, 1, 3, 4, 5, 8, 9]], np.array([np.inf, 0, 1, 1, 1, np.inf, 0], dt))
    np.testing.assert_array_equal(em1[[0, 1, 3, 5, 8, 9]],
                                  np.array([np.inf, -1, 0, fi.smallest_subnormal, np.inf, -1], dt))
    assert np.isnan(ex[2]) and np.isnan(em1[2])
    g = np.geomspace(fi.smallest_subnormal, fi.max, 10001).astype(dt)
    g = np.concatenate([-g, g])
    for f in FUNCS:
        assert not np.isnan(_call(f, g)).any()


def test_vmath_levels_agree_closely(level_restore):
    """Every level computes the same formulas: results differ by at most a rounding or two (FMA)."""
    x = np.linspace(-20, 20, 4001).astype(np.float32)
    res = {}
    for lv in LEVELS:
        core._set_cpu_capability(_level(lv))
        res[lv] = _call("tanh", x)
    for lv in LEVELS:
        np.testing.assert_allclose(res[lv], res[LEVELS[0]], rtol=3e-7, atol=0)


def test_vmath_bad_arguments():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="fn='log'"):
        core._vmath("log", np.empty_like(x), x)
    with pytest.raises(ValueError, match="1-D contiguous"):
        core._vmath("exp", np.empty(4, np.float32), x)
    with pytest.raises(TypeError, match="float32 or float64"):
        core._vmath("exp", np.empty(4, np.int64), np.zeros(4, np.int64))


# ------------------------------------------------------------------------------------- machine code
@pytest.fixture(scope="module")
def disassembly():
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", core.__file__], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
        elif cur is not None and "\t" in line:
            funcs[cur].append(line)
    if not any("vmath_apply" in name for name in funcs):  # a local symbol: absent when stripped
        pytest.skip("the extension's symbol table is stripped: functions cannot be told apart by level")
    return funcs


def _level_of(name):
    for lv in ("avx512", "avx2", "baseline"):
        if f"rnnfast_{lv}::" in name:
            return lv
    return "shared"


def test_machine_code_per_level(disassembly):
    if NATIVE:
        pytest.skip("a -march=native build has one level")
    regs = {}
    for name, lines in disassembly.items():
        lv = _level_of(name)
        text = "\n".join(lines)
        ymm, zmm = "%ymm" in text, "%zmm" in text
        if lv in ("shared", "baseline"):
            assert not (ymm or zmm), f"AVX instructions outside the avx2/avx512 levels: {name}"
        if lv == "avx2":
            assert not zmm and "%k1" not in text, f"AVX-512 instructions in the avx2 level: {name}"
        regs.setdefault(lv, set()).update(r for r, on in (("ymm", ymm), ("zmm", zmm)) if on)
    compiled = [n for n, _ in core._cpu_capabilities_compiled()]
    if "avx2" in compiled:
        assert "ymm" in regs["avx2"]
    if "avx512" in compiled:
        assert "zmm" in regs["avx512"]


@pytest.mark.parametrize("dt", ["float", "double"])
def test_vector_math_loops_vectorise_at_every_level(disassembly, dt):
    sfx = "ps" if dt == "float" else "pd"
    reg = {"baseline": "xmm", "avx2": "ymm", "avx512": "zmm", "native": None}
    for lv, _ in core._cpu_capabilities_compiled():
        ns = "baseline" if lv == "native" else lv
        body = [lines for name, lines in disassembly.items()
                if name.startswith(f"void rnnfast_{ns}::") and f"vmath_apply<{dt}>" in name]
        assert body, f"vmath_apply<{dt}> not found in level {lv}"
        text = "\n".join(body[0])
        packed = re.findall(rf"\bv?(?:mul|fmadd\w*){sfx}\s+\S*%([xyz]mm)", text)
        assert packed, f"{lv} {dt}: no packed multiplies (the loop did not vectorise)"
        if reg[lv]:
            assert reg[lv] in packed, f"{lv} {dt}: packed multiplies use {set(packed)}, expected {reg[lv]}"
        assert "call" not in text or not re.search(r"call\s+\S*<(exp|tanh|expm1|_ZGV)", text), \
            f"{lv} {dt}: vector math calls a library function"
