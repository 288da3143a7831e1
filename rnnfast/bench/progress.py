"""Progress display of a run: "suite 2 of 7", a bar per suite and the ETA of the whole run.

The ETA adds up a nominal time for every remaining case (its contenders' timing budget and pauses)
and scales it by how long the finished work took against its own nominal time. On a terminal the bar
is redrawn in place (never inside a timed call); elsewhere (a file, a pipe) one header line per
suite carries the same information.
"""
from __future__ import annotations

import time

from .report import fmt_s


class Progress:
    def __init__(self, plan: list, out, live=None, width: int = 24):
        """plan: [(suite name, number of cases, nominal seconds per case), ...] in run order."""
        self.plan = list(plan)
        self.out = out
        self.live = out.isatty() if live is None and hasattr(out, "isatty") else bool(live)
        self.width = width
        self.t0 = time.perf_counter()
        self.suite = -1          # index in plan
        self.case = 0            # cases done in the current suite
        self.frac = 0.0          # fraction of the current case done
        self.done_nominal = 0.0  # nominal seconds of the finished cases
        self._shown = False
        self._last = 0.0

    # ------------------------------------------------------------------ figures
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _remaining_nominal(self) -> float:
        rest = 0.0
        for i, (_, n, per) in enumerate(self.plan):
            if i > self.suite:
                rest += n * per
            elif i == self.suite:
                rest += max(0.0, n - self.case - self.frac) * per
        return rest

    def eta(self) -> float:
        """Estimated seconds left for the whole run."""
        per = self.plan[self.suite][2] if 0 <= self.suite < len(self.plan) else 0.0
        done = self.done_nominal + self.frac * per
        factor = self.elapsed() / done if done > 0 else 1.0
        return self._remaining_nominal() * min(max(factor, 0.5), 20.0)

    def text(self) -> str:
        name, n, _ = self.plan[self.suite]
        k = int(self.width * min(1.0, (self.case + self.frac) / max(n, 1)))
        bar = "#" * k + "." * (self.width - k)
        return (f"[suite {self.suite + 1} of {len(self.plan)}: {name}] |{bar}| {self.case}/{n} cases, "
                f"{fmt_s(self.elapsed())} elapsed, ETA {fmt_s(self.eta())}")

    # ------------------------------------------------------------------ events
    def start_suite(self, index: int) -> None:
        self.clear()
        self.suite, self.case, self.frac = index, 0, 0.0
        name, n, _ = self.plan[index]
        print(f"## suite {index + 1} of {len(self.plan)}: {name} ({n} cases; {fmt_s(self.elapsed())} elapsed, "
              f"ETA of the run {fmt_s(self.eta())})", file=self.out, flush=True)
        self.draw(force=True)

    def update(self, frac: float) -> None:
        self.frac = min(max(frac, 0.0), 1.0)
        self.draw()

    def case_done(self) -> None:
        self.done_nominal += self.plan[self.suite][2]
        self.case += 1
        self.frac = 0.0
        self.draw(force=True)

    def skip_suite(self, index: int) -> None:
        """A suite that could not run: its cases leave the plan."""
        name, _, per = self.plan[index]
        self.plan[index] = (name, 0, per)

    def draw(self, force: bool = False) -> None:
        if not self.live or self.suite < 0:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        self.out.write("\r\x1b[2K" + self.text())
        self.out.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the bar (before printing a line)."""
        if self.live and self._shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._shown = False
