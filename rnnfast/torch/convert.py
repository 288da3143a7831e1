"""Swap torch's recurrent modules for their rnnfast twins in a model, and back, in place."""
from __future__ import annotations

import torch

from rnnfast.torch import modules as _m

__all__ = ["convert", "revert"]

_TWINS = {torch.nn.GRU: _m.GRU, torch.nn.LSTM: _m.LSTM, torch.nn.RNN: _m.RNN, torch.nn.GRUCell: _m.GRUCell,
          torch.nn.LSTMCell: _m.LSTMCell, torch.nn.RNNCell: _m.RNNCell, torch.nn.CTCLoss: _m.CTCLoss}
_ORIGINALS = {v: k for k, v in _TWINS.items()}


def _swap(model: torch.nn.Module, table: dict) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    for m in model.modules():
        cls = table.get(type(m))  # exact types only: a user's subclass keeps its own forward
        if cls is not None:
            m.__class__ = cls
    return model


def convert(model: torch.nn.Module) -> torch.nn.Module:
    """Make every ``torch.nn.GRU``, ``LSTM``, ``RNN``, ``GRUCell``, ``LSTMCell``, ``RNNCell`` and ``CTCLoss`` in
    ``model`` (nested at any depth, or ``model`` itself) run on rnnfast's kernels, in place, and return
    ``model``.

    Each module keeps its identity, parameters (the same ``Parameter`` objects, so an optimizer made
    before still holds them), buffers, hooks and ``state_dict``; only its class changes to the rnnfast
    twin (a subclass of the torch class, so ``isinstance`` checks still hold). Subclasses of these torch
    classes defined by the user are left alone (their ``forward`` may differ).
    """
    return _swap(model, _TWINS)


def revert(model: torch.nn.Module) -> torch.nn.Module:
    """Undo :func:`convert`: every rnnfast twin in ``model`` becomes its torch class again, in place."""
    return _swap(model, _ORIGINALS)
