"""The ``cpp`` backend: the compiled kernels of ``rnnfast._core`` with SciPy's BLAS installed."""
from . import _core
from ._blas import gemm_addresses, thread_control_addresses

if not _core.blas_ready():
    _core.set_blas(*gemm_addresses())
    _core.set_blas_threads(*thread_control_addresses())

from ._core import (  # noqa: E402,F401
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
)
from ._core import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward  # noqa: E402,F401
from ._core import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward  # noqa: E402,F401
from ._core import ctc_beam_search, ctc_loss  # noqa: E402,F401
from ._core import ctc_prob_alpha_beta, ctc_prob_loss  # noqa: E402,F401
