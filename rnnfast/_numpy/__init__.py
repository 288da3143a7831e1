"""The ``numpy`` backend: readable reference kernels with the arguments declared in rnnfast._contract
(the same as rnnfast._core's), collected from its modules (gru.py, lstm.py, rnn.py, ctc.py, ctc_prob.py).
It alone has ``ctc_beam_search_item`` (beam search with a language-model callback): the other backends
fall back to it."""
from .._contract import collect_kernels

collect_kernels(__name__, globals())
