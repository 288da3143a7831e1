"""Backend registry: ``cpp`` (compiled kernels), ``numba`` (jitted), ``numpy`` (reference).

Every backend is a module-like object exposing the same kernel functions with the same
signatures (outputs first, then inputs, then flags), e.g.::

    gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after)

The functional API (``rnnfast.functional``) validates inputs, allocates every array and calls the
kernel of the active backend. See ``docs/design.md`` and ``csrc/*.h`` for the contract.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading

BACKENDS = ("cpp", "numba", "numpy")
_DEFAULT_ORDER = ("cpp", "numba", "numpy")

_loaded: dict = {}
_errors: dict = {}
_state = threading.local()
_global = {"name": None}


def _load(name: str):
    if name in _loaded:
        return _loaded[name]
    if name in _errors:
        return None
    try:
        if name == "cpp":
            mod = importlib.import_module("rnnfast._cpp")
        elif name == "numba":
            mod = importlib.import_module("rnnfast._numba")
        elif name == "numpy":
            mod = importlib.import_module("rnnfast._numpy")
        else:
            raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")
    except ImportError as e:  # compiled module missing, numba not installed, ...
        _errors[name] = f"{type(e).__name__}: {e}"
        return None
    _loaded[name] = mod
    return mod


def available_backends() -> list:
    """Names of the backends that import on this machine, in default-preference order."""
    return [n for n in _DEFAULT_ORDER if _load(n) is not None]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")
    if _load(name) is None:
        raise RuntimeError(f"rnnfast backend {name!r} is not available: {_errors.get(name)}")
    return name


def _default() -> str:
    env = os.environ.get("RNNFAST_BACKEND")
    if env:
        return _check_name(env.strip().lower())
    for n in _DEFAULT_ORDER:
        if _load(n) is not None:
            return n
    raise RuntimeError("no rnnfast backend is available")  # numpy always is


def get_backend() -> str:
    """Name of the active backend (thread-local override, else global, else default)."""
    name = getattr(_state, "name", None) or _global["name"]
    if name is None:
        name = _global["name"] = _default()
    return name


def set_backend(name: str) -> None:
    """Set the global backend: ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Raises ``RuntimeError`` saying why if the backend cannot be used here.
    """
    _global["name"] = _check_name(name)


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager selecting a backend for the current thread::

        with rnnfast.use_backend("numba"):
            y, h, cache = rnnfast.functional.gru_forward(x, None, w_ih, w_hh)
    """
    _check_name(name)
    prev = getattr(_state, "name", None)
    _state.name = name
    try:
        yield name
    finally:
        _state.name = prev


def kernels(name: str | None = None):
    """The kernel module of backend ``name`` (default: the active one)."""
    return _loaded[_check_name(name or get_backend())]
