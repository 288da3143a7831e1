"""rnnfast's benchmark: rnnfast backends against PyTorch CPU and against the BLAS (GEMM) floor.

Run ``rnnfast bench`` (or ``python -m rnnfast.bench``; ``python -m bench`` from the repo root).

Run modes
---------
* default: every registered suite on its two or three most telling shapes (``Suite.default_shapes``),
  the cpp and numba backends, 3 interleaved rounds of ~0.3 s per contender; a few minutes on 2 cores.
* ``--full``: the whole protocol (``Suite.shapes``, every backend, 5 rounds of ~1.5 s per contender),
  the figures of bench/RESULTS.md.
* ``--quick``: tiny shapes, no timing budget: a smoke test of the machinery, not a measurement.

Every mode measures the same way: one process, the same thread count for every contender, median
time per call over interleaved rounds, the GEMM floor = the kernel's matrix products alone in the BLAS
the kernels use (each in its fastest equivalent form unless ``--floor stated``). A progress bar per
suite with the run's ETA, one line per case, and a summary table end the run; each suite's JSON is
rewritten after every case (``"complete": false`` until the suite ends).

Modules: :mod:`.suite` (the interface below), :mod:`.timing` (options, interleaved timing, load
meter), :mod:`.floor` (GEMM floor, large-SGEMM rate), :mod:`.machine` (machine line, threads,
backends), :mod:`.report` (case lines, summary table, JSON, Markdown), :mod:`.progress`,
:mod:`.runner` (running suites), :mod:`.suites` (the registry). :mod:`.common` re-exports the names
suites used to import from it.

Suite interface
---------------
A suite is a module ``rnnfast/bench/suites/<name>.py`` defining ``SUITE``, an instance of a
:class:`Suite` subclass, registered by one line in :data:`rnnfast.bench.suites.SUITES`. It defines

* ``name``, ``title``; ``params``: the names of a shape's values, e.g. ``("T", "B", "I", "H")``;
* ``shapes`` (``--full``), ``default_shapes`` (the default run; if not set, the first two of
  ``shapes``), ``quick_shapes`` (``--quick``): tuples of ``params``;
* ``passes``: default ``("fwd", "fwdbwd")``; ``baseline``: the baseline contender's name, default
  ``"torch"``;
* ``setup(shape, dtype, rng)`` -> the data (any object) shared by all contenders of one shape;
* ``baseline_impl(data)`` -> ``{pass: callable}`` for the baseline (import torch inside: an
  ImportError is reported as "torch unavailable" and the run goes on without it);
* ``backend_impl(data, backend)`` -> ``{pass: callable}`` for one rnnfast backend;
* optionally ``flops(shape)`` -> ``{pass: flop count}``, ``floor_impl(data)`` -> ``{pass: callable}``
  (usually :class:`GemmFloor` objects), ``targets`` (:class:`Target` goals, checked on float32 runs),
  ``err_tol``, ``flops_note``, ``floor_note``, ``label(shape)``, ``contenders(...)``.

Every callable takes no argument and returns a dict of named results (NumPy arrays or torch tensors,
e.g. ``{"y": y, "dx": dx}``) or None; results with the same name are compared against the
baseline's after the warm-up (``max_rel_err``: a check that the contenders compute the same thing).
"""
from .suite import FLOOR, RNNFAST_BACKENDS, Suite, Target

__all__ = ["FLOOR", "RNNFAST_BACKENDS", "GemmFloor", "GemmOp", "Options", "Suite", "Target"]


def __getattr__(name):  # the floor imports numba: loaded on first use, so that `rnnfast --help` stays fast
    if name in ("GemmFloor", "GemmOp"):
        from . import floor

        return getattr(floor, name)
    if name == "Options":
        from .timing import Options

        return Options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
