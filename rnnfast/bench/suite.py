"""The suite interface: :class:`Suite` (what a benchmark suite declares) and :class:`Target`
(a performance goal checked on its cases). See the package docstring of :mod:`rnnfast.bench`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

RNNFAST_BACKENDS = ("cpp", "numba", "numpy")
FLOOR = "floor"  # name of the GEMM-floor contender in results


@dataclass
class Target:
    """A performance goal checked on every matching case, e.g. Target("cpp", "speedup", ">=", 8, [shape]).

    metric: "speedup" (baseline time / impl time), "floor" (impl time / floor time), "sgemm" (impl
    GFLOP/s / the large-SGEMM rate measured at the start of the run) or "vs:<impl>" (impl time / other
    impl's time). shapes: the shapes it applies to (None = all);
    passes: the passes it applies to (None = all).
    """
    impl: str
    metric: str
    op: str
    value: float
    shapes: list | None = None
    passes: tuple | None = None

    def describe(self) -> str:
        what = {"speedup": f"speed-up vs baseline {self.op} {self.value:g}x",
                "floor": f"time / GEMM floor {self.op} {self.value:g}",
                "sgemm": f"GFLOP/s / large SGEMM {self.op} {self.value:g}"}.get(self.metric)
        if what is None and self.metric.startswith("vs:"):
            what = f"time / {self.metric[3:]} time {self.op} {self.value:g}"
        return f"{self.impl}: {what or self.metric}"

    def evaluate(self, case: dict, params) -> dict | None:
        """The check on one case (a result dict: target, label, pass, value, met), or None if the
        target does not apply to it. met is None when the figure is missing (e.g. no baseline)."""
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
        elif self.metric == "sgemm":
            v = st.get("sgemm_fraction")
        elif self.metric.startswith("vs:") and self.metric[3:] in res:
            v = st["median_ms"] / res[self.metric[3:]]["median_ms"]
        else:
            v = None
        met = None if v is None else (v >= self.value if self.op == ">=" else v <= self.value)
        out = {"target": self.describe(), "label": case["label"], "pass": case["pass"], "value": v, "met": met}
        if v is None:
            out["note"] = "figure not measured"
        return out


class Suite:
    """Base class of a benchmark suite; the interface is described in :mod:`rnnfast.bench`."""
    name = ""
    title = ""
    params: tuple = ()
    shapes: ClassVar[list] = []           # the full protocol (--full)
    default_shapes: list | None = None  # the default run's shapes; None = the first two of ``shapes``
    quick_shapes: ClassVar[list] = []     # --quick (smoke test)
    passes: tuple = ("fwd", "fwdbwd")
    baseline = "torch"
    flops_note = ""     # how flops() counts, for the Markdown header
    floor_note = ""     # what the floor times, for the Markdown header
    err_tol: ClassVar[dict] = {"float32": 1e-3, "float64": 1e-9}  # max_rel_err above this prints a warning
    targets: ClassVar[list] = []  # Target objects, checked and reported (float32 runs only)

    def shapes_for(self, mode: str) -> list:
        """The shapes of a run mode: "full", "default" or "quick"."""
        if mode == "quick":
            return [tuple(s) for s in self.quick_shapes]
        if mode == "default":
            return [tuple(s) for s in (self.default_shapes if self.default_shapes is not None
                                       else self.shapes[:2])]
        return [tuple(s) for s in self.shapes]

    def label(self, shape) -> str:
        return " ".join(f"{p}={v}" for p, v in zip(self.params, shape))

    def flops(self, shape) -> dict | None:
        return None

    def setup(self, shape, dtype, rng):
        raise NotImplementedError

    def baseline_impl(self, data) -> dict:
        raise NotImplementedError

    def backend_impl(self, data, backend: str) -> dict:
        raise NotImplementedError

    def floor_impl(self, data) -> dict | None:
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
