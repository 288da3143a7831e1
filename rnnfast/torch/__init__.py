"""rnnfast's kernels inside PyTorch models.

``rnnfast.torch.GRU``, ``LSTM``, ``RNN``, ``GRUCell``, ``LSTMCell``, ``RNNCell`` are ``torch.nn`` modules
(subclasses of torch's, same arguments, parameters and ``state_dict``) whose forward and backward run
rnnfast's kernels through ``torch.autograd.Function``\\ s on zero-copy NumPy views of CPU tensors;
``ctc_loss`` / ``CTCLoss`` likewise. ``convert(model)`` swaps torch's modules in a model for these, in
place; ``revert(model)`` swaps them back. Calls the kernels cannot take (CUDA tensors, dtypes other than
float32/float64, torch.func transforms, forward-mode AD) run torch's implementation with a one-time
warning per reason; double backward (``create_graph=True``) differentiates a torch re-computation.

Threads: torch's intra-op pool (``torch.set_num_threads``) and rnnfast's (``rnnfast.set_num_threads``)
take turns on the same cores; see docs/torch.md.
"""
if __name__ == "torch":  # this directory itself is on sys.path (a script run from inside rnnfast/)
    raise ImportError("rnnfast/torch was imported as the top-level 'torch' package because the rnnfast/ "
                      "directory is on sys.path; run scripts from outside the rnnfast package directory")

try:
    import torch as _torch  # noqa: F401  (absolute: PyTorch, never this package)
except ImportError as e:  # pragma: no cover - exercised by the test in a subprocess
    raise ImportError("rnnfast.torch needs PyTorch, which is not installed: "
                      'pip install "rnnfast[torch]"') from e

from rnnfast.torch._fallback import RnnfastFallbackWarning, reset_warnings
from rnnfast.torch._functions import (
    CTCLossFunction,
    GRUCellFunction,
    GRUFunction,
    LSTMCellFunction,
    LSTMFunction,
    RNNCellFunction,
    RNNFunction,
    gru,
    gru_cell,
    lstm,
    lstm_cell,
    rnn,
    rnn_cell,
)
from rnnfast.torch.convert import convert, revert
from rnnfast.torch.modules import (
    GRU,
    LSTM,
    RNN,
    CTCLoss,
    GRUCell,
    LSTMCell,
    RNNCell,
    ctc_loss,
)

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "CTCLoss",
    "CTCLossFunction",
    "GRUCell",
    "GRUCellFunction",
    "GRUFunction",
    "LSTMCell",
    "LSTMCellFunction",
    "LSTMFunction",
    "RNNCell",
    "RNNCellFunction",
    "RNNFunction",
    "RnnfastFallbackWarning",
    "convert",
    "ctc_loss",
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "reset_warnings",
    "revert",
    "rnn",
    "rnn_cell",
]
