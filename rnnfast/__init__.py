"""rnnfast: fast CPU recurrent-network (GRU, LSTM, Elman RNN) and CTC kernels for NumPy,
with forward and backward passes and three interchangeable backends (cpp, numba, numpy)."""
from ._blas_arch import select_openblas_coretype as _select_openblas_coretype
from ._blas_arch import select_openblas_thread_timeout as _select_openblas_thread_timeout

_select_openblas_coretype()  # before anything loads SciPy's OpenBLAS (see rnnfast/_blas_arch.py)
_select_openblas_thread_timeout()

from . import functional
from ._backend import (
    BACKENDS,
    available_backends,
    backend_errors,
    get_backend,
    kernels as backend_kernels,
    set_backend,
    use_backend,
)
from ._config import show_config
from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "available_backends",
    "backend_errors",
    "backend_kernels",
    "functional",
    "get_backend",
    "get_num_threads",
    "nn",
    "set_backend",
    "set_num_threads",
    "show_config",
    "use_backend",
]


def __getattr__(name):  # lazy submodules
    import importlib

    if name in ("nn", "ctc", "mytorch", "optim", "init"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):  # rnnfast.save(model, "m.npz"), rnnfast.load("m.npz")
        return getattr(importlib.import_module(".serialization", __name__), name)
    raise AttributeError(f"module 'rnnfast' has no attribute {name!r}")
