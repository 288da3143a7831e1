"""Backend registry: ``cpp`` (compiled kernels), ``numba`` (jitted), ``numpy`` (reference).

Every backend is a module exposing kernel functions with the arguments declared in
``rnnfast._contract.KERNELS`` (outputs first, then inputs, then flags), e.g.::

    gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after)

A backend may lack a kernel: :func:`kernel` then resolves the call to the next backend in
:data:`BACKENDS` order that has it (logged at debug level on the ``rnnfast`` logger). The functional
layer (``rnnfast.functional``, ``rnnfast.ctc``) validates inputs, allocates every array and calls the
kernel resolved here. See ``docs/design.md``.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading

from . import _contract

BACKENDS = ("cpp", "numba", "numpy")  # the names, in default-preference and fallback order
_MODULES = {"cpp": "rnnfast._cpp", "numba": "rnnfast._numba", "numpy": "rnnfast._numpy"}

_log = logging.getLogger("rnnfast")
_loaded: dict = {}
_errors: dict = {}
_state = threading.local()
_global = {"name": None}
_resolved: dict = {}  # (backend asked for, kernel) -> (backend that runs it, function)


def _load(name: str):
    if name in _loaded:
        return _loaded[name]
    if name in _errors:
        return None
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")
    try:
        mod = importlib.import_module(_MODULES[name])
    except ImportError as e:  # compiled module missing, numba not installed, ...
        _errors[name] = f"{type(e).__name__}: {e}"
        return None
    _loaded[name] = mod
    return mod


def available_backends() -> list:
    """Names of the backends that import on this machine, in default-preference order."""
    return [n for n in BACKENDS if _load(n) is not None]


def backend_errors() -> dict:
    """``{name: reason}`` for every backend that cannot be used here (the import error that made it
    unavailable); empty when all of :data:`BACKENDS` load."""
    available_backends()
    return dict(_errors)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")
    if _load(name) is None:
        raise RuntimeError(f"rnnfast backend {name!r} is not available: {_errors.get(name)}")
    return name


def _default() -> str:
    env = os.environ.get("RNNFAST_BACKEND")
    if env:
        try:
            return _check_name(env.strip().lower())
        except (ValueError, RuntimeError) as e:
            raise type(e)(f"RNNFAST_BACKEND={env!r}: {e}") from None
    for n in BACKENDS:
        if _load(n) is not None:
            return n
    raise RuntimeError("no rnnfast backend is available")  # numpy always is


def get_backend() -> str:
    """Name of the active backend: ``use_backend`` (this thread), else ``set_backend``, else the
    ``RNNFAST_BACKEND`` environment variable, else the first available of ``cpp``, ``numba``, ``numpy``."""
    name = getattr(_state, "name", None) or _global["name"]
    if name is None:
        name = _global["name"] = _default()
    return name


def set_backend(name: str) -> None:
    """Set the global backend: ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Raises ``RuntimeError`` saying why if the backend cannot be used here.
    """
    _global["name"] = _check_name(name)


class use_backend(contextlib.ContextDecorator):
    """Context manager (or decorator) selecting a backend for the current thread::

        with rnnfast.use_backend("numba"):
            y, h, cache = rnnfast.functional.gru_forward(x, None, w_ih, w_hh)

    A class rather than a generator: entering and leaving costs ~0.6 us instead of ~1.3 us, which
    shows around a kernel call of a few hundred microseconds.
    """
    __slots__ = ("name", "_prev")

    def __init__(self, name: str):
        self.name = _check_name(name)

    def __enter__(self) -> str:
        self._prev = getattr(_state, "name", None)
        _state.name = self.name
        return self.name

    def __exit__(self, *exc) -> None:
        _state.name = self._prev

    def _recreate_cm(self):  # as a decorator: a fresh one per call (recursion, threads)
        return type(self)(self.name)


def kernels(name: str | None = None):
    """The kernel module of backend ``name`` (default: the active one): its functions take exactly the
    arguments of the kernel contract (rnnfast/_contract.py), outputs first, every array allocated and
    checked by the caller (the kernels re-check shapes and dtypes and raise, but convert nothing).
    For callers whose per-call work is smaller than the functional layer's argument handling, such as a
    one-row recurrent cell step; everyone else calls :mod:`rnnfast.functional`. Public as
    ``rnnfast.backend_kernels``."""
    return _loaded[_check_name(name or get_backend())]


def kernel(kernel_name: str, name: str | None = None):
    """``(backend, function)`` running kernel ``kernel_name`` for backend ``name`` (default: the
    active one): that backend's function, or, if it lacks the kernel, the next backend's in
    :data:`BACKENDS` order that has it. The resolution is cached; a fallback call is logged at debug
    level."""
    if name is None:
        name = getattr(_state, "name", None) or _global["name"] or get_backend()
    try:
        return _resolved[(name, kernel_name)]
    except KeyError:
        return _resolve(name, kernel_name)


def _resolve(name: str, kernel_name: str):
    if kernel_name not in _contract.KERNELS:
        raise ValueError(f"unknown kernel {kernel_name!r}")
    _check_name(name)
    for other in BACKENDS[BACKENDS.index(name):]:
        mod = _load(other)
        fn = getattr(mod, kernel_name, None) if mod is not None else None
        if fn is None:
            continue
        if _contract.CHECK_CALLS:
            fn = _contract.checked(kernel_name, fn)
        if other != name:
            fn = _logged_fallback(fn, kernel_name, name, other)
        _resolved[(name, kernel_name)] = (other, fn)
        return other, fn
    raise NotImplementedError(f"kernel {kernel_name!r} is in none of the backends {BACKENDS[BACKENDS.index(name):]}")


def _logged_fallback(fn, kernel_name, asked, runs):
    def run(*args, **kwargs):
        _log.debug("rnnfast: backend %r has no kernel %r; running it on %r", asked, kernel_name, runs)
        return fn(*args, **kwargs)
    run.__wrapped__ = fn
    return run


def release_scratch() -> None:
    """Ask every loaded backend to free the scratch memory its kernels keep between calls (a backend
    module or its compiled core may define ``release_scratch()``)."""
    for mod in list(_loaded.values()):
        for owner in (mod, getattr(mod, "_core", None)):
            fn = getattr(owner, "release_scratch", None)
            if callable(fn):
                fn()
                break
