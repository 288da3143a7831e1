"""A property-based fuzzer of rnnfast's public entry points on every backend.

Hypothesis draws cases (shapes with 0 and 1 sizes, float32/float64, strided, negative-stride,
Fortran, read-only and misaligned arrays, NaN/Inf/huge/denormal values, one argument made
invalid); worker processes run them (:mod:`rnnfast.fuzz._pool`) and judge each call against the
numpy backend (:mod:`rnnfast.fuzz._run`). A call must either return what the numpy backend
returns or raise a clear exception (TypeError, ValueError, MemoryError, OverflowError or
RuntimeError whose message names an argument); anything else is a finding.

    python -m rnnfast.fuzz --minutes 10          # table of outcomes, reproducers of findings
    python -m rnnfast.fuzz --repro '<case json>' # run one case in this process

Requires ``hypothesis``.
"""
from __future__ import annotations

import collections
import re
import time
import zlib

from ._build import describe, dumps
from ._run import OUTCOMES, run_case

__all__ = ["draw_cases", "Fuzzer", "run_case", "OUTCOMES", "describe", "dumps"]


def entry_points():
    from ._targets import ENTRIES

    return [e for e in ENTRIES if not e.startswith("_")]


def _all_entries():
    from ._targets import ENTRIES

    return list(ENTRIES)


def draw_cases(ep, backend, n, seed):
    """Up to ``n`` distinct cases of entry point ``ep`` drawn by hypothesis (deterministic in ``seed``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from ._targets import ENTRIES

    out = []

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(ENTRIES[ep][0], st.integers(0, 2 ** 31 - 1))
    def collect(args, s):
        out.append({"ep": ep, "backend": backend, "seed": s, "args": args})

    collect()
    return out


def _signature(ep, backend, outcome, detail):
    """What makes two findings the same finding: first line of the detail without numbers."""
    first = detail.strip().splitlines()[0] if detail.strip() else ""
    return ep, backend, outcome, re.sub(r"[-+]?\d[\d.e+-]*", "#", first)[:160]


class Fuzzer:
    """Counts outcomes per (entry point, backend) and keeps one reproducer per distinct finding."""

    def __init__(self, backends, workers=1, timeout=120.0, threads=1, known=()):
        from ._pool import Pool

        self.pool = Pool(backends, workers, timeout, threads)
        self.counts = collections.defaultdict(collections.Counter)
        self.findings = collections.OrderedDict()  # signature -> dict(case, detail, count, previous, known)
        self.known = list(known)  # (entry-point regex, backend regex, outcome, detail regex, reason)

    def known_reason(self, ep, backend, outcome, detail):
        for kep, kbe, kout, kdet, reason in self.known:
            if re.fullmatch(kep, ep) and re.fullmatch(kbe, backend) and kout == outcome and re.search(kdet, detail):
                return reason
        return None

    def run(self, cases, stop=None):
        def on_result(case, outcome, detail, previous):
            ep, be = case["ep"], case["backend"]
            self.counts[(ep, be)][outcome] += 1
            if outcome in ("ok", "raised-clear"):
                return
            sig = _signature(ep, be, outcome, detail)
            f = self.findings.get(sig)
            if f is None:
                self.findings[sig] = dict(ep=ep, backend=be, outcome=outcome, detail=detail, case=case, count=1,
                                          previous=previous, known=self.known_reason(ep, be, outcome, detail))
            else:
                f["count"] += 1
        self.pool.run(cases, on_result, stop)

    def close(self):
        self.pool.close()
        for reason, previous in self.pool.exit_crashes:
            self.counts[("(worker exit)", "-")]["crash"] += 1
            sig = ("(worker exit)", "-", "crash", reason)
            self.findings.setdefault(sig, dict(ep="(worker exit)", backend="-", outcome="crash", detail=reason,
                                               case=previous[-1] if previous else None, count=1, previous=previous,
                                               known=None))

    @property
    def calls(self):
        return sum(sum(c.values()) for c in self.counts.values())

    def table(self) -> str:
        cols = ("calls",) + OUTCOMES
        w0 = max([len(f"{ep} [{be}]") for ep, be in self.counts] + [10])
        lines = [f"{'entry point [backend]':<{w0}} " + " ".join(f"{c:>15}" for c in cols)]
        total = collections.Counter()
        for (ep, be), c in sorted(self.counts.items()):
            total.update(c)
            lines.append(f"{ep + ' [' + be + ']':<{w0}} " + f"{sum(c.values()):>15} " +
                         " ".join(f"{c[o]:>15}" for o in OUTCOMES))
        lines.append(f"{'total':<{w0}} " + f"{sum(total.values()):>15} " +
                     " ".join(f"{total[o]:>15}" for o in OUTCOMES))
        return "\n".join(lines)

    def report(self, unknown_only=False) -> str:
        out = []
        for f in self.findings.values():
            if unknown_only and f["known"]:
                continue
            head = f"[{f['outcome']}] {f['ep']} [{f['backend']}] x{f['count']}" + \
                (f" (known: {f['known']})" if f["known"] else "")
            out.append(head)
            out.append("  " + f["detail"].strip().replace("\n", "\n  "))
            if f["case"] is not None:
                out.append("  case: " + describe(f["case"]))
                out.append("  reproduce: python -m rnnfast.fuzz --repro '" + dumps(f["case"]) + "'")
            if f["outcome"] == "crash" and f["previous"]:
                out.append("  (the same worker ran before it: " +
                           "; ".join(f"{p['ep']}({describe(p)})" for p in f["previous"]) + ")")
        return "\n".join(out)


def fuzz(minutes=None, calls=None, entry_filter=None, backends=None, workers=1, timeout=120.0, threads=1,
         per_batch=25, seed=0, known=(), progress=None):
    """Draw and run rounds over every (entry point, backend) until ``minutes`` or ``calls`` are
    spent (one round without either). Returns the :class:`Fuzzer` with its counts and findings."""
    import rnnfast

    # the self-test entries only when the filter asks for them
    eps = [e for e in _all_entries() if (entry_filter is None and not e.startswith("_")) or
           (entry_filter is not None and re.search(entry_filter, e) and (not e.startswith("_") or "_" in entry_filter))]
    if not eps:
        raise ValueError(f"no entry point matches {entry_filter!r}")
    backends = backends or rnnfast.available_backends()
    fz = Fuzzer(backends, workers, timeout, threads, known)
    t_end = time.monotonic() + 60 * minutes if minutes else None

    def stop():
        return (t_end is not None and time.monotonic() > t_end) or (calls is not None and fz.calls >= calls)

    def rounds(be):  # each backend at its own pace (numba compiles, cpp workers restart after crashes)
        rnd = 0
        while True:
            for ep in eps:
                s = zlib.crc32(f"{seed}:{rnd}:{ep}:{be}".encode()) & 0x7FFFFFFF
                yield from draw_cases(ep, be, per_batch, s)
                if progress and be == backends[0]:
                    progress(fz, rnd, ep)
            rnd += 1
            if t_end is None and calls is None:
                return

    try:
        fz.run({be: rounds(be) for be in backends}, stop)
    finally:
        fz.close()
    return fz
