"""torch.autograd.Functions over rnnfast's kernels (one layer, one direction; one cell step; CTC).

Tensors go to the kernels as zero-copy NumPy views (``t.detach().numpy()``; a non-contiguous tensor is
copied once by the functional API), and the kernels' outputs come back as zero-copy tensors
(``torch.from_numpy``). The inputs are also saved with ``ctx.save_for_backward`` so that torch raises
its usual error if one is modified in place between forward and backward (the forward cache refers to
their memory).

Backward with ``create_graph=True`` (double backward) recomputes the recurrence with torch operations
(:mod:`rnnfast.torch._reference`) and differentiates that, so higher-order gradients are torch's own.
"""
from __future__ import annotations

import numpy as np
import torch

from rnnfast import ctc as _ctc
from rnnfast import functional as F
from rnnfast.torch import _reference as R
from rnnfast.torch._fallback import warn_once

__all__ = [
    "CTCLossFunction",
    "GRUCellFunction",
    "GRUFunction",
    "LSTMCellFunction",
    "LSTMFunction",
    "RNNCellFunction",
    "RNNFunction",
    "ctc_loss_function",
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "rnn",
    "rnn_cell",
]


def _np(t):
    """Zero-copy NumPy view of a CPU tensor (None stays None)."""
    return None if t is None else t.detach().numpy()


def _t(a):
    return None if a is None else torch.from_numpy(a)


def _lengths_array(lengths, B: int):
    if lengths is None:
        return None
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    arr = np.ascontiguousarray(np.asarray(lengths), dtype=np.int64)
    if arr.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one length per batch item), got {arr.shape}")
    return arr


def _double_backward(ctx, ref, inputs, grads_out, outs_filter=None):
    """Gradients of ``ref(*inputs)`` (torch operations) for ``create_graph=True``: differentiable."""
    warn_once("double backward (create_graph=True): the backward is recomputed with torch operations")
    want = [i for i, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[i]]
    outs = ref(*inputs)
    pairs = [(o, g) for o, g in zip(outs, grads_out) if g is not None]
    res = [None] * len(ctx.needs_input_grad)
    if not want or not pairs:
        return tuple(res)
    got = torch.autograd.grad([o for o, _ in pairs], [inputs[i] for i in want], [g for _, g in pairs],
                              create_graph=True, allow_unused=True)
    for i, g in zip(want, got):
        res[i] = g if g is not None else torch.zeros_like(inputs[i])
    return tuple(res)


class _NoGradCtx:
    """Stands in for ctx when nothing needs a gradient: the Functions' forward runs without autograd's
    bookkeeping (a streaming step at B=1 is short enough for that to matter) and keeps nothing."""

    def set_materialize_grads(self, value):
        pass

    def save_for_backward(self, *tensors):
        pass


def run(fn, tensors, *args):
    """``fn.apply(*args)``, or ``fn.forward`` without autograd when no tensor in ``tensors`` needs a gradient."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return fn.apply(*args)
    return fn.forward(_NoGradCtx(), *args)


def _grads(ctx, values):
    """Tensors for the inputs that need a gradient, None for the others."""
    return tuple(_t(v) if (need and v is not None) else None for v, need in zip(values, ctx.needs_input_grad))


# ------------------------------------------------------------------------------------ sequences
class GRUFunction(torch.autograd.Function):
    """One GRU layer in one direction: (x (T,B,I), h0 (B,H) or None, w_ih, w_hh, b_ih, b_hh, lengths, reverse)
    -> (y (T,B,H), h_n (B,H)). ``lengths`` is a (B,) int64 NumPy array or None; ``reverse`` runs each
    sequence backwards from its last valid step (the reverse direction of a bidirectional layer)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        ctx.set_materialize_grads(False)
        y, h_n, cache = F.gru_forward(_np(x), _np(h0), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh), lengths=lengths,
                                      reverse=reverse)
        ctx.cache, ctx.reverse, ctx.lengths = cache, reverse, lengths
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh)
        return _t(y), _t(h_n)

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, lambda *a: R.gru(*a, ctx.lengths, ctx.reverse),
                                    (x, h0, w_ih, w_hh, b_ih, b_hh), (dy, dh_n))
        g = F.gru_backward(_np(dy), _np(dh_n), ctx.cache, need_dx=ctx.needs_input_grad[0])
        return _grads(ctx, (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)) + (None, None)


class RNNFunction(torch.autograd.Function):
    """One Elman RNN layer in one direction: (x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity)
    -> (y, h_n); see :class:`GRUFunction`."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity):
        ctx.set_materialize_grads(False)
        y, h_n, cache = F.rnn_forward(_np(x), _np(h0), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh),
                                      nonlinearity=nonlinearity, lengths=lengths, reverse=reverse)
        ctx.cache, ctx.reverse, ctx.lengths, ctx.nonlinearity = cache, reverse, lengths, nonlinearity
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh)
        return _t(y), _t(h_n)

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, lambda *a: R.rnn(*a, ctx.lengths, ctx.reverse, ctx.nonlinearity),
                                    (x, h0, w_ih, w_hh, b_ih, b_hh), (dy, dh_n))
        g = F.rnn_backward(_np(dy), _np(dh_n), ctx.cache, need_dx=ctx.needs_input_grad[0])
        return _grads(ctx, (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)) + (None, None, None)


class LSTMFunction(torch.autograd.Function):
    """One LSTM layer in one direction: (x, h0 (B,P) or None, c0 (B,H) or None, w_ih, w_hh, b_ih, b_hh,
    w_hr (P,H) or None, lengths, reverse) -> (y (T,B,P), h_n (B,P), c_n (B,H))."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
        ctx.set_materialize_grads(False)
        y, h_n, c_n, cache = F.lstm_forward(_np(x), _np(h0), _np(c0), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh),
                                            w_hr=_np(w_hr), lengths=lengths, reverse=reverse)
        ctx.cache, ctx.reverse, ctx.lengths = cache, reverse, lengths
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
        return _t(y), _t(h_n), _t(c_n)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n):
        saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, lambda *a: R.lstm(*a, ctx.lengths, ctx.reverse), saved, (dy, dh_n, dc_n))
        g = F.lstm_backward(_np(dy), _np(dh_n), _np(dc_n), ctx.cache,
                            need_dx=ctx.needs_input_grad[0])
        return _grads(ctx, (g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dw_hr)) + (None, None)


# ----------------------------------------------------------------------------------------- cells
class GRUCellFunction(torch.autograd.Function):
    """One GRU step: (x (B,I), h (B,H) or None, w_ih, w_hh, b_ih, b_hh) -> h_new (B,H)."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        ctx.set_materialize_grads(False)
        h_new, cache = F.gru_cell_forward(_np(x), _np(h), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh))
        ctx.cache = cache
        ctx.save_for_backward(x, h, w_ih, w_hh, b_ih, b_hh)
        return _t(h_new)

    @staticmethod
    def backward(ctx, dh_new):
        saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, lambda *a: (R.gru_cell(*a),), saved, (dh_new,))
        if dh_new is None:
            return (None,) * 6
        g = F.gru_cell_backward(_np(dh_new), ctx.cache)
        return _grads(ctx, (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh))


class RNNCellFunction(torch.autograd.Function):
    """One Elman RNN step: (x, h or None, w_ih, w_hh, b_ih, b_hh, nonlinearity) -> h_new."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
        ctx.set_materialize_grads(False)
        h_new, cache = F.rnn_cell_forward(_np(x), _np(h), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh),
                                          nonlinearity=nonlinearity)
        ctx.cache, ctx.nonlinearity = cache, nonlinearity
        ctx.save_for_backward(x, h, w_ih, w_hh, b_ih, b_hh)
        return _t(h_new)

    @staticmethod
    def backward(ctx, dh_new):
        saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, lambda *a: (R.rnn_cell(*a, ctx.nonlinearity),), saved, (dh_new,))
        g = F.rnn_cell_backward(_np(dh_new), ctx.cache)
        return _grads(ctx, (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)) + (None,)


class LSTMCellFunction(torch.autograd.Function):
    """One LSTM step: (x (B,I), h (B,P) or None, c (B,H) or None, w_ih, w_hh, b_ih, b_hh, w_hr or None)
    -> (h_new (B,P), c_new (B,H))."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
        ctx.set_materialize_grads(False)
        h_new, c_new, cache = F.lstm_cell_forward(_np(x), _np(h), _np(c), _np(w_ih), _np(w_hh), _np(b_ih), _np(b_hh),
                                                  w_hr=_np(w_hr))
        ctx.cache = cache
        ctx.save_for_backward(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        return _t(h_new), _t(c_new)

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _double_backward(ctx, R.lstm_cell, saved, (dh_new, dc_new))
        g = F.lstm_cell_backward(_np(dh_new), _np(dc_new), ctx.cache)
        return _grads(ctx, (g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dw_hr))


# ------------------------------------------------------------------------------------------- CTC
class CTCLossFunction(torch.autograd.Function):
    """CTC loss of ``log_probs`` (T,B,C) or (T,C): (log_probs, targets, input_lengths, target_lengths as
    NumPy int arrays, blank, reduction, zero_infinity) -> loss (0-d, or (B,) for reduction "none").
    The gradient is computed in the forward pass (as torch does) when ``log_probs`` requires it."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
        need = log_probs.requires_grad
        res = _ctc.ctc_loss(_np(log_probs), targets, input_lengths, target_lengths, blank=blank,
                            reduction=reduction, zero_infinity=zero_infinity, return_grad=need)
        loss, grad = res if need else (res, None)
        ctx.grad, ctx.reduction = grad, reduction
        ctx.save_for_backward(log_probs)
        return torch.from_numpy(np.asarray(loss))

    @staticmethod
    def backward(ctx, dloss):
        ctx.saved_tensors  # noqa: B018  (torch's check that log_probs was not modified in place)
        if torch.is_grad_enabled():  # create_graph=True: as torch's ctc_loss, differentiating again raises
            with torch.no_grad():
                g = CTCLossFunction.backward(ctx, dloss)[0].detach().requires_grad_(True)
            err = torch._C._functions.DelayedError(
                b"ctc_loss has no second derivative (as torch.nn.functional.ctc_loss)", 1)
            return (err(g),) + (None,) * 6
        g = torch.from_numpy(ctx.grad)
        if ctx.reduction == "none" and dloss.dim() == 1:
            g = g * dloss.view(1, -1, 1)   # per item (B,) upstream gradients
        else:
            g = g * dloss
        return g, None, None, None, None, None, None


# ------------------------------------------------------------------------------- plain functions
def gru(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None, reverse=False):
    """GRU layer (one direction) on tensors: x (T,B,I), h0 (B,H) or None -> (y (T,B,H), h_n (B,H))."""
    return GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths_array(lengths, x.shape[1]), bool(reverse))


def rnn(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh", lengths=None, reverse=False):
    """Elman RNN layer (one direction) on tensors: x (T,B,I), h0 (B,H) or None -> (y, h_n)."""
    return RNNFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths_array(lengths, x.shape[1]), bool(reverse),
                             nonlinearity)


def lstm(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, lengths=None, reverse=False):
    """LSTM layer (one direction) on tensors: x (T,B,I), h0 (B,P), c0 (B,H) or None -> (y, h_n, c_n)."""
    return LSTMFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, _lengths_array(lengths, x.shape[1]),
                              bool(reverse))


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step on tensors: x (B,I), h (B,H) or None -> h_new (B,H)."""
    return GRUCellFunction.apply(x, h, w_ih, w_hh, b_ih, b_hh)


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step on tensors: x (B,I), h (B,H) or None -> h_new (B,H)."""
    return RNNCellFunction.apply(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One LSTM step on tensors: x (B,I), h (B,P), c (B,H) or None -> (h_new, c_new)."""
    return LSTMCellFunction.apply(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)


def ctc_loss_function(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                      zero_infinity=False):
    """:class:`CTCLossFunction` with NumPy int targets and lengths (see :func:`rnnfast.torch.ctc_loss`)."""
    return CTCLossFunction.apply(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
