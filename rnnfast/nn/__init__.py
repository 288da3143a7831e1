"""PyTorch-like modules on NumPy arrays, with explicit backward passes.

Recurrent layers (:mod:`rnnfast.nn.rnn`) run on rnnfast's kernels; parameter names and
``state_dict`` layout are PyTorch's, so ``torch`` weights load directly.
"""
from ._module import Module, Parameter  # noqa: F401
from .clockwork import ClockworkRNN  # noqa: F401
from .container import Sequential  # noqa: F401
from .layers import Dropout, Embedding, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .loss import CrossEntropyLoss, CTCLoss, MSELoss  # noqa: F401
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401

__all__ = ["Module", "Parameter", "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "ClockworkRNN", "Linear",
           "Embedding", "Dropout", "ReLU", "Tanh", "Sigmoid", "LogSoftmax", "Softmax", "CrossEntropyLoss", "MSELoss",
           "CTCLoss", "Sequential"]
