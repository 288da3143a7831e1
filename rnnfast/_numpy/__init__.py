"""The ``numpy`` backend: readable reference kernels with the arguments declared in rnnfast._contract
(the same as rnnfast._core's). It alone has ``ctc_beam_search_item`` (beam search with a language-model
callback): the other backends fall back to it."""
from .ctc import beam_search_item as ctc_beam_search_item  # noqa: F401
from .ctc import ctc_beam_search, ctc_loss  # noqa: F401
from .ctc_prob import ctc_prob_alpha_beta, ctc_prob_loss  # noqa: F401
from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward  # noqa: F401
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward  # noqa: F401
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward  # noqa: F401
