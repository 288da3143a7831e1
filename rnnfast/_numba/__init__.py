"""The ``numba`` backend: jitted kernels mirroring csrc/*.cpp, with the arguments declared in
rnnfast._contract (the same as rnnfast._core's), collected from its modules.

Importing this module raises ImportError when numba is missing, which marks the backend unavailable.
"""
import numba  # noqa: F401

from .._contract import collect_kernels
from . import ctc as _ctc

collect_kernels(__name__, globals())  # every declared kernel its modules define


def release_scratch() -> None:
    """Free the CTC scratch buffers kept between calls (``rnnfast.functional.clear_workspace``)."""
    own = getattr(_ctc, "release_scratch", None)
    if callable(own):
        own()
        return
    with _ctc._pool_lock:  # the pool of scaled-pass buffers in _numba/ctc.py
        _ctc._pool.clear()
