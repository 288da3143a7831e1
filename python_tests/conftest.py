"""Shared test helpers: the ``backend`` fixture, tolerances, relative errors and torch references.

Test files use the fixture by name and import the helpers: ``from conftest import TOL, rel_err``.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import rnnfast

# Subprocesses started by the tests (fuzzer workers, other instruction-set levels, fork and memory-limit
# checks) must import the package under test: with the repository root as their working directory,
# Python would otherwise put the source tree, which holds no compiled extension, first on sys.path.
os.environ.setdefault("PYTHONSAFEPATH", "1")

BACKENDS = rnnfast.available_backends()

# relative error against torch autograd (float32 sums of a few hundred terms stay within 2e-5)
TOL = {np.float64: 1e-10, np.float32: 2e-5}


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Every backend available here, selected for the test's thread."""
    with rnnfast.use_backend(request.param):
        yield request.param


def to_numpy(a) -> np.ndarray:
    """A torch tensor (detached) or anything array-like, as a NumPy array."""
    if hasattr(a, "detach"):
        return a.detach().numpy()
    return np.asarray(a)


def rel_err(a, b) -> float:
    """max |a - b| / max |b| (b the reference; the absolute error when b is all zeros, 0 for two
    empty arrays). Shapes must match; NaN anywhere gives NaN (which fails every ``<`` check)."""
    a, b = to_numpy(a), to_numpy(b)
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    if b.size == 0:
        return 0.0
    diff = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
    den = float(np.abs(b).max())
    return diff / den if den > 0 else diff


def torch_dtype(dtype):
    """The torch dtype of a NumPy float dtype."""
    import torch

    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]


def torch_module_like(ours, tcls, *args, **kw):
    """A torch module of class ``tcls`` (built with ``*args, **kw``) holding the weights of the
    rnnfast module ``ours`` (same parameter names, loaded through ``state_dict``)."""
    import torch

    theirs = tcls(*args, **kw)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return theirs


@contextlib.contextmanager
def solo_as_when_busy():
    """The C++ kernels' calls run on their caller alone, as a call does while another call's team is
    running: no BLAS thread control (so no team) and the BLAS on one thread, as the running team leaves
    it. OpenBLAS's own threads would split a product otherwise than one thread does (with its Haswell
    kernels, different bits)."""
    from threadpoolctl import threadpool_limits

    from rnnfast import _core
    from rnnfast._blas import thread_control_addresses
    runs = _core.team_runs()
    with threadpool_limits(limits=1, user_api="blas"):
        _core.set_blas_threads(0, 0)
        try:
            yield
        finally:
            _core.set_blas_threads(*thread_control_addresses())
    assert _core.team_runs() == runs, "a team ran"
