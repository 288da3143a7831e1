"""Running one case and judging its outcome (in a worker process, or in-process for a reproducer).

Outcomes: ``ok`` (returned what the reference returns), ``raised-clear`` (an allowed exception
type whose message names an argument of the entry point), ``unclear-message`` (any other
exception), ``mismatch`` (returned something else than the reference, returned where the
reference raised, or modified an input). ``crash`` and ``hang`` are decided by the pool.

The reference is the numpy backend called with the same values in C-contiguous writeable arrays.
"""
from __future__ import annotations

import dataclasses
import re
import traceback

import numpy as np

from ._build import build_args

OUTCOMES = ("ok", "raised-clear", "unclear-message", "crash", "hang", "mismatch")
ALLOWED = (TypeError, ValueError, MemoryError, OverflowError, RuntimeError)
TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}


def _call(case, clean, backend):
    import rnnfast

    from ._targets import ENTRIES

    args = build_args(case, clean=clean)
    before = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray)}
    with rnnfast.use_backend(backend):
        try:
            out = ENTRIES[case["ep"]][1](args)
        except Exception as e:  # judged by the caller
            return None, e, args, before
    return out, None, args, before


def _flatten(r, path="out"):
    if dataclasses.is_dataclass(r) and not isinstance(r, type):
        if type(r).__name__.endswith("Cache"):
            return
        for f in dataclasses.fields(r):
            yield from _flatten(getattr(r, f.name), f"{path}.{f.name}")
    elif isinstance(r, (tuple, list)):
        for i, x in enumerate(r):
            yield from _flatten(x, f"{path}[{i}]")
    elif isinstance(r, dict):
        for k, x in r.items():
            yield from _flatten(x, f"{path}[{k!r}]")
    else:
        yield path, r


def _close(a, b, tol, overflow=False):
    """None if arrays/scalars a and b agree (NaN and Inf in the same places), else why not. With
    ``overflow`` (inputs large enough for products to overflow), a NaN on either side is accepted:
    whether an overflowed intermediate meets an opposite infinity or a zero (inf - inf, 0 * inf) depends
    on the order of operations, which neither backend fixes; every other entry must still agree."""
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray) or isinstance(b, (float, np.floating)):
        a_, b_ = np.asarray(a), np.asarray(b)
        if a_.shape != b_.shape:
            return f"shape {a_.shape} vs {b_.shape}"
        if a_.dtype != b_.dtype:
            return f"dtype {a_.dtype} vs {b_.dtype}"
        if a_.dtype.kind not in "fc":
            return None if np.array_equal(a_, b_) else "values differ"
        na, nb = np.isnan(a_), np.isnan(b_)
        if overflow:
            either = na | nb
            a_, b_ = np.where(either, np.nan, a_), np.where(either, np.nan, b_)
            na, nb = na | either, nb | either
        if not np.array_equal(na, nb):
            i = np.argwhere(na != nb)[0]
            return f"NaN at {tuple(int(j) for j in i)}: {a_[tuple(i)]} vs reference {b_[tuple(i)]}"
        fa, fb = np.isfinite(a_), np.isfinite(b_)
        if not np.array_equal(fa, fb) or not np.array_equal(a_[~fa & ~na], b_[~fb & ~nb]):
            i = np.argwhere((fa != fb) | ((a_ != b_) & ~fa & ~na))[0]
            return f"Inf at {tuple(int(j) for j in i)}: {a_[tuple(i)]} vs reference {b_[tuple(i)]}"
        if not fa.any():
            return None
        d = np.abs(a_[fa].astype(np.float64) - b_[fb].astype(np.float64))
        scale = max(1.0, float(np.abs(b_[fb]).max()))
        err = float(d.max()) / scale
        if err > (tol or TOL.get(b_.dtype, 2e-4)):
            i = np.argwhere(fa)[int(d.argmax())]
            return f"max error {err:.3g} (relative to {scale:.3g}) at {tuple(int(j) for j in i)}: " \
                   f"{a_[tuple(i)]} vs reference {b_[tuple(i)]}"
        return None
    if type(a) is not type(b):
        return f"type {type(a).__name__} vs {type(b).__name__}"
    return None if a == b else f"{a!r} vs {b!r}"


def _compare_beams(out, ref):
    """Beam search: same scores; labels may differ only between hypotheses of tied scores."""
    if len(out) != len(ref):
        return f"{len(out)} items vs {len(ref)}"
    for b, (o, r) in enumerate(zip(out, ref)):
        if len(o) != len(r):
            return f"item {b}: {len(o)} hypotheses vs {len(r)}"
        rs = [s for _, s in r]
        for j, ((lo, so), (lr, sr)) in enumerate(zip(o, r)):
            tol = 1e-4 * max(1.0, abs(sr))
            if not (so == sr or abs(so - sr) <= tol or (so != so and sr != sr)):
                return f"item {b} hypothesis {j}: score {so} vs reference {sr}"
            if lo != lr and not any(abs(rs[k] - sr) <= tol for k in (j - 1, j + 1) if 0 <= k < len(rs)):
                return f"item {b} hypothesis {j}: labels {lo} vs reference {lr} (scores {so}, {sr})"
    return None


def compare(ep, out, ref, tol=None, overflow=False):
    if ep == "ctc.beam_search":
        return _compare_beams(out, ref)
    fo, fr = list(_flatten(out)), list(_flatten(ref))
    if [p for p, _ in fo] != [p for p, _ in fr]:
        return f"structure differs: {[p for p, _ in fo][:6]} vs {[p for p, _ in fr][:6]}"
    for (p, a), (_, b) in zip(fo, fr):
        if (a is None) != (b is None):
            return f"{p}: {a!r} vs reference {b!r}"
        if a is None:
            continue
        why = _close(a, b, tol, overflow)
        if why:
            return f"{p}: {why}"
    return None


def _names_argument(msg, names):
    return any(re.search(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])", msg) for n in names)


def judge_exception(e, names):
    msg = f"{type(e).__name__}: {e}"
    if isinstance(e, ALLOWED) and _names_argument(str(e), names):
        return "raised-clear", msg
    return "unclear-message", msg + "\n" + "".join(traceback.format_tb(e.__traceback__)[-2:])


def run_case(case):
    """(outcome, detail) of one case; never raises."""
    try:
        from ._targets import ENTRIES

        names = list(case["args"]) + list(ENTRIES[case["ep"]][2])
        out, err, args, before = _call(case, False, case["backend"])
        for k, v in before.items():
            a = args[k]
            if a.shape == v.shape and not np.array_equal(a, v, equal_nan=a.dtype.kind in "fc"):
                return "mismatch", f"the call modified its input {k}"
        ref, rerr, _, _ = _call(case, True, "numpy")
        if err is not None:
            return judge_exception(err, names)
        if rerr is not None:
            return "mismatch", (f"returned, but the numpy backend with C-contiguous inputs raised "
                                f"{type(rerr).__name__}: {rerr}")
        f32 = any(d.get("dtype") == "float32" or d.get("mut") == "dtype:other" for d in case["args"].values())
        overflow = any(isinstance(d, dict) and d.get("fill") == "big" for d in case["args"].values())
        why = compare(case["ep"], out, ref, TOL[np.dtype(np.float32)] if f32 else None, overflow)
        if why:
            return "mismatch", why
        return "ok", ""
    except Exception as e:  # a defect of the fuzzer itself: report it, do not hide it
        return "unclear-message", "fuzzer error: " + "".join(traceback.format_exception(type(e), e, e.__traceback__))
