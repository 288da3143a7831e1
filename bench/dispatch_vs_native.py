"""The runtime-dispatched build against a ``-march=native`` build of the same source, in one process.

    python bench/dispatch_vs_native.py [--suites gru,lstm,rnn,ctc] [--repeats 15] [--threads 1]

Builds ``rnnfast._core`` with ``-DRNNFAST_NATIVE=ON`` into ``build/native`` (CMake and a compiler needed;
run from a source tree whose ``rnnfast`` package has the dispatched module: ``./dev_build.sh`` or an
editable install), loads it beside the dispatched one and times forward+backward (float32) of every
shape of the gru, lstm, rnn and ctc suites with each build in turn, swapping the cpp backend's kernels
before every call. Prints per shape the median times and dispatched / native (1.00 = equal; above 1
the dispatched build is slower), with the machine line.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_native(bdir: str) -> str:
    import pybind11

    subprocess.run(["cmake", "-S", ROOT, "-B", bdir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DRNNFAST_NATIVE=ON",
                    f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", f"-DPython_EXECUTABLE={sys.executable}"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", bdir], check=True, stdout=subprocess.DEVNULL)
    return next(os.path.join(bdir, f) for f in os.listdir(bdir) if f.startswith("_core") and f.endswith(".so"))


def load_native(so: str):
    """The native module, imported as ``rnnfast_native._core`` (its init function is PyInit__core)."""
    pkg = tempfile.mkdtemp(prefix="rnnfast-native-")
    os.mkdir(os.path.join(pkg, "rnnfast_native"))
    open(os.path.join(pkg, "rnnfast_native", "__init__.py"), "w").close()
    shutil.copy(so, os.path.join(pkg, "rnnfast_native", os.path.basename(so)))
    sys.path.insert(0, pkg)
    core = importlib.import_module("rnnfast_native._core")
    from rnnfast._blas import gemm_addresses, thread_control_addresses

    core.set_blas(*gemm_addresses())
    core.set_blas_threads(*thread_control_addresses())
    return core


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suites", default="gru,lstm,rnn,ctc")
    p.add_argument("--repeats", type=int, default=15, help="interleaved repeats per shape (median)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build", "native"))
    args = p.parse_args(argv)

    import rnnfast
    from rnnfast import _backend, _cpp
    from rnnfast.bench.machine import machine_info, machine_line, set_threads
    from rnnfast.bench.suites import get_suite

    set_threads(args.threads)
    native = load_native(build_native(args.build_dir))
    names = [n for n in dir(_cpp) if callable(getattr(_cpp, n)) and hasattr(native, n)]
    builds = {"dispatched": _cpp, "native": types.SimpleNamespace(**{n: getattr(native, n) for n in names})}
    print(machine_line(machine_info(args.threads)))
    print(f"dispatched: capability {rnnfast._core._cpu_capability()}; "
          f"native: -march=native; float32 forward+backward, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'suite':6} {'shape':22} {'dispatched ms':>14} {'native ms':>10} {'ratio':>6}")
    worst = 0.0
    for suite_name in args.suites.split(","):
        suite = get_suite(suite_name)
        for shape in suite.shapes:
            d = suite.setup(shape, np.float32, np.random.default_rng(0))
            fn = suite.backend_impl(d, "cpp")["fwdbwd"]
            times = {k: [] for k in builds}
            for r in range(args.repeats + 2):  # two warm-up rounds
                for k in (builds if r % 2 == 0 else reversed(list(builds))):
                    _backend._loaded["cpp"] = builds[k]
                    _backend._resolved.clear()
                    t0 = time.perf_counter()
                    fn()
                    if r >= 2:
                        times[k].append(time.perf_counter() - t0)
            _backend._loaded["cpp"] = _cpp
            _backend._resolved.clear()
            md = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            ratio = md["dispatched"] / md["native"]
            worst = max(worst, ratio)
            print(f"{suite_name:6} {str(shape):22} {md['dispatched']:14.3f} {md['native']:10.3f} {ratio:6.3f}")
    print(f"largest dispatched / native: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
