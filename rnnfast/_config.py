"""What this rnnfast is and runs on: :func:`show_config` (also ``rnnfast --version --verbose``).

Reports the version, the instruction-set level of the C++ kernels (chosen at import, see
docs/cpu-dispatch.md) and the levels available, the BLAS (library, version, kernel set, whether
OPENBLAS_CORETYPE came from the environment or from rnnfast), thread counts, the backends and why any
is missing, and how the extension was built. Nothing here changes state, except that asking for the
BLAS loads SciPy's OpenBLAS and trying the backends imports them (as ``available_backends`` does).
"""
from __future__ import annotations

import os
import platform
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _core_info() -> dict:
    try:
        from . import _core
    except ImportError as e:
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        "capability": _core._cpu_capability(),
        "available": list(_core._cpu_capabilities()),
        "cpu_best": _core._cpu_best(),
        "compiled": {name: flags for name, flags in _core._cpu_capabilities_compiled()},
        "build": dict(_core._build_info()),
        "openmp_threads": _core.get_num_threads() if _core.has_openmp else None,
        "team_threads": _core.get_team_threads(),
    }


def _blas_info() -> dict:
    from . import _blas_arch

    out = {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "coretype_decision": _blas_arch.decision}
    # "user": set by the environment before rnnfast was imported; "auto:X"/"request:X": set by rnnfast
    out["coretype_from_environment"] = _blas_arch.decision == "user"
    out["OPENBLAS_THREAD_TIMEOUT"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    out["thread_timeout_decision"] = _blas_arch.timeout_decision
    try:
        from ._threads import _blas_controller

        libs = [p for p in _blas_controller().info() if p.get("user_api") == "blas"]
    except Exception as e:  # noqa: BLE001 (SciPy or threadpoolctl missing or broken: reported)
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    try:  # the library holding SciPy's sgemm is the one the kernels call
        from ._blas import blas_library_path, thread_control_addresses

        setter = thread_control_addresses()[0]  # an OpenBLAS function, found from SciPy's sgemm
        used = blas_library_path(setter) if setter else None
    except Exception:  # noqa: BLE001 (a report must not fail)
        used = None
    out["libraries"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "threading_layer",
                                               "num_threads", "filepath")} for p in libs]
    for lib in out["libraries"]:
        lib["used_by_rnnfast"] = used is not None and os.path.realpath(lib["filepath"] or "") == os.path.realpath(used)
    return out


def _backends() -> dict:
    from . import _backend

    available = _backend.available_backends()  # tries to import each backend once
    return {"available": available, "default": _backend.get_backend() if available else None,
            "missing": {name: _backend._errors.get(name, "not loaded") for name in _backend.BACKENDS
                        if name not in available}}


def config() -> dict:
    """The configuration as a dict (what :func:`show_config` prints)."""
    import numpy

    from . import __version__

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        from ._threads import get_num_threads

        threads = get_num_threads()
    except Exception as e:  # noqa: BLE001 (reported)
        threads = f"unavailable ({type(e).__name__}: {e})"
    return {
        "rnnfast": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpu_env": {k: os.environ[k] for k in ("RNNFAST_CPU_CAPABILITY", "RNNFAST_BACKEND", "RNNFAST_OPENBLAS_CORETYPE",
                                               "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ},
        "core": _core_info(),
        "blas": _blas_info(),
        "threads": {"rnnfast": threads, "cpus_usable": affinity, "cpus": os.cpu_count()},
        "backends": _backends(),
    }


def _format(c: dict) -> str:
    lines = [f"rnnfast {c['rnnfast']}  (Python {c['python']}, NumPy {c['numpy']}, {c['platform']})",
             f"CPU: {c['cpu']}"]
    core = c["core"]
    if "error" in core:
        lines.append(f"C++ kernels: not loaded: {core['error']}")
    else:
        lines.append(f"C++ kernels: capability {core['capability']} (available: {', '.join(core['available'])}; "
                     f"CPU supports up to {core['cpu_best']})")
        for name, flags in core["compiled"].items():
            lines.append(f"  compiled level {name:9s} {flags or '(compiler default target)'}")
        b = core["build"]
        lines.append(f"  build: {b['compiler']}, {b['build_type']}, native={b['native']}, openmp={b['openmp']}")
        lines.append(f"  flags: {b['common_flags']}")
        lines.append(f"  definitions: {b['definitions'].strip()}")
    blas = c["blas"]
    src = ("set by the environment" if blas["coretype_from_environment"] else
           f"rnnfast: {blas['coretype_decision']}")
    lines.append(f"BLAS: OPENBLAS_CORETYPE={blas['OPENBLAS_CORETYPE']} ({src}), OPENBLAS_THREAD_TIMEOUT="
                 f"{blas['OPENBLAS_THREAD_TIMEOUT']} ({blas['thread_timeout_decision']})")
    if "error" in blas:
        lines.append(f"  not inspected: {blas['error']}")
    for lib in blas.get("libraries", []):
        lines.append(f"  {'*' if lib['used_by_rnnfast'] else ' '} {lib['internal_api']} {lib['version']}, kernels "
                     f"{lib['architecture']}, {lib['num_threads']} threads ({lib['threading_layer']}), "
                     f"{lib['filepath']}")
    if blas.get("libraries"):
        lines.append("  (* the BLAS the cpp and numba kernels call: SciPy's)")
    t = c["threads"]
    lines.append(f"Threads: rnnfast {t['rnnfast']}, usable CPUs {t['cpus_usable']} of {t['cpus']}"
                 + ((f", OpenMP {core['openmp_threads']}" if core.get("openmp_threads") else "")
                    + f", teams {core['team_threads']}" if "error" not in core else ""))
    be = c["backends"]
    lines.append(f"Backends: {', '.join(be['available']) or 'none'} (default {be['default']})")
    for name, why in be["missing"].items():
        lines.append(f"  {name} missing: {why}")
    if c["cpu_env"]:
        lines.append("Environment: " + ", ".join(f"{k}={v}" for k, v in c["cpu_env"].items()))
    return "\n".join(lines)


def show_config(file=None) -> None:
    """Print rnnfast's configuration: version, the C++ kernels' instruction-set level (chosen and
    available), the BLAS (library, version, kernel set, OPENBLAS_CORETYPE and who set it), thread
    counts, backends (and why any is missing) and build flags.

    Parameters
    ----------
    file : text stream, optional
        Where to print (default ``sys.stdout``).
    """
    print(_format(config()), file=file if file is not None else sys.stdout)
