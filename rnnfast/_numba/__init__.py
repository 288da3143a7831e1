"""The ``numba`` backend: jitted kernels mirroring csrc/*.cpp, same signatures as rnnfast._core.

Importing this module raises ImportError when numba is missing, which marks the backend unavailable.
"""
import numba  # noqa: F401

from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward  # noqa: F401,E402
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward  # noqa: F401,E402
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward  # noqa: F401,E402
from .ctc import ctc_beam_search, ctc_loss  # noqa: F401,E402
from .ctc_prob import ctc_prob_alpha_beta, ctc_prob_loss  # noqa: F401,E402
