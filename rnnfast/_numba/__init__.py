"""The ``numba`` backend: jitted kernels mirroring csrc/*.cpp, with the arguments declared in
rnnfast._contract (the same as rnnfast._core's).

Importing this module raises ImportError when numba is missing, which marks the backend unavailable.
"""
import numba  # noqa: F401

from . import ctc as _ctc
from .ctc import ctc_beam_search, ctc_loss  # noqa: F401
from .ctc_prob import ctc_prob_alpha_beta, ctc_prob_loss  # noqa: F401
from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward  # noqa: F401
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward  # noqa: F401
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward  # noqa: F401


def release_scratch() -> None:
    """Free the CTC scratch buffers kept between calls (``rnnfast.functional.clear_workspace``)."""
    own = getattr(_ctc, "release_scratch", None)
    if callable(own):
        own()
        return
    with _ctc._pool_lock:  # the pool of scaled-pass buffers in _numba/ctc.py
        _ctc._pool.clear()
