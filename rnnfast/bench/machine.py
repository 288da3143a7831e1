"""The machine a run measures: CPU, instruction-set level, BLAS library and kernel set, thread
counts, library versions (:func:`machine_info`, one summary line :func:`machine_line`), the thread
setting shared by every contender (:func:`set_threads`) and the rnnfast backends to run."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from .suite import RNNFAST_BACKENDS

_AVX512 = ("avx512f", "avx512bw", "avx512dq", "avx512vl")


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo ({} if unreadable)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def _cpu_model() -> str:
    """e.g. "AMD EPYC (family 25 model 1; avx2 fma; VM)" from /proc/cpuinfo."""
    info = _cpuinfo()
    if not info:
        return platform.processor() or platform.machine()
    flags = info.get("flags", "").split()
    isa = [f for f in ("avx512f", "avx2", "fma") if f in flags]
    extra = [f"family {info['cpu family']} model {info['model']}"] if "cpu family" in info else []
    extra += [" ".join(isa)] if isa else []
    extra += ["VM"] if "hypervisor" in flags else []
    name = info.get("model name") or platform.processor() or platform.machine()
    return f"{name} ({'; '.join(extra)})" if extra else name


def cpu_isa_level() -> str:
    """The CPU's x86-64 instruction-set level as rnnfast's kernels count them: "avx512" (F, BW, DQ,
    VL), "avx2" (with FMA) or "baseline"; the machine name on other architectures."""
    flags = set(_cpuinfo().get("flags", "").split())
    if not flags:
        return platform.machine() or "unknown"
    if set(_AVX512) <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "baseline"


def kernel_capability() -> str | None:
    """The instruction-set level rnnfast's compiled kernels run at (None if the extension does not
    report one: a single-level build, or no extension)."""
    import rnnfast

    fn = getattr(rnnfast, "cpu_capability", None)
    if fn is None:
        core = getattr(rnnfast, "_core", None)
        fn = getattr(core, "_cpu_capability", None)
    try:
        return str(fn()) if callable(fn) else None
    except (RuntimeError, ValueError, TypeError):
        return None


def openblas_coretype() -> dict:
    """OPENBLAS_CORETYPE and who set it: "environment" (before rnnfast was imported), "rnnfast"
    (chosen at import, see rnnfast/_blas_arch.py) or "unset"."""
    from rnnfast import _blas_arch

    value = os.environ.get("OPENBLAS_CORETYPE")
    decision = getattr(_blas_arch, "decision", "?")
    if value is None:
        by = "unset"
    elif decision == "user":
        by = "environment"
    elif decision.startswith(("auto:", "request:")):
        by = "rnnfast"
    else:
        by = "environment"
    return {"value": value, "set_by": by, "decision": decision}


def _physical_cores() -> int | None:
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


def _version(mod: str) -> str | None:
    try:
        m = __import__(mod)
        return str(getattr(m, "__version__", "?"))
    except (ImportError, OSError, AttributeError):  # not installed, or a broken install
        return None


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=5, check=False)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(threads: int) -> dict:
    """CPU, instruction-set level, cores, threads, library versions, the BLAS libraries loaded
    (threadpoolctl) and OPENBLAS_CORETYPE, date, load; ``line`` sums it up."""
    from threadpoolctl import threadpool_info

    pools = threadpool_info()
    blas = []
    for p in pools:
        if p.get("user_api") == "blas":
            blas.append({k: p.get(k) for k in ("internal_api", "version", "architecture", "threading_layer",
                                               "num_threads")}
                        | {"file": os.path.basename(p["filepath"]),
                           "scipy": "scipy" in os.path.basename(os.path.dirname(p["filepath"]))})
    openmp = [{"file": p["filepath"], "num_threads": p.get("num_threads")} for p in pools
              if p.get("user_api") == "openmp"]
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "cpu": _cpu_model(),
        "isa": cpu_isa_level(),
        "kernel_capability": kernel_capability(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "cpus_available": affinity,
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {m: _version(m) for m in ("numpy", "scipy", "torch", "numba", "rnnfast", "threadpoolctl")},
        "git_commit": _git_commit(),
        "blas": blas,
        "openblas_coretype": openblas_coretype(),
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
    info["numba_threading_layer"] = _numba_threading_layer()
    info["line"] = machine_line(info)
    return info


def _numba_threading_layer() -> str | None:
    try:
        import numba

        return numba.threading_layer()
    except (ImportError, ValueError):  # not installed, or its threading layer not launched
        return None


def blas_summary(m: dict) -> str:
    """e.g. "openblas 0.3.30 (kernels SkylakeX, SciPy's; OPENBLAS_CORETYPE=SkylakeX set by rnnfast)"."""
    sb = [b for b in m["blas"] if b["scipy"]] or m["blas"]
    ct = m.get("openblas_coretype") or {}
    core = ("OPENBLAS_CORETYPE unset" if ct.get("value") is None
            else f"OPENBLAS_CORETYPE={ct['value']} set by {ct.get('set_by', '?')}")
    if not sb:
        return f"BLAS ?; {core}"
    return f"{sb[0]['internal_api']} {sb[0]['version']} (kernels {sb[0]['architecture']}, SciPy's; {core})"


def machine_line(m: dict) -> str:
    """One line: CPU, instruction-set level, cores, threads, versions, BLAS and kernel set, date, load."""
    v = m["versions"]
    load = m.get("loadavg_start")
    isa = f"ISA {m['isa']}" if m.get("isa") else ""
    if m.get("kernel_capability"):
        isa += f", rnnfast kernels {m['kernel_capability']}"
    return (f"{m['cpu']}, {isa}, {m['physical_cores']} cores / {m['logical_cpus']} logical, "
            f"{m['threads']} threads; "
            f"Python {m['python']}, numpy {v['numpy']}, scipy {v['scipy']}, torch {v['torch']}, "
            f"numba {v['numba']}, rnnfast {v['rnnfast']}"
            + (f" ({m['git_commit']})" if m.get("git_commit") else "")
            + f"; {blas_summary(m)}; {m['date']}"
            + (f"; load avg {load[0]:.1f}" if load else ""))


def torch_available() -> tuple:
    """(True, "") if torch imports, else (False, the import error)."""
    try:
        import torch
    except ImportError as e:
        return False, f"{type(e).__name__}: {e}"
    return bool(torch.__version__), ""


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


def backend_errors() -> dict:
    """{backend: why it is unavailable}, from the public ``rnnfast.backend_errors()`` where the
    installed rnnfast has it, else from the registry's record."""
    import rnnfast

    return dict(rnnfast.backend_errors())


def resolve_backends(requested) -> tuple:
    """(backends to run, {unavailable backend: reason}). requested None = every available one."""
    import rnnfast

    avail = rnnfast.available_backends()
    errors = backend_errors()
    unavailable = {b: errors.get(b, "unavailable") for b in RNNFAST_BACKENDS if b not in avail}
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
