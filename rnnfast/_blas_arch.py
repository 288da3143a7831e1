"""Pick OpenBLAS's AVX-512 kernels on AMD CPUs that have AVX-512 (Zen 4, Zen 5).

SciPy's OpenBLAS (the BLAS of the ``cpp`` and ``numba`` backends, see docs/design.md) is a
DYNAMIC_ARCH build with a short list of kernel sets (Prescott, Nehalem, Sandybridge, Haswell,
SkylakeX). On AMD Zen 4/5 it selects the AVX2 ``Haswell`` set although the CPU runs the AVX-512
``SkylakeX`` set, which measured 1.6-4x faster on the per-step products of a recurrence (B = 16..128
rows, one thread) and about 1.7x faster for a whole LSTM forward+backward at (T,B,I,H) =
(200,32,128,256). OpenBLAS reads its kernel choice from ``OPENBLAS_CORETYPE`` once, when the library
is loaded, so this must run before ``scipy.linalg`` is first imported in the process.

Rules (``select_openblas_coretype``):
* ``OPENBLAS_CORETYPE`` already set (by the user): left alone.
* ``RNNFAST_OPENBLAS_CORETYPE=off`` (or ``keep``, ``0``, empty): nothing is changed.
* ``RNNFAST_OPENBLAS_CORETYPE=<name>``: that OpenBLAS core type is requested.
* default (``auto``): ``SkylakeX`` on x86-64 Linux when the CPU is AMD and has avx512f, avx512bw,
  avx512cd, avx512dq and avx512vl (what that kernel set needs); otherwise nothing (OpenBLAS's own
  detection is right for Intel CPUs and for CPUs without AVX-512).
The variable is set in ``os.environ``, so child processes inherit it.
"""
from __future__ import annotations

import os
import platform
import sys

_SKYLAKEX_FLAGS = frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})

#: What :func:`select_openblas_coretype` did at import: "user", "off", "auto:<core>", "request:<core>",
#: "auto:none" (nothing to do on this CPU), or "late" (SciPy's OpenBLAS was already loaded).
decision = "not run"


def _cpuinfo(path: str = "/proc/cpuinfo") -> tuple:
    """(vendor_id, set of flags) of the first processor listed, or ("", set()) if unreadable."""
    vendor, flags = "", set()
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return vendor, flags


def auto_coretype(vendor: str, flags: set) -> str | None:
    """The OpenBLAS core type to request for this CPU, or None to keep OpenBLAS's own choice."""
    if vendor == "AuthenticAMD" and _SKYLAKEX_FLAGS <= set(flags):
        return "SkylakeX"
    return None


def select_openblas_coretype(environ=os.environ) -> str:
    """Apply the rules of the module docstring; returns (and records in ``decision``) what was done."""
    global decision
    if "OPENBLAS_CORETYPE" in environ:
        decision = "user"
        return decision
    choice = environ.get("RNNFAST_OPENBLAS_CORETYPE", "auto").strip()
    if choice.lower() in ("", "off", "keep", "0", "none"):
        decision = "off"
        return decision
    if choice.lower() == "auto":
        core = None
        if platform.machine() in ("x86_64", "AMD64") and sys.platform.startswith("linux"):
            core = auto_coretype(*_cpuinfo())
        if core is None:
            decision = "auto:none"
            return decision
        decision = f"auto:{core}"
    else:
        core = choice
        decision = f"request:{core}"
    if "scipy.linalg" in sys.modules:  # SciPy's OpenBLAS is loaded: its choice is made
        decision = "late"
        return decision
    environ["OPENBLAS_CORETYPE"] = core
    return decision


# ------------------------------------------------------------------------------ idle worker spinning
#: OpenBLAS's worker threads spin (with sched_yield) for 2^N cycles after each threaded call before they
#: sleep; OpenBLAS's default N = 28 is ~0.1 s on a 2.6 GHz core. In that time a worker of SciPy's pool
#: shares a core with the helper thread of a recurrent kernel's thread team, whose per-step barriers then
#: wait for it: a 2-layer LSTM language-model training step (T = 35, B = 20, H = 256, vocabulary 6.7k,
#: 2 threads) spent 12 ms instead of 4.5 ms per LSTM forward after the decoder's threaded GEMMs, and the
#: whole step took 123 ms against 90-102 ms with the spinning cut to 2^12..2^20 cycles. rnnfast asks for
#: 2^16 (tens of microseconds: back-to-back BLAS calls still find their workers awake).
THREAD_TIMEOUT = "16"

#: What :func:`select_openblas_thread_timeout` did: "user", "off", "set:<N>" or "late".
timeout_decision = "not run"


def select_openblas_thread_timeout(environ=os.environ) -> str:
    """Set ``OPENBLAS_THREAD_TIMEOUT`` for SciPy's OpenBLAS unless the user did (or
    ``RNNFAST_OPENBLAS_THREAD_TIMEOUT=off``); like the core type, it is read once, when SciPy's OpenBLAS
    loads, so this must run before ``scipy.linalg`` is first imported (child processes inherit it)."""
    global timeout_decision
    if "OPENBLAS_THREAD_TIMEOUT" in environ:
        timeout_decision = "user"
        return timeout_decision
    choice = environ.get("RNNFAST_OPENBLAS_THREAD_TIMEOUT", THREAD_TIMEOUT).strip()
    if choice.lower() in ("", "off", "keep", "0", "none"):
        timeout_decision = "off"
        return timeout_decision
    if "scipy.linalg" in sys.modules:
        timeout_decision = "late"
        return timeout_decision
    environ["OPENBLAS_THREAD_TIMEOUT"] = choice
    timeout_decision = f"set:{choice}"
    return timeout_decision
