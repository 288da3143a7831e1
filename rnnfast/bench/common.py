"""Compatibility module: the names suites and scripts imported from ``rnnfast.bench.common`` before
the machinery was split by job (:mod:`.suite`, :mod:`.timing`, :mod:`.floor`, :mod:`.machine`,
:mod:`.report`, :mod:`.runner`). New code imports from ``rnnfast.bench`` or those modules."""
from __future__ import annotations

from .floor import (
           GemmFloor,
           GemmOp,
           best_variant,
           floor_engine,
           gemm_callable,
           sgemm_rate,
)
from .machine import (
           backend_errors,
           machine_info,
           machine_line,
           resolve_backends,
           set_threads,
)
from .report import default_json_path, markdown, repo_root, write_json
from .report import fmt_ms as _fmt_ms
from .runner import run_suite
from .suite import FLOOR, RNNFAST_BACKENDS, Suite, Target
from .timing import LoadMeter, Options, compare, rel_err, stats, time_interleaved

__all__ = [
           "FLOOR",
           "RNNFAST_BACKENDS",
           "GemmFloor",
           "GemmOp",
           "LoadMeter",
           "Options",
           "Suite",
           "Target",
           "_fmt_ms",
           "backend_errors",
           "best_variant",
           "compare",
           "default_json_path",
           "floor_engine",
           "gemm_callable",
           "machine_info",
           "machine_line",
           "markdown",
           "rel_err",
           "repo_root",
           "resolve_backends",
           "run_suite",
           "set_threads",
           "sgemm_rate",
           "stats",
           "time_interleaved",
           "write_json",
]
