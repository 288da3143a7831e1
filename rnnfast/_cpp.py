"""The ``cpp`` backend: the compiled kernels of ``rnnfast._core`` with SciPy's BLAS installed; this
module exports every kernel of the contract (rnnfast/_contract.py) that ``_core`` has."""
from . import _contract, _core
from ._blas import gemm_addresses, thread_control_addresses

if not _core.blas_ready():
    _core.set_blas(*gemm_addresses())
    _core.set_blas_threads(*thread_control_addresses())

globals().update({k: getattr(_core, k) for k in _contract.KERNELS if hasattr(_core, k)})
