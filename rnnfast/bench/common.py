"""Benchmark machinery shared by every suite: timing, GEMM floors, machine info, JSON and Markdown.

A suite (``rnnfast/bench/suites/<name>.py``) subclasses :class:`Suite` and defines

* ``shapes`` / ``quick_shapes``: tuples named by ``params``, e.g. ``("T", "B", "I", "H")``;
* ``flops(shape)`` -> ``{pass: flop count}``;
* ``setup(shape, dtype, rng)`` -> the data (any object) shared by all contenders of one shape;
* ``baseline_impl(data)`` -> ``{pass: callable}`` for PyTorch (import torch inside: the CLI reports
  an ImportError as "torch unavailable" and goes on);
* ``backend_impl(data, backend)`` -> ``{pass: callable}`` for one rnnfast backend;
* ``floor_impl(data)`` -> ``{pass: callable}``, usually :class:`GemmFloor` objects, or None.

Passes are ``"fwd"`` and ``"fwdbwd"`` by default. Every callable takes no argument and returns a
dict of named results (NumPy arrays or torch tensors, e.g. ``{"y": y, "dx": dx}``) or None; results
with the same name are compared against the baseline's after the warm-up (a sanity check that the
contenders compute the same thing, recorded as ``max_rel_err``). :func:`run_suite` does the rest:
warm-up, interleaved timing, medians, derived figures, targets and printing; :func:`write_json` and
:func:`markdown` write the results.
"""
from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

RNNFAST_BACKENDS = ("cpp", "numba", "numpy")
FLOOR = "floor"  # name of the GEMM-floor contender in results


# ------------------------------------------------------------------------------------------ options
@dataclass
class Options:
    threads: int = 2
    dtype: str = "float32"
    repeats: Optional[int] = None     # number of interleaved rounds (default 5, quick 2)
    budget: float = 1.5               # target seconds of timed calls per contender and pass
    max_block: int = 2000             # cap on consecutive calls per contender and round
    warmup: int = 2                   # untimed calls; the last one estimates the time per call
    settle: float = 0.15              # seconds of sleep before each block (let thread pools idle)
    quick: bool = False
    backends: Optional[list] = None   # rnnfast backends; None = every available one
    shapes: Optional[list] = None     # restrict to these shapes (tuples)
    seed: int = 0
    floor_form: str = "best"          # "best": each product in its fastest form; "stated": as the suite states it

    def rounds(self) -> int:
        if self.repeats is not None:
            return max(1, int(self.repeats))
        return 2 if self.quick else 5


# ------------------------------------------------------------------------------------------ suite
@dataclass
class Target:
    """A performance goal checked on every matching case, e.g. Target("cpp", "speedup", ">=", 8, [shape]).

    metric: "speedup" (baseline time / impl time), "floor" (impl time / floor time) or
    "vs:<impl>" (impl time / other impl's time). shapes: the shapes it applies to (None = all);
    passes: the passes it applies to (None = all).
    """
    impl: str
    metric: str
    op: str
    value: float
    shapes: Optional[list] = None
    passes: Optional[tuple] = None

    def describe(self) -> str:
        what = {"speedup": f"speed-up vs baseline {self.op} {self.value:g}x",
                "floor": f"time / GEMM floor {self.op} {self.value:g}"}.get(self.metric)
        if what is None and self.metric.startswith("vs:"):
            what = f"time / {self.metric[3:]} time {self.op} {self.value:g}"
        return f"{self.impl}: {what or self.metric}"

    def evaluate(self, case: dict, params) -> Optional[dict]:
        shape = tuple(case["shape"][p] for p in params)
        if (self.shapes is not None and shape not in [tuple(s) for s in self.shapes]) or \
                (self.passes is not None and case["pass"] not in self.passes):
            return None
        res = case["results"]
        st = res.get(self.impl)
        if st is None:
            return {"target": self.describe(), "label": case["label"], "pass": case["pass"], "value": None,
                    "met": None, "note": f"{self.impl} not run"}
        if self.metric == "speedup":
            v = st.get("speedup_vs_baseline")
        elif self.metric == "floor":
            v = st.get("ratio_to_floor")
        elif self.metric.startswith("vs:") and self.metric[3:] in res:
            v = st["median_ms"] / res[self.metric[3:]]["median_ms"]
        else:
            v = None
        met = None if v is None else (v >= self.value if self.op == ">=" else v <= self.value)
        return {"target": self.describe(), "label": case["label"], "pass": case["pass"], "value": v, "met": met}


class Suite:
    """Base class of a benchmark suite; see the module docstring."""
    name = ""
    title = ""
    params: tuple = ()
    shapes: list = []
    quick_shapes: list = []
    passes: tuple = ("fwd", "fwdbwd")
    baseline = "torch"
    flops_note = ""     # how flops() counts, for the Markdown header
    floor_note = ""     # what the floor times, for the Markdown header
    err_tol = {"float32": 1e-3, "float64": 1e-9}  # max_rel_err above this prints a warning
    targets: list = []  # Target objects, checked and reported (float32 runs only)

    def label(self, shape) -> str:
        return " ".join(f"{p}={v}" for p, v in zip(self.params, shape))

    def flops(self, shape) -> Optional[dict]:
        return None

    def setup(self, shape, dtype, rng):
        raise NotImplementedError

    def baseline_impl(self, data) -> dict:
        raise NotImplementedError

    def backend_impl(self, data, backend: str) -> dict:
        raise NotImplementedError

    def floor_impl(self, data) -> Optional[dict]:
        return None

    def contenders(self, data, backends: list, unavailable: dict) -> dict:
        """``{name: {pass: callable}}``: baseline, each backend, then the floor (if any)."""
        out = {}
        try:
            out[self.baseline] = self.baseline_impl(data)
        except ImportError as e:
            unavailable[self.baseline] = f"{type(e).__name__}: {e}"
        for b in backends:
            out[b] = self.backend_impl(data, b)
        floor = self.floor_impl(data)
        if floor is not None:
            out[FLOOR] = floor
        return out


# ------------------------------------------------------------------------------------------ GEMM floor
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


_BEST: dict = {}
_FLOOR_FORM = {"best": True}  # set from Options.floor_form by run_suite


def _best_variant(op: GemmOp, dtype, engine: str) -> tuple:
    """(fastest variant of op, its time in s): each variant warmed up, then the min of 2 calls.
    Cached per (op, dtype, engine, BLAS thread count)."""
    import rnnfast

    key = (op, np.dtype(dtype).name, engine, rnnfast.get_num_threads())
    if key not in _BEST:
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
        _BEST[key] = best
    return _BEST[key]


class GemmFloor:
    """Callable timing the BLAS products of a kernel alone, with SciPy's OpenBLAS (the BLAS the
    compiled kernels call), on preallocated random operands. The numba engine goes through numba's
    np.dot, which uses ?gemv instead of ?gemm when an operand is a single row or column.

    With ``best=True`` (default: ``--floor best``) each product is done in the fastest of its 8 equivalent forms
    (:meth:`GemmOp.variants`, chosen by a short calibration), so that the floor is a lower bound on
    the BLAS time of ANY implementation of those products, whatever orientation a kernel picks.
    Returns None (nothing to compare).
    """

    def __init__(self, ops, dtype, rng=None, engine=None, best=None):
        rng = rng or np.random.default_rng(0)
        best = _FLOOR_FORM["best"] if best is None else best
        self.engine = engine or floor_engine()
        self.ops = [(_best_variant(op, dtype, self.engine)[0] if best else op) for op in ops]
        self._calls = [gemm_callable(op, np.dtype(dtype), rng, self.engine)[0] for op in self.ops]

    def describe(self) -> list:
        return [str(op) for op in self.ops]

    def __call__(self):
        for fn in self._calls:
            fn()
        return None


# ------------------------------------------------------------------------------------------ machine
def _cpu_model() -> str:
    """e.g. "AMD EPYC (family 25 model 1; avx2 fma; VM)" from /proc/cpuinfo."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    except OSError:
        return platform.processor() or platform.machine()
    flags = info.get("flags", "").split()
    isa = [f for f in ("avx512f", "avx2", "fma") if f in flags]
    extra = [f"family {info['cpu family']} model {info['model']}"] if "cpu family" in info else []
    extra += [" ".join(isa)] if isa else []
    extra += ["VM"] if "hypervisor" in flags else []
    name = info.get("model name") or platform.processor() or platform.machine()
    return f"{name} ({'; '.join(extra)})" if extra else name


def _physical_cores() -> Optional[int]:
    try:
        cores, phys, core = set(), None, None
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys, core))
                    phys = core = None
        if core is not None:
            cores.add((phys, core))
        return len(cores) or None
    except OSError:
        return None


def _version(mod: str) -> Optional[str]:
    try:
        m = __import__(mod)
        return str(getattr(m, "__version__", "?"))
    except Exception:
        return None


def _git_commit() -> Optional[str]:
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip() or None
    except Exception:
        return None


def machine_info(threads: int) -> dict:
    """CPU, cores, threads, library versions, the BLAS libraries loaded (threadpoolctl), date, load."""
    from threadpoolctl import threadpool_info

    blas = []
    for p in threadpool_info():
        if p.get("user_api") == "blas":
            blas.append({k: p.get(k) for k in ("internal_api", "version", "architecture", "threading_layer",
                                               "num_threads")} | {"file": os.path.basename(p["filepath"]),
                                                                  "scipy": "scipy" in os.path.basename(os.path.dirname(p["filepath"]))})
    openmp = [{"file": p["filepath"], "num_threads": p.get("num_threads")} for p in threadpool_info()
              if p.get("user_api") == "openmp"]
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "cpus_available": affinity,
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {m: _version(m) for m in ("numpy", "scipy", "torch", "numba", "rnnfast", "threadpoolctl")},
        "git_commit": _git_commit(),
        "blas": blas,
        "openmp": openmp,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    except ImportError:
        pass
    try:
        import numba

        info["numba_threading_layer"] = numba.threading_layer()
    except Exception:  # not installed, or its threading layer not launched
        pass
    info["line"] = machine_line(info)
    return info


def machine_line(m: dict) -> str:
    v = m["versions"]
    sb = [b for b in m["blas"] if b["scipy"]] or m["blas"]
    blas = (f"{sb[0]['internal_api']} {sb[0]['version']} ({sb[0]['architecture']}, SciPy's)" if sb else "BLAS ?")
    load = m.get("loadavg_start")
    return (f"{m['cpu']}, {m['physical_cores']} cores / {m['logical_cpus']} logical, {m['threads']} threads; "
            f"Python {m['python']}, numpy {v['numpy']}, scipy {v['scipy']}, torch {v['torch']}, "
            f"numba {v['numba']}, rnnfast {v['rnnfast']}"
            + (f" ({m['git_commit']})" if m.get("git_commit") else "")
            + f"; {blas}; {m['date']}"
            + (f"; load avg {load[0]:.1f}" if load else ""))


def set_threads(n: int) -> None:
    """Same thread count everywhere: torch, and rnnfast (BLAS pools, OpenMP, numba).

    torch is imported FIRST on purpose: rnnfast.set_num_threads launches numba's threading layer,
    which (its OpenMP flavour) loads the system libgomp.so.1; a torch imported after that binds to
    that libgomp instead of its bundled one, and its CPU GRU ran ~10x slower here (measured 600 vs
    55 ms forward at T=200 B=32 I=128 H=256). ``machine.openmp`` in the JSON records which
    libgomp torch ended up with.
    """
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    import rnnfast

    rnnfast.set_num_threads(n)


# ------------------------------------------------------------------------------------------ timing
def _to_numpy(v):
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v)


def rel_err(a, b) -> float:
    """max|a - b| / max|b| (0 if both are zero)."""
    a, b = _to_numpy(a).astype(np.float64), _to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"result shapes differ: {a.shape} vs {b.shape}")
    den = np.abs(b).max() if b.size else 0.0
    num = np.abs(a - b).max() if a.size else 0.0
    return float(num / den) if den > 0 else float(num)


def time_interleaved(fns: dict, opts: Options):
    """Time the callables of one case, interleaved so that all share the machine's noise.

    After ``opts.warmup`` warm-up calls each, ``R = opts.rounds()`` rounds run; in each round
    every contender (in a rotating order) runs a block of ``k`` consecutive calls, each timed, with
    ``k`` chosen to give the contender about ``opts.budget`` seconds over all rounds. Before each
    block the process sleeps ``opts.settle`` seconds: BLAS/OpenMP pools spin for up to ~0.1 s after
    a call (OpenBLAS' thread timeout) and would otherwise steal the cores from the next contender,
    which uses a different pool (torch's OpenMP, numpy's own OpenBLAS).

    Returns ({name: [seconds per call, ...]}, {name: results of the last warm-up call}).
    """
    names = list(fns)
    outs, est = {}, {}
    for name in names:
        time.sleep(opts.settle)
        for _ in range(max(1, opts.warmup)):
            t0 = time.perf_counter()
            outs[name] = fns[name]()
            est[name] = time.perf_counter() - t0
    rounds = opts.rounds()
    block = {n: 1 for n in names}
    if opts.budget > 0:
        block = {n: max(1, min(opts.max_block, math.ceil(opts.budget / (rounds * max(est[n], 1e-7)))))
                 for n in names}
    times = {n: [] for n in names}
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                fn, ts = fns[name], times[name]
                time.sleep(opts.settle)
                for _ in range(block[name]):
                    t0 = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t0)
    finally:
        if was_enabled:
            gc.enable()
    return times, outs


class LoadMeter:
    """CPU time used by OTHER processes while a case runs, as a fraction of all CPUs' time
    (/proc/stat busy time minus this process's CPU time). None where /proc/stat is missing."""

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            hz = os.sysconf("SC_CLK_TCK")
            return (sum(v) - v[3] - (v[4] if len(v) > 4 else 0)) / hz  # all but idle and iowait
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        self.b0, self.t0, self.w0 = self._busy(), os.times(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        b1, t1, w1 = self._busy(), os.times(), time.perf_counter()
        self.frac = None
        if self.b0 is not None and b1 is not None:
            ours = (t1.user + t1.system) - (self.t0.user + self.t0.system)
            ncpu = os.cpu_count() or 1
            self.frac = max(0.0, (b1 - self.b0 - ours) / ((w1 - self.w0) * ncpu))
        return False


def _stats(ts: list) -> dict:
    a = np.array(ts) * 1e3
    return {"median_ms": float(np.median(a)), "min_ms": float(a.min()), "p25_ms": float(np.percentile(a, 25)),
            "p75_ms": float(np.percentile(a, 75)), "repeats": len(ts)}


def _compare(outs: dict, ref_name: str) -> dict:
    """{name: (max_rel_err, worst result name)} of each contender's results against ref_name's."""
    ref = outs.get(ref_name) or {}
    res = {}
    for name, o in outs.items():
        if name == ref_name or not o:
            continue
        common = [k for k in o if k in ref and ref[k] is not None and o[k] is not None]
        if not common:
            continue
        errs = {k: rel_err(o[k], ref[k]) for k in common}
        worst = max(errs, key=errs.get)
        res[name] = (errs[worst], worst)
    return res


# ------------------------------------------------------------------------------------------ running
def resolve_backends(requested) -> tuple:
    """(backends to run, {unavailable backend: reason}). requested None = every available one."""
    import rnnfast
    from rnnfast import _backend

    avail = rnnfast.available_backends()
    unavailable = {b: _backend._errors.get(b, "unavailable") for b in RNNFAST_BACKENDS if b not in avail}
    if requested is None:
        return [b for b in RNNFAST_BACKENDS if b in avail], unavailable
    for b in requested:
        if b not in RNNFAST_BACKENDS:
            raise ValueError(f"--backends: unknown backend {b!r}; choose from {', '.join(RNNFAST_BACKENDS)}")
    missing = [b for b in requested if b not in avail]
    if missing:
        raise RuntimeError(
            "--backends: " + "; ".join(f"{b} is not available ({unavailable[b]})" for b in missing))
    return list(requested), {b: r for b, r in unavailable.items() if b in requested}


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def run_suite(suite: Suite, opts: Options, out=sys.stdout) -> dict:
    """Run one suite; returns the result dict (also what goes to JSON)."""
    dtype = np.dtype(opts.dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"--dtype must be float32 or float64, got {opts.dtype}")
    if opts.floor_form not in ("best", "stated"):
        raise ValueError(f"--floor must be 'best' or 'stated', got {opts.floor_form!r}")
    _FLOOR_FORM["best"] = opts.floor_form == "best"
    set_threads(opts.threads)
    backends, unavailable = resolve_backends(opts.backends)
    shapes = [tuple(s) for s in (suite.quick_shapes if opts.quick else suite.shapes)]
    if opts.shapes:
        want = [tuple(s) for s in opts.shapes]
        bad = [s for s in want if len(s) != len(suite.params)]
        if bad:
            raise ValueError(f"--shape {bad[0]}: suite {suite.name} shapes have {len(suite.params)} values "
                             f"({','.join(suite.params)})")
        shapes = want
    machine = machine_info(opts.threads)
    result = {
        "suite": suite.name,
        "title": suite.title,
        "machine": machine,
        "config": {"threads": opts.threads, "dtype": dtype.name, "quick": opts.quick,
                   "rounds": opts.rounds(), "budget_s": opts.budget, "warmup": opts.warmup,
                   "settle_s": opts.settle,
                   "backends": backends, "baseline": suite.baseline, "floor_engine": floor_engine(),
                   "floor_form": opts.floor_form,
                   "params": list(suite.params), "flops_note": suite.flops_note,
                   "floor_note": suite.floor_note},
        "unavailable": dict(unavailable),
        "cases": [],
    }
    print(f"# {suite.name}: {suite.title}", file=out)
    print(f"# {machine['line']}", file=out)
    if unavailable:
        print("# unavailable: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()), file=out)
    rng = np.random.default_rng(opts.seed)
    tol = suite.err_tol.get(dtype.name, 1e-3)
    for shape in shapes:
        data = suite.setup(shape, dtype, rng)
        impls = suite.contenders(data, backends, result["unavailable"])
        flops = suite.flops(shape) or {}
        for p in suite.passes:
            fns = {name: impl[p] for name, impl in impls.items() if impl and impl.get(p) is not None}
            with LoadMeter() as load:
                times, outs = time_interleaved(fns, opts)
            errs = _compare(outs, suite.baseline)
            case = {"shape": dict(zip(suite.params, shape)), "label": suite.label(shape), "pass": p,
                    "flops": flops.get(p), "results": {}}
            if hasattr(fns.get(FLOOR), "describe"):
                case["floor_ops"] = fns[FLOOR].describe()
            if load.frac is not None:
                case["other_load"] = load.frac  # CPU share used by other processes meanwhile
            base = floor = None
            for name, ts in times.items():
                st = _stats(ts)
                if flops.get(p):
                    st["gflops"] = flops[p] / (st["median_ms"] * 1e-3) / 1e9
                if name in errs:
                    st["max_rel_err"], st["worst_result"] = errs[name]
                case["results"][name] = st
            base = case["results"].get(suite.baseline)
            floor = case["results"].get(FLOOR)
            for name, st in case["results"].items():
                if name in (suite.baseline, FLOOR):
                    continue
                if base:
                    st["speedup_vs_baseline"] = base["median_ms"] / st["median_ms"]
                if floor:
                    st["ratio_to_floor"] = st["median_ms"] / floor["median_ms"]
            if base and floor:
                base["ratio_to_floor"] = base["median_ms"] / floor["median_ms"]
            result["cases"].append(case)
            _print_case(suite, case, tol, out)
        del impls, data
        gc.collect()
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["targets"] = []
    if dtype.name == "float32":
        for tgt in suite.targets:
            for case in result["cases"]:
                r = tgt.evaluate(case, suite.params)
                if r is not None:
                    result["targets"].append(r)
    for r in result["targets"]:
        v = "n/a" if r["value"] is None else f"{r['value']:.2f}"
        status = {True: "met", False: "MISSED", None: "n/a"}[r["met"]]
        print(f"# target {r['target']:<40} {r['label']:<24} {r['pass']:<6} {v:>6}  {status}", file=out)
    return result


def _print_case(suite: Suite, case: dict, tol: float, out) -> None:
    parts = []
    for name, st in case["results"].items():
        s = f"{name} {_fmt_ms(st['median_ms'])} ms"
        extra = []
        if "speedup_vs_baseline" in st:
            extra.append(f"{st['speedup_vs_baseline']:.2f}x")
        if "ratio_to_floor" in st:
            extra.append(f"{st['ratio_to_floor']:.2f} floor")
        if extra:
            s += " (" + ", ".join(extra) + ")"
        parts.append(s)
    load = f" [other load {case['other_load']:.0%}]" if case.get("other_load") is not None else ""
    print(f"{case['label']:<24} {case['pass']:<6} " + " | ".join(parts) + load, file=out, flush=True)
    for name, st in case["results"].items():
        if st.get("max_rel_err", 0) > tol:
            print(f"  WARNING: {name} differs from {suite.baseline}: max rel err {st['max_rel_err']:.2e} "
                  f"in {st['worst_result']}", file=out)


# ------------------------------------------------------------------------------------------ output
def repo_root() -> Optional[Path]:
    """The rnnfast source tree if the current directory is its root, else None."""
    c = Path.cwd()
    if (c / "bench" / "results").is_dir() and (c / "rnnfast" / "bench").is_dir():
        return c
    return None


def default_json_path(suite_name: str, quick: bool = False) -> Path:
    """bench/results/<suite>.json in the repo root, else ./rnnfast-bench-<suite>.json;
    "-quick" is appended for --quick runs so that they never overwrite real results."""
    stem = suite_name + ("-quick" if quick else "")
    root = repo_root()
    if root is not None:
        return root / "bench" / "results" / f"{stem}.json"
    return Path.cwd() / f"rnnfast-bench-{stem}.json"


def write_json(result: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def markdown(result: dict) -> str:
    """A Markdown section for bench/RESULTS.md: machine line, config, one table row per contender."""
    cfg = result["config"]
    base = cfg["baseline"]
    lines = [f"### {result['suite']}: {result['title']}", "",
             f"Machine: {result['machine']['line']}", "",
             f"{cfg['dtype']}, {cfg['threads']} threads for every contender, one process. Median time per call "
             f"over {cfg['rounds']} interleaved rounds (each contender runs a block of calls per round, "
             f"~{cfg['budget_s']:g} s per contender in all, {cfg['settle_s']:g} s pause before each block), "
             f"after {cfg['warmup']} warm-up calls. GEMM floor timed via {cfg['floor_engine']}, "
             f"{'each product in its fastest form' if cfg.get('floor_form') == 'best' else 'products as stated'}. "
             f"'other load' = CPU share used by other processes during the case."]
    if cfg.get("flops_note"):
        lines.append(f"FLOPs: {cfg['flops_note']}")
    if cfg.get("floor_note"):
        lines.append(f"Floor: {cfg['floor_note']}")
    if result.get("unavailable"):
        lines.append("Unavailable: " + "; ".join(f"`{k}` ({v})" for k, v in result["unavailable"].items()))
    lines += ["", f"| {', '.join(cfg['params'])} | pass | impl | ms (median) | GFLOP/s | speed-up vs {base} "
                  f"| time / GEMM floor | max rel err vs {base} | other load |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for case in result["cases"]:
        shape = ",".join(str(v) for v in case["shape"].values())
        for name, st in case["results"].items():
            g = f"{st['gflops']:.1f}" if "gflops" in st else ""
            sp = f"{st['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in st else ""
            fl = f"{st['ratio_to_floor']:.2f}" if "ratio_to_floor" in st else ""
            er = f"{st['max_rel_err']:.1e}" if "max_rel_err" in st else ""
            nm = f"**{name}**" if name in RNNFAST_BACKENDS else name
            ld = f"{case['other_load']:.0%}" if case.get("other_load") is not None else ""
            lines.append(f"| {shape} | {case['pass']} | {nm} | {_fmt_ms(st['median_ms'])} | {g} | {sp} | {fl} | {er} "
                         f"| {ld} |")
    if result.get("targets"):
        lines += ["", "| target | case | pass | value | status |", "|---|---|---|---:|---|"]
        for r in result["targets"]:
            v = "" if r["value"] is None else f"{r['value']:.2f}"
            status = {True: "met", False: "**missed**", None: r.get("note", "n/a")}[r["met"]]
            lines.append(f"| {r['target']} | {r['label']} | {r['pass']} | {v} | {status} |")
    return "\n".join(lines) + "\n"
