"""``torch.nn`` recurrent modules and CTC loss running on rnnfast's kernels.

Each class subclasses its torch counterpart (``rnnfast.torch.GRU`` is a ``torch.nn.GRU``): the same
constructor, parameters, ``state_dict``, ``repr`` and hooks; only ``forward`` differs. Calls that the
kernels cannot take (see :func:`rnnfast.torch._fallback.reason`) run torch's ``forward`` instead, with
a one-time warning per reason. The bridge is opaque to ``torch.compile`` (a graph break).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnfast.torch import _fallback as _fb
from rnnfast.torch import _functions as _fn

__all__ = ["GRU", "LSTM", "RNN", "CTCLoss", "GRUCell", "LSTMCell", "RNNCell", "ctc_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _packed_index(batch_sizes, sorted_indices, B: int):
    """Rows of a (T*B, F) time-major padded array (batch in the caller's order) that make up the data
    of a PackedSequence with these ``batch_sizes`` and ``sorted_indices``."""
    bs = batch_sizes.to(torch.int64)
    T = bs.numel()
    t = torch.repeat_interleave(torch.arange(T), bs)
    starts = torch.cumsum(bs, 0) - bs
    j = torch.arange(int(bs.sum())) - torch.repeat_interleave(starts, bs)
    b = j if sorted_indices is None else sorted_indices.to(torch.int64)[j]
    return t * B + b


def _param(mod, name):
    return getattr(mod, name, None)


# torch.compile: the bridge (and everything it calls: NumPy code, the kernels) runs eagerly, a graph
# break. Disabling only the entry points keeps dynamo from tracing the frames below them as new frames.
_eager = torch.compiler.disable


def _run_nograd(fn, tensors, *args):
    """A Function's forward without autograd (the caller found that nothing needs a gradient)."""
    return fn.forward(_fn._NoGradCtx(), *args)


def _run_grad(fn, tensors, *args):
    return fn.apply(*args)


class _SequenceForward:
    """forward() shared by GRU, LSTM and RNN; ``_torch_base`` is the torch class whose forward is the fallback."""

    _torch_base: type

    def forward(self, input, hx=None):
        return _sequence_forward(self, input, hx)


@_eager
def _sequence_forward(mod, input, hx):
    lstm = mod.mode == "LSTM"
    packed = isinstance(input, PackedSequence)
    data = input.data if packed else input
    if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
    states = [] if hx is None else (list(hx) if lstm else [hx])
    flat = mod._flat_weights  # torch's own list, in _flat_weights_names order
    why = _fb.reason([data] + states + flat)
    if why is not None:
        _fb.warn_once(why)
        return mod._torch_base.forward(mod, input, hx)

    name = type(mod).__name__
    if packed:
        batch_sizes = input.batch_sizes
        if hx is not None:
            mod.check_forward_args(data, tuple(hx) if lstm else hx, batch_sizes)
        else:
            mod.check_input(data, batch_sizes)
        x, lengths_t = pad_packed_sequence(input)  # (T, B, I) in the caller's batch order
        lengths = lengths_t.to(torch.int64).numpy()
        unbatched = False
    else:
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: expected input to be 2-D (unbatched) or 3-D, got {input.dim()}-D input "
                             f"of shape {tuple(input.shape)}")
        unbatched = input.dim() == 2
        if unbatched:
            for s in states:
                if s.dim() != 2:
                    raise RuntimeError(f"{name}: for unbatched 2-D input, hx should also be 2-D but got "
                                       f"{s.dim()}-D tensor of shape {tuple(s.shape)}")
            input = input.unsqueeze(0 if mod.batch_first else 1)
            states = [s.unsqueeze(1) for s in states]
        else:
            for s in states:
                if s.dim() != 3:
                    raise RuntimeError(f"{name}: for batched 3-D input, hx should also be 3-D but got "
                                       f"{s.dim()}-D tensor of shape {tuple(s.shape)}")
        if states:
            mod.check_forward_args(input, tuple(states) if lstm else states[0], None)
        else:
            mod.check_input(input, None)
        x = input.transpose(0, 1) if mod.batch_first else input
        lengths = None

    T, B = x.shape[:2]
    D = 2 if mod.bidirectional else 1
    L = mod.num_layers
    n = len(flat) // (L * D)  # w_ih, w_hh[, b_ih, b_hh][, w_hr] per layer and direction
    h0 = states[0] if states else None
    c0 = states[1] if lstm and states else None
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in [x] + states + flat)
    run = _run_grad if grad else _run_nograd
    layer_in, h_n, c_n = x, [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            i = layer * D + d
            w = flat[i * n:(i + 1) * n]
            w_ih, w_hh = w[0], w[1]
            b_ih, b_hh = (w[2], w[3]) if mod.bias else (None, None)
            h0_i = None if h0 is None else h0[i]
            if lstm:
                y, h, c = run(_fn.LSTMFunction, (), layer_in, h0_i, None if c0 is None else c0[i], w_ih, w_hh, b_ih,
                              b_hh, w[-1] if mod.proj_size > 0 else None, lengths, d == 1)
                c_n.append(c)
            elif mod.mode == "GRU":
                y, h = run(_fn.GRUFunction, (), layer_in, h0_i, w_ih, w_hh, b_ih, b_hh, lengths, d == 1)
            else:
                y, h = run(_fn.RNNFunction, (), layer_in, h0_i, w_ih, w_hh, b_ih, b_hh, lengths, d == 1,
                           "relu" if mod.mode == "RNN_RELU" else "tanh")
            outs.append(y)
            h_n.append(h)
        out = outs[0] if D == 1 else torch.cat(outs, 2)
        if mod.dropout > 0 and mod.training and layer < L - 1:
            out = torch.nn.functional.dropout(out, p=mod.dropout, training=True)
        layer_in = out
    h_n = h_n[0].unsqueeze(0) if len(h_n) == 1 else torch.stack(h_n)
    if lstm:
        c_n = c_n[0].unsqueeze(0) if len(c_n) == 1 else torch.stack(c_n)
    hidden = (h_n, c_n) if lstm else h_n
    out = layer_in
    if packed:
        idx = _packed_index(input.batch_sizes, input.sorted_indices, B)
        data_out = out.reshape(T * B, out.shape[2]).index_select(0, idx)
        return PackedSequence(data_out, input.batch_sizes, input.sorted_indices, input.unsorted_indices), hidden
    if unbatched:
        out = out.squeeze(1)
        hidden = tuple(s.squeeze(1) for s in hidden) if lstm else hidden.squeeze(1)
    elif mod.batch_first:
        out = out.transpose(0, 1)
    return out, hidden


class GRU(_SequenceForward, torch.nn.GRU):
    """``torch.nn.GRU`` (same arguments, parameters and state_dict) on rnnfast's GRU kernel."""
    _torch_base = torch.nn.GRU


class LSTM(_SequenceForward, torch.nn.LSTM):
    """``torch.nn.LSTM`` (with ``proj_size``) on rnnfast's LSTM kernel."""
    _torch_base = torch.nn.LSTM


class RNN(_SequenceForward, torch.nn.RNN):
    """``torch.nn.RNN`` (tanh or relu) on rnnfast's Elman RNN kernel."""
    _torch_base = torch.nn.RNN


# ----------------------------------------------------------------------------------------- cells
def _cell_prep(mod, input, states, name):
    if input.dim() not in (1, 2):
        raise ValueError(f"{name}: expected input to be 1-D (unbatched) or 2-D, got {input.dim()}-D input of shape "
                         f"{tuple(input.shape)}")
    if input.shape[-1] != mod.input_size:
        raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]}, expected "
                           f"{mod.input_size} (input of shape {tuple(input.shape)})")
    batched = input.dim() == 2
    B = input.shape[0] if batched else 1
    out = []
    for s, size, sname in states:
        if s is None:
            out.append(None)
            continue
        if s.dim() != input.dim():
            raise ValueError(f"{name}: {sname} must be {input.dim()}-D like the input, got shape {tuple(s.shape)}")
        s = s if batched else s.unsqueeze(0)
        if tuple(s.shape) != (B, size):
            raise RuntimeError(f"{name}: {sname} of shape {tuple(s.shape)}, expected {(B, size)} "
                               "(batch, hidden_size)")
        out.append(s)
    return (input if batched else input.unsqueeze(0)), out, batched


def _cell_weights(mod):
    return mod.weight_ih, mod.weight_hh, _param(mod, "bias_ih"), _param(mod, "bias_hh")


class GRUCell(torch.nn.GRUCell):
    """``torch.nn.GRUCell`` on rnnfast's fused GRU step."""

    def forward(self, input, hx=None):
        return _gru_cell_forward(self, input, hx)


@_eager
def _gru_cell_forward(mod, input, hx):
    why = _fb.reason([input, hx, *_cell_weights(mod)])
    if why is not None:
        _fb.warn_once(why)
        return torch.nn.GRUCell.forward(mod, input, hx)
    x, (h,), batched = _cell_prep(mod, input, [(hx, mod.hidden_size, "hx")], "GRUCell")
    out = _fn.run(_fn.GRUCellFunction, (x, h, *_cell_weights(mod)), x, h, *_cell_weights(mod))
    return out if batched else out.squeeze(0)


class RNNCell(torch.nn.RNNCell):
    """``torch.nn.RNNCell`` (tanh or relu) on rnnfast's fused Elman step."""

    def forward(self, input, hx=None):
        return _rnn_cell_forward(self, input, hx)


@_eager
def _rnn_cell_forward(mod, input, hx):
    why = _fb.reason([input, hx, *_cell_weights(mod)])
    if why is not None:
        _fb.warn_once(why)
        return torch.nn.RNNCell.forward(mod, input, hx)
    if mod.nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"RNNCell: unknown nonlinearity {mod.nonlinearity!r}")
    x, (h,), batched = _cell_prep(mod, input, [(hx, mod.hidden_size, "hx")], "RNNCell")
    out = _fn.run(_fn.RNNCellFunction, (x, h, *_cell_weights(mod)), x, h, *_cell_weights(mod), mod.nonlinearity)
    return out if batched else out.squeeze(0)


class LSTMCell(torch.nn.LSTMCell):
    """``torch.nn.LSTMCell`` on rnnfast's fused LSTM step."""

    def forward(self, input, hx=None):
        return _lstm_cell_forward(self, input, hx)


@_eager
def _lstm_cell_forward(mod, input, hx):
    if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
    h, c = (None, None) if hx is None else hx
    why = _fb.reason([input, h, c, *_cell_weights(mod)])
    if why is not None:
        _fb.warn_once(why)
        return torch.nn.LSTMCell.forward(mod, input, hx)
    H = mod.hidden_size
    x, (h, c), batched = _cell_prep(mod, input, [(h, H, "h"), (c, H, "c")], "LSTMCell")
    w = _cell_weights(mod)
    h_new, c_new = _fn.run(_fn.LSTMCellFunction, (x, h, c, *w), x, h, c, *w, None)
    return (h_new, c_new) if batched else (h_new.squeeze(0), c_new.squeeze(0))


# ------------------------------------------------------------------------------------------- CTC
def _int_numpy(name, v):
    if isinstance(v, torch.Tensor):
        if v.is_floating_point() or v.is_complex():
            raise TypeError(f"ctc_loss: {name} must hold integers, got a tensor of dtype {v.dtype}")
        return v.detach().cpu().to(torch.int64).numpy()
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must hold integers, got {type(v).__name__} of dtype {arr.dtype}")
    return arr.astype(np.int64)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False):
    """``torch.nn.functional.ctc_loss`` on rnnfast's CTC kernel (same arguments and semantics).

    log_probs : (T, B, C) or unbatched (T, C) float32/float64 log-probabilities
    targets : (B, S) padded or 1-D concatenated labels (tensor, int32/int64)
    input_lengths, target_lengths : (B,) tensors or tuples/lists of ints (0-d/ints when unbatched)
    reduction : "none" | "mean" | "sum";  zero_infinity : infeasible items get loss 0 and zero gradient
    """
    return _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)


@_eager
def _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    why = _fb.reason([log_probs])
    if why is None:
        for nm, v in (("targets", targets), ("input_lengths", input_lengths), ("target_lengths", target_lengths)):
            if isinstance(v, torch.Tensor) and v.device.type != "cpu":
                why = f"{nm} on device '{v.device}' (rnnfast's kernels run on the CPU)"
    if why is not None:
        _fb.warn_once(why)
        return torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                                            zero_infinity)
    return _fn.CTCLossFunction.apply(log_probs, _int_numpy("targets", targets),
                                     _int_numpy("input_lengths", input_lengths),
                                     _int_numpy("target_lengths", target_lengths), int(blank), reduction,
                                     bool(zero_infinity))


class CTCLoss(torch.nn.CTCLoss):
    """``torch.nn.CTCLoss`` on rnnfast's CTC kernel: ``CTCLoss(blank=0, reduction='mean', zero_infinity=False)``."""

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)
