"""Running suites: :func:`run_suite` times one suite case by case (results handed over after every
case), :func:`run` runs several with the progress display and ends with the summary table."""
from __future__ import annotations

import gc
import os
import signal
import sys
import time
from typing import Callable

import numpy as np

from . import report
from .floor import floor_engine, sgemm_rate
from .machine import machine_info, resolve_backends, set_threads, torch_available
from .suite import FLOOR
from .timing import LoadMeter, Options, compare, stats, time_interleaved


def suite_shapes(suite, opts: Options) -> list:
    """The shapes a run times: ``--shape`` ones, else the suite's for the run mode."""
    if opts.shapes:
        want = [tuple(s) for s in opts.shapes]
        bad = [s for s in want if len(s) != len(suite.params)]
        if bad:
            raise ValueError(f"--shape {bad[0]}: suite {suite.name} shapes have {len(suite.params)} values "
                             f"({','.join(suite.params)})")
        return want
    if hasattr(suite, "shapes_for"):
        return suite.shapes_for(opts.mode)
    return [tuple(s) for s in (suite.quick_shapes if opts.mode == "quick" else suite.shapes)]


def nominal_case_seconds(opts: Options, n_contenders: int) -> float:
    """A case's time if every contender's call is short: timed budget, pauses, a little overhead."""
    return n_contenders * (opts.budget + (opts.rounds() + 1) * opts.settle + 0.05) + 0.1


def run_suite(suite, opts: Options, out=sys.stdout, on_case: Callable[[dict], None] | None = None,
              progress=None, machine: dict | None = None) -> dict:
    """Run one suite; returns the result dict (also what goes to JSON). ``on_case(result)`` is
    called after every case with the result so far (``result["complete"]`` is False until the end)."""
    dtype = np.dtype(opts.dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"--dtype must be float32 or float64, got {opts.dtype}")
    if opts.floor_form not in ("best", "stated"):
        raise ValueError(f"--floor must be 'best' or 'stated', got {opts.floor_form!r}")
    set_threads(opts.threads)
    backends, unavailable = resolve_backends(opts.backends)
    shapes = suite_shapes(suite, opts)
    machine = dict(machine) if machine is not None else machine_info(opts.threads)
    result = {
        "suite": suite.name,
        "title": suite.title,
        "machine": machine,
        "config": {"threads": opts.threads, "dtype": dtype.name, "mode": opts.mode, "quick": opts.quick,
                   "rounds": opts.rounds(), "budget_s": opts.budget, "warmup": opts.warmup,
                   "settle_s": opts.settle,
                   "backends": backends, "baseline": suite.baseline, "floor_engine": floor_engine(),
                   "floor_form": opts.floor_form,
                   "params": list(suite.params), "flops_note": suite.flops_note,
                   "floor_note": suite.floor_note},
        "unavailable": dict(unavailable),
        "cases": [],
        "complete": False,
    }

    def say(line: str) -> None:
        if progress is not None:
            progress.clear()
        print(line, file=out, flush=True)
        if progress is not None:
            progress.draw(force=True)

    say(f"# {suite.name}: {suite.title}")
    if progress is None:
        say(f"# {machine['line']}")
    if unavailable:
        say("# unavailable: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    rng = np.random.default_rng(opts.seed)
    tol = suite.err_tol.get(dtype.name, 1e-3)
    n_cases = len(shapes) * len(suite.passes)
    for shape in shapes:
        data = suite.setup(shape, dtype, rng)
        had_baseline = suite.baseline not in result["unavailable"]
        impls = suite.contenders(data, backends, result["unavailable"])
        if had_baseline and suite.baseline in result["unavailable"]:
            say(f"# {suite.baseline} unavailable: {result['unavailable'][suite.baseline]}")
        for fn in (impls.get(FLOOR) or {}).values():
            if hasattr(fn, "prepare"):  # the floor's product forms: the run's --floor choice
                fn.prepare(opts.floor_form == "best")
        flops = suite.flops(shape) or {}
        for p in suite.passes:
            t_case = time.perf_counter()
            fns = {name: impl[p] for name, impl in impls.items() if impl and impl.get(p) is not None}
            with LoadMeter() as load:
                times, outs = time_interleaved(fns, opts, on_block=progress.update if progress else None)
            errs = compare(outs, suite.baseline)
            case = {"shape": dict(zip(suite.params, shape)), "label": suite.label(shape), "pass": p,
                    "flops": flops.get(p), "results": {}}
            if hasattr(fns.get(FLOOR), "describe"):
                case["floor_ops"] = fns[FLOOR].describe()
            if load.frac is not None:
                case["other_load"] = load.frac  # CPU share used by other processes meanwhile
            sgemm_gflops = (machine or {}).get("sgemm", {}).get("gflops")
            for name, ts in times.items():
                st = stats(ts)
                if flops.get(p):
                    st["gflops"] = flops[p] / (st["median_ms"] * 1e-3) / 1e9
                    if sgemm_gflops:  # the share of the large-SGEMM rate measured at the start of the run
                        st["sgemm_fraction"] = st["gflops"] / sgemm_gflops
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
            case["wall_s"] = time.perf_counter() - t_case
            result["cases"].append(case)
            if progress is not None:
                progress.case_done()
            say(f"[{len(result['cases'])}/{n_cases}] " + report.case_line(case, suite.baseline))
            for name, st in case["results"].items():
                if st.get("max_rel_err", 0) > tol:
                    say(f"  WARNING: {name} differs from {suite.baseline}: max rel err {st['max_rel_err']:.2e} "
                        f"in {st['worst_result']}")
            if on_case is not None:
                on_case(result)
        del impls, data
        gc.collect()
    result["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    evaluate_targets(suite, result)
    for r in result["targets"]:
        say(report.target_line(r))
    result["complete"] = True
    if on_case is not None:
        on_case(result)
    return result


def evaluate_targets(suite, result: dict) -> list:
    """Check the suite's targets on the cases done (float32 runs only); stored in result["targets"]."""
    result["targets"] = []
    if result["config"]["dtype"] == "float32":
        for tgt in suite.targets:
            for case in result["cases"]:
                r = tgt.evaluate(case, suite.params)
                if r is not None:
                    result["targets"].append(r)
    return result["targets"]


def default_backends(mode: str) -> list | None:
    """The default run times the compiled and jitted backends (the NumPy reference is a readable
    model, not a contender, and the slowest); --full and --quick time every available one."""
    if mode != "default":
        return None
    import rnnfast

    avail = rnnfast.available_backends()
    fast = [b for b in avail if b != "numpy"]
    return fast or avail


def _stop_on_sigterm():
    """Make SIGTERM stop the run like Ctrl-C (summary of the cases done); returns the previous
    handler, or None where it cannot be set (not the main thread)."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:
        return None


def run(names: list, opts: Options, load_suite: Callable, out=sys.stdout, json_path: Callable | None = None,
        live=None, sgemm_n: int | None = None) -> dict:
    """Run the suites ``names`` (``load_suite(name)`` gives each one's Suite object; one that fails to
    load is reported and skipped), printing progress, every case and the summary table.

    json_path(name) -> path (or None) of the suite's JSON, rewritten after every case.
    Returns {"results": [...], "unavailable": {...}, "stopped": bool, "errors": [...], "sgemm": [...]}.
    A Ctrl-C stops the run after printing the summary of the cases done (their JSON is written).
    """
    t0 = time.perf_counter()
    set_threads(opts.threads)
    backends, _ = resolve_backends(opts.backends)  # a bad --backends fails before anything is timed
    ok, why = torch_available()
    if not ok:
        print(f"# PyTorch baseline unavailable ({why}); install it with: {report.INSTALL_TORCH} "
              "(the other contenders still run)", file=out, flush=True)
    machine = machine_info(opts.threads)
    n = sgemm_n or (256 if opts.mode == "quick" else 2048)
    sgemm = [dict(sgemm_rate(n), when="start")]
    machine["sgemm"] = sgemm[0]
    print(f"# {machine['line']}", file=out)
    print(f"# large SGEMM ({n}^3 float32, {sgemm[0]['threads']} threads, SciPy's BLAS): "
          f"{report.fmt_rate(sgemm[0]['gflops'])} GFLOP/s", file=out)
    print(f"# {report.LEGEND}", file=out, flush=True)
    unavailable, suites = {}, []
    for name in names:
        try:
            suites.append(load_suite(name))
        except (ImportError, AttributeError) as e:  # a missing package, or no SUITE in the module
            unavailable[f"suite {name}"] = f"{type(e).__name__}: {e}"
            print(f"# suite {name} unavailable: {type(e).__name__}: {e}", file=out, flush=True)
    if not ok:
        unavailable["PyTorch baseline"] = f"{why}; install it with {report.INSTALL_TORCH}"
    per_case = nominal_case_seconds(opts, len(backends) + 2)
    plan = []
    for s in suites:
        try:
            plan.append((s.name, len(suite_shapes(s, opts)) * len(s.passes), per_case))
        except ValueError:
            plan.append((s.name, 0, per_case))
    from .progress import Progress

    progress = Progress(plan, out, live=live)
    results, errors, stopped = [], [], False
    holder: dict = {}  # the running suite's result so far
    old_term = _stop_on_sigterm()
    try:
        for i, suite in enumerate(suites):
            progress.start_suite(i)
            path = json_path(suite.name) if json_path else None
            holder.clear()

            def on_case(res, path=path, suite=suite):
                holder.update(res=res, suite=suite, path=path)
                if path is not None:
                    report.write_json(res, path)
            try:
                res = run_suite(suite, opts, out=out, on_case=on_case, progress=progress, machine=machine)
            except (ValueError, RuntimeError) as e:
                progress.clear()
                errors.append(f"{suite.name}: {e}")
                print(f"rnnfast bench {suite.name}: {e}", file=sys.stderr)
                progress.skip_suite(i)
                continue
            results.append(res)
            if path is not None:
                print(f"# wrote {path}", file=out, flush=True)
    except KeyboardInterrupt:
        stopped = True
        progress.clear()
        if holder.get("res") is not None and not holder["res"].get("complete"):
            evaluate_targets(holder["suite"], holder["res"])
            results.append(holder["res"])
            if holder["path"] is not None:
                report.write_json(holder["res"], holder["path"])
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    progress.clear()
    if not stopped:
        sgemm.append(dict(sgemm_rate(n), when="end"))
    print(file=out)
    print(report.summary(results, sgemm=sgemm, unavailable=unavailable, elapsed=time.perf_counter() - t0,
                         stopped=stopped, machine=machine["line"]), file=out, flush=True)
    return {"results": results, "unavailable": unavailable, "stopped": stopped, "errors": errors, "sgemm": sgemm}
