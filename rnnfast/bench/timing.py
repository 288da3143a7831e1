"""Timing: run options, interleaved timing of a case's contenders, the foreign-load meter,
statistics and the cross-check of the contenders' results."""
from __future__ import annotations

import gc
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Settings of each run mode: interleaved rounds, target seconds of timed calls per contender and
#: pass, pause before each block. "full" is the whole protocol, "default" the representative run.
MODES = {
    "full": {"repeats": 5, "budget": 1.5, "settle": 0.15},
    "default": {"repeats": 3, "budget": 0.3, "settle": 0.15},
    "quick": {"repeats": 2, "budget": 0.0, "settle": 0.0},
}


@dataclass
class Options:
    threads: int = 2
    dtype: str = "float32"
    repeats: int | None = None     # number of interleaved rounds (None: the mode's)
    budget: float | None = None       # target seconds of timed calls per contender and pass (None: the mode's)
    max_block: int = 2000             # cap on consecutive calls per contender and round
    warmup: int = 2                   # untimed calls; the last one estimates the time per call
    settle: float | None = None       # seconds of sleep before each block, to let thread pools idle (None: the mode's)
    quick: bool = False
    backends: list | None = None   # rnnfast backends; None = every available one
    shapes: list | None = None     # restrict to these shapes (tuples)
    seed: int = 0
    floor_form: str = "best"          # "best": each product in its fastest form; "stated": as the suite states it
    mode: str | None = None        # "full", "default" or "quick"; None: "quick" if quick else "full"

    def __post_init__(self):
        if self.mode is None:
            self.mode = "quick" if self.quick else "full"
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        self.quick = self.mode == "quick"
        if self.budget is None:
            self.budget = MODES[self.mode]["budget"]
        if self.settle is None:
            self.settle = MODES[self.mode]["settle"]

    def rounds(self) -> int:
        if self.repeats is not None:
            return max(1, int(self.repeats))
        return MODES[self.mode]["repeats"]


def time_interleaved(fns: dict, opts: Options, on_block: Callable[[float], None] | None = None):
    """Time the callables of one case, interleaved so that all share the machine's noise.

    After ``opts.warmup`` warm-up calls each, ``R = opts.rounds()`` rounds run; in each round
    every contender (in a rotating order) runs a block of ``k`` consecutive calls, each timed, with
    ``k`` chosen to give the contender about ``opts.budget`` seconds over all rounds. Before each
    block the process sleeps ``opts.settle`` seconds: BLAS/OpenMP pools spin for up to ~0.1 s after
    a call (OpenBLAS' thread timeout) and would otherwise steal the cores from the next contender,
    which uses a different pool (torch's OpenMP, numpy's own OpenBLAS).

    ``on_block(fraction done)``, if given, is called before each pause (progress display; it is
    never inside a timed call).

    Returns ({name: [seconds per call, ...]}, {name: results of the last warm-up call}).
    """
    names = list(fns)
    outs, est = {}, {}
    rounds = opts.rounds()
    n_steps = len(names) * (1 + rounds)
    step = 0
    for name in names:
        if on_block:
            on_block(step / n_steps)
        step += 1
        time.sleep(opts.settle)
        for _ in range(max(1, opts.warmup)):
            t0 = time.perf_counter()
            outs[name] = fns[name]()
            est[name] = time.perf_counter() - t0
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
                if on_block:
                    on_block(step / n_steps)
                step += 1
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


def stats(ts: list) -> dict:
    """Median, min and quartiles (ms) of per-call times (s), and their count."""
    a = np.array(ts) * 1e3
    return {"median_ms": float(np.median(a)), "min_ms": float(a.min()), "p25_ms": float(np.percentile(a, 25)),
            "p75_ms": float(np.percentile(a, 75)), "repeats": len(ts)}


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


def compare(outs: dict, ref_name: str) -> dict:
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
