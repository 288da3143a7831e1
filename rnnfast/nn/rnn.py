"""Recurrent modules on NumPy arrays with PyTorch's API, parameter names and initialisation:
``GRU``, ``LSTM``, ``RNN`` (multi-layer, bidirectional, batch_first, dropout between layers,
LSTM ``proj_size``, packed-sequence ``lengths``) and the single-step ``GRUCell``, ``LSTMCell``,
``RNNCell``. Each has ``forward`` and an explicit ``backward`` that accumulates parameter
gradients into ``p.grad`` (until ``zero_grad()``), running on rnnfast's fused kernels
(:mod:`rnnfast.functional`) of the active backend.

A PyTorch model's weights load directly::

    m = rnnfast.nn.GRU(32, 64, num_layers=2, bidirectional=True)
    m.load_state_dict({k: v.numpy() for k, v in torch_gru.state_dict().items()})
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import _buffers as _buf
from .. import functional as F
from .._validate import as_float_array, as_lengths, check_shape
from ._args import allocating, bool_arg, check_parameter_bytes, dropout_mask, dtype_arg, int_arg, prob_arg
from ._module import Module, Parameter

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]

class _RNNBase(Module):
    """Shared machinery of GRU, LSTM and RNN: parameters, layers, directions, dropout, lengths."""

    _gates = {"GRU": 3, "LSTM": 4, "RNN_TANH": 1, "RNN_RELU": 1}

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=np.float32, seed=None):
        super().__init__()
        # torch's rules: sizes are integers (input and hidden size >= 1), flags are bools, dropout in [0, 1]
        input_size, hidden_size = int_arg("input_size", input_size, 1), int_arg("hidden_size", hidden_size, 1)
        num_layers, proj_size = int_arg("num_layers", num_layers, 1), int_arg("proj_size", proj_size, 0)
        dropout = prob_arg("dropout", dropout)
        if proj_size and proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size, got proj_size={proj_size}, "
                             f"hidden_size={hidden_size}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool_arg("bias", bias), bool_arg("batch_first", batch_first)
        self.dropout, self.bidirectional = dropout, bool_arg("bidirectional", bidirectional)
        self.proj_size = proj_size
        self.dtype = dtype_arg(dtype)
        self._rng = np.random.default_rng(seed)
        D = 2 if bidirectional else 1
        G = self._gates[mode] * hidden_size
        P = proj_size or hidden_size
        k = 1.0 / math.sqrt(hidden_size)
        self._names = []  # per (layer, direction): the parameter names in torch's order
        who = f"{type(self).__name__}(input_size={input_size}, hidden_size={hidden_size}, num_layers={num_layers})"
        per_dir = lambda n_in: G * (n_in + P + 2) + proj_size * hidden_size  # noqa: E731
        check_parameter_bytes(who, D * (per_dir(input_size) + (num_layers - 1) * per_dir(P * D)), self.dtype)
        with allocating(who):
            self._init_parameters(D, G, P, k)
        self._cache = None

    def _init_parameters(self, D, G, P, k):
        input_size, bias, proj_size, hidden_size = self.input_size, self.bias, self.proj_size, self.hidden_size
        for layer in range(self.num_layers):
            in_l = input_size if layer == 0 else P * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (G, in_l)), ("weight_hh", (G, P))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = {}
                for base, shape in shapes:  # torch: uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter
                    setattr(self, base + sfx, Parameter(self._rng.uniform(-k, k, shape).astype(self.dtype)))
                    names[base] = base + sfx
                self._names.append(names)

    # ------------------------------------------------------------------------------ helpers
    @property
    def _D(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _p(self, layer: int, d: int, base: str) -> Optional[Parameter]:
        name = self._names[layer * self._D + d].get(base)
        return None if name is None else getattr(self, name)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for nm, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                            ("proj_size", 0)):
            if getattr(self, nm) != default:
                s += f", {nm}={getattr(self, nm)}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s + f", dtype={self.dtype.name}"

    def _prep_input(self, x, lengths):
        x = as_float_array("x", x, (2, 3), self.dtype)
        unbatched = x.ndim == 2
        if unbatched:  # (T, I) as torch accepts: one sequence
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        x = np.ascontiguousarray(x)
        T, B, I = x.shape
        if T == 0:  # as torch
            raise ValueError(f"x: expected a sequence length larger than 0, got shape "
                             f"{x.shape if not unbatched else x.shape[::2]}")
        if I != self.input_size:
            raise ValueError(f"x: expected input_size={self.input_size} features in its last dimension, got shape "
                             f"{x.shape if not unbatched else x.shape[::2]}")
        lengths = as_lengths(lengths, B, T)
        return x, unbatched, lengths

    def _prep_state(self, name, h, B, size, unbatched):
        LD = self.num_layers * self._D
        if h is None:
            return None
        h = as_float_array(name, h, (2, 3), self.dtype)
        if unbatched and h.ndim == 2:
            h = h[:, None, :]
        check_shape(name, h, (LD, B, size), "(num_layers * num_directions, batch, size)")
        return h

    def _layer_forward(self, layer, d, x, h0, c0, lengths):  # pragma: no cover - per mode
        """Direction d (1: reverse, the kernels' reverse flag) of a layer: (y, h_n, c_n, cache)."""
        raise NotImplementedError

    def _layer_backward(self, cache, dy, dh, dc):  # pragma: no cover - per mode
        raise NotImplementedError

    # ------------------------------------------------------------------------------ forward
    def _forward(self, x, h0, c0, lengths):
        x, unbatched, lengths = self._prep_input(x, lengths)
        T, B, _ = x.shape
        D, P, H = self._D, self._out_size, self.hidden_size
        h0 = self._prep_state("h0", h0, B, P, unbatched)
        c0 = self._prep_state("c0", c0, B, H, unbatched) if self.mode == "LSTM" else None
        layer_in, caches, masks = x, [], []
        h_n = np.empty((self.num_layers * D, B, P), self.dtype)
        c_n = np.empty((self.num_layers * D, B, H), self.dtype) if self.mode == "LSTM" else None
        for layer in range(self.num_layers):
            # one direction: the kernel's output is the layer's; two: each fills its half
            out = _buf.empty((T, B, D * P), self.dtype) if D == 2 else None
            for d in range(D):
                i = layer * D + d
                y, hn, cn, cache = self._layer_forward(layer, d, layer_in, None if h0 is None else h0[i],
                                                       None if c0 is None else c0[i], lengths)
                if D == 1:
                    out = y
                else:
                    out[:, :, d * P:(d + 1) * P] = y
                h_n[i] = hn
                if c_n is not None:
                    c_n[i] = cn
                caches.append(cache)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = dropout_mask(self._rng, out.shape, self.dropout, self.dtype)
                out = out * mask
            masks.append(mask)
            layer_in = out
        self._cache = dict(caches=caches, masks=masks, unbatched=unbatched, T=T, B=B,
                           has_h0=h0 is not None, has_c0=c0 is not None)
        y = layer_in
        if unbatched:
            y, h_n = y[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if c_n is not None else None
        elif self.batch_first:
            y = np.ascontiguousarray(y.transpose(1, 0, 2))
        return y, h_n, c_n

    # ------------------------------------------------------------------------------ backward
    def _backward(self, dout, dh_n, dc_n):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        c = self._cache
        T, B, D, P, H = c["T"], c["B"], self._D, self._out_size, self.hidden_size
        LD = self.num_layers * D
        if dout is not None:
            dout = as_float_array("dout", dout, (2, 3), self.dtype)
            if c["unbatched"]:
                check_shape("dout", dout, (T, D * P), "(T, num_directions * hidden), the shape of the output")
                dout = dout[:, None, :]
            elif self.batch_first:
                check_shape("dout", dout, (B, T, D * P), "(batch, T, num_directions * hidden), the shape of the output")
                dout = dout.transpose(1, 0, 2)
            else:
                check_shape("dout", dout, (T, B, D * P), "(T, batch, num_directions * hidden), the shape of the output")
        states = []
        for name, g, size in (("dh_n", dh_n, P), ("dc_n", dc_n, H)):
            if g is not None:
                g = as_float_array(name, g, (2, 3), self.dtype)
                if c["unbatched"] and g.ndim == 2:
                    g = g[:, None, :]
                check_shape(name, g, (LD, B, size), "(num_layers * num_directions, batch, size)")
            states.append(g)
        dh_n, dc_n = states
        dh0 = np.zeros((LD, B, P), self.dtype)
        dc0 = np.zeros((LD, B, H), self.dtype) if self.mode == "LSTM" else None
        d_layer_out = dout
        dx = None
        for layer in range(self.num_layers - 1, -1, -1):
            if d_layer_out is not None and c["masks"][layer] is not None:
                d_layer_out = d_layer_out * c["masks"][layer]
            dx = None
            for d in range(D):
                i = layer * D + d
                dy = None if d_layer_out is None else d_layer_out[:, :, d * P:(d + 1) * P]
                dxi, dhi, dci = self._layer_backward(c["caches"][i], dy, None if dh_n is None else dh_n[i],
                                                     None if dc_n is None else dc_n[i])
                if dx is None:
                    dx = dxi
                else:
                    dx += dxi
                dh0[i] = dhi
                if dc0 is not None:
                    dc0[i] = dci
            d_layer_out = dx
        if c["unbatched"]:
            dx, dh0 = dx[:, 0], dh0[:, 0]
            dc0 = dc0[:, 0] if dc0 is not None else None
        elif self.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, dh0, dc0

    def _accumulate(self, layer_d, grads, names):
        for base, g in names:
            p = self._p(*layer_d, base)
            if p is not None and g is not None:
                p.accumulate(g)


class GRU(_RNNBase):
    """Multi-layer GRU (PyTorch's ``torch.nn.GRU``: gate order r, z, n, reset applied after W_hn).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional : as torch
    dtype : np.float32 (default) or np.float64
    seed : seed of the initialisation (and dropout) RNG; None for fresh entropy

    ``out, h_n = gru(x, h0=None, lengths=None)``: x (T, B, I) ((B, T, I) with batch_first, or
    (T, I) unbatched); out (T, B, D*H); h0, h_n (num_layers*D, B, H). ``lengths`` (B,) gives
    packed-sequence semantics (outputs past a length are 0; h_n is the state at the last valid
    step; the reverse direction reads each sequence backwards from its last valid step).
    ``dx, dh0 = gru.backward(dout, dh_n=None)`` accumulates every ``p.grad``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=np.float32, seed=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         dtype, seed)

    def _layer_forward(self, layer, d, x, h0, c0, lengths):
        w = [self._p(layer, d, b) for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        y, hn, cache = F.gru_forward(x, h0, *[None if p is None else p.data for p in w], lengths=lengths,
                                     reverse=d == 1)
        return y, hn, None, ((layer, d), cache)

    def _layer_backward(self, cache, dy, dh, dc):
        ld, fc = cache
        g = F.gru_backward(dy, dh, fc)
        self._accumulate(ld, g, (("weight_ih", g.dw_ih), ("weight_hh", g.dw_hh), ("bias_ih", g.db_ih),
                                 ("bias_hh", g.db_hh)))
        return g.dx, g.dh0, None

    def forward(self, x, h0=None, lengths=None):
        y, h_n, _ = self._forward(x, h0, None, lengths)
        return y, h_n

    def backward(self, dout, dh_n=None):
        """Returns ``(dx, dh0)``; either upstream may be None (zero)."""
        dx, dh0, _ = self._backward(dout, dh_n, None)
        return dx, dh0


class RNN(_RNNBase):
    """Multi-layer Elman RNN (``torch.nn.RNN``), ``nonlinearity`` "tanh" or "relu". API as :class:`GRU`."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, dtype, seed)

    def _layer_forward(self, layer, d, x, h0, c0, lengths):
        w = [self._p(layer, d, b) for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        y, hn, cache = F.rnn_forward(x, h0, *[None if p is None else p.data for p in w],
                                     nonlinearity=self.nonlinearity, lengths=lengths, reverse=d == 1)
        return y, hn, None, ((layer, d), cache)

    def _layer_backward(self, cache, dy, dh, dc):
        ld, fc = cache
        g = F.rnn_backward(dy, dh, fc)
        self._accumulate(ld, g, (("weight_ih", g.dw_ih), ("weight_hh", g.dw_hh), ("bias_ih", g.db_ih),
                                 ("bias_hh", g.db_hh)))
        return g.dx, g.dh0, None

    def forward(self, x, h0=None, lengths=None):
        y, h_n, _ = self._forward(x, h0, None, lengths)
        return y, h_n

    def backward(self, dout, dh_n=None):
        """Returns ``(dx, dh0)``; either upstream may be None (zero)."""
        dx, dh0, _ = self._backward(dout, dh_n, None)
        return dx, dh0


class LSTM(_RNNBase):
    """Multi-layer LSTM (``torch.nn.LSTM``, gate order i, f, g, o; ``proj_size`` as torch).

    ``out, (h_n, c_n) = lstm(x, hx=None, lengths=None)`` with ``hx = (h0, c0)`` (either may be
    None); h (num_layers*D, B, proj_size or H), c (num_layers*D, B, H).
    ``dx, (dh0, dc0) = lstm.backward(dout, (dh_n, dc_n))``: the tuple or either part may be None.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, dtype=np.float32, seed=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype, seed)

    def _layer_forward(self, layer, d, x, h0, c0, lengths):
        w = [self._p(layer, d, b) for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
        w = [None if p is None else p.data for p in w]
        y, hn, cn, cache = F.lstm_forward(x, h0, c0, *w[:4], w_hr=w[4], lengths=lengths, reverse=d == 1)
        return y, hn, cn, ((layer, d), cache)

    def _layer_backward(self, cache, dy, dh, dc):
        ld, fc = cache
        g = F.lstm_backward(dy, dh, dc, fc)
        self._accumulate(ld, g, (("weight_ih", g.dw_ih), ("weight_hh", g.dw_hh), ("bias_ih", g.db_ih),
                                 ("bias_hh", g.db_hh), ("weight_hr", g.dw_hr)))
        return g.dx, g.dh0, g.dc0

    def forward(self, x, hx=None, lengths=None):
        if hx is None:
            h0 = c0 = None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h0, c0 = hx
        else:
            raise TypeError("hx must be None or a tuple (h0, c0) (either part may be None)")
        y, h_n, c_n = self._forward(x, h0, c0, None if lengths is None else lengths)
        return y, (h_n, c_n)

    def backward(self, dout, dstate=None):
        """Returns ``(dx, (dh0, dc0))``; ``dstate = (dh_n, dc_n)``, the tuple or either part None."""
        if dstate is None:
            dh_n = dc_n = None
        elif isinstance(dstate, (tuple, list)) and len(dstate) == 2:
            dh_n, dc_n = dstate
        else:
            raise TypeError("the second argument must be None or a tuple (dh_n, dc_n) (either part may be None)")
        dx, dh0, dc0 = self._backward(dout, dh_n, dc_n)
        return dx, (dh0, dc0)


# ------------------------------------------------------------------------------------------ cells
class _CellBase(Module):
    """Single-step cells. Each forward pushes its cache on a stack and each backward pops the most
    recent one, so a caller unrolling T steps calls backward T times in reverse order (BPTT)."""

    def __init__(self, gates, input_size, hidden_size, bias, dtype, seed):
        super().__init__()
        # as torch's cells: sizes may be 0 (a (B, 0) state); flags must be bools
        self.input_size, self.hidden_size = int_arg("input_size", input_size, 0), int_arg("hidden_size", hidden_size, 0)
        self.bias = bool_arg("bias", bias)
        self.dtype = dtype_arg(dtype)
        rng = np.random.default_rng(seed)
        G, k = gates * hidden_size, 1.0 / math.sqrt(hidden_size) if hidden_size else 0.0
        u = lambda *s: Parameter(rng.uniform(-k, k, s).astype(self.dtype))  # noqa: E731
        who = f"{type(self).__name__}(input_size={input_size}, hidden_size={hidden_size})"
        check_parameter_bytes(who, G * (input_size + hidden_size + 2), self.dtype)
        with allocating(who):
            self.weight_ih = u(G, input_size)
            self.weight_hh = u(G, hidden_size)
            if self.bias:
                self.bias_ih = u(G)
                self.bias_hh = u(G)
        if not self.bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self._stack = []

    def _weights(self):
        return (self.weight_ih.data, self.weight_hh.data, None if self.bias_ih is None else self.bias_ih.data,
                None if self.bias_hh is None else self.bias_hh.data)

    def _x(self, x):
        x = as_float_array("x", x, (1, 2), self.dtype)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x: expected input_size={self.input_size} features in its last dimension, got shape "
                             f"{x.shape}")
        return x, x.ndim == 1

    def _state(self, name, h, B, size, unbatched):
        if h is None:
            return None
        h = as_float_array(name, h, 1 if unbatched else 2, self.dtype)
        want = (size,) if unbatched else (B, size)
        check_shape(name, h, want, "(hidden_size,) for unbatched input" if unbatched else "(batch, hidden_size)")
        return h[None] if unbatched else h

    def _pop(self):
        if not self._stack:
            raise RuntimeError(f"{type(self).__name__}.backward called more times than forward")
        return self._stack.pop()

    def _grads_into(self, cls, n_lead):
        """A grads object of the functional API whose weight arrays ARE this cell's .grad buffers."""
        bufs = [self.weight_ih.grad_buffer(), self.weight_hh.grad_buffer(),
                None if self.bias_ih is None else self.bias_ih.grad_buffer(),
                None if self.bias_hh is None else self.bias_hh.grad_buffer()]
        extra = [None] if cls is F.LSTMGrads else []  # dw_hr
        return cls(*([None] * n_lead), *bufs, *extra)

    def reset(self):
        """Drop the caches of forward steps that were never backpropagated."""
        self._stack.clear()

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False") + \
            f", dtype={self.dtype.name}"


class GRUCell(_CellBase):
    """One GRU step (``torch.nn.GRUCell``). ``h_new = cell(x, h=None)`` with x (B, I) or (I,);
    ``dx, dh = cell.backward(dh_new)`` (for the most recent forward not yet backpropagated)."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(3, input_size, hidden_size, bias, dtype, seed)

    def forward(self, x, h=None):
        x, unb = self._x(x)
        xb = x[None] if unb else x
        h = self._state("h", h, xb.shape[0], self.hidden_size, unb)
        h_new, cache = F.gru_cell_forward(xb, h, *self._weights())
        self._stack.append((cache, unb))
        return h_new[0] if unb else h_new

    def backward(self, dh_new):
        cache, unb = self._pop()
        dh_new = self._state("dh_new", dh_new, cache.x.shape[0], self.hidden_size, unb)
        g = F.gru_cell_backward(dh_new, cache, self._grads_into(F.GRUGrads, 2))
        return (g.dx[0], g.dh0[0]) if unb else (g.dx, g.dh0)


class RNNCell(_CellBase):
    """One Elman RNN step (``torch.nn.RNNCell``), ``nonlinearity`` "tanh" or "relu"; API as GRUCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(1, input_size, hidden_size, bias, dtype, seed)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        x, unb = self._x(x)
        xb = x[None] if unb else x
        h = self._state("h", h, xb.shape[0], self.hidden_size, unb)
        h_new, cache = F.rnn_cell_forward(xb, h, *self._weights(), nonlinearity=self.nonlinearity)
        self._stack.append((cache, unb))
        return h_new[0] if unb else h_new

    def backward(self, dh_new):
        cache, unb = self._pop()
        dh_new = self._state("dh_new", dh_new, cache.x.shape[0], self.hidden_size, unb)
        g = F.rnn_cell_backward(dh_new, cache, self._grads_into(F.RNNGrads, 2))
        return (g.dx[0], g.dh0[0]) if unb else (g.dx, g.dh0)


class LSTMCell(_CellBase):
    """One LSTM step (``torch.nn.LSTMCell``). ``h, c = cell(x, hx=None)`` with ``hx = (h, c)``;
    ``dx, (dh, dc) = cell.backward(dh_new, dc_new=None)``."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(4, input_size, hidden_size, bias, dtype, seed)

    def forward(self, x, hx=None):
        x, unb = self._x(x)
        xb = x[None] if unb else x
        h, c = (None, None) if hx is None else hx
        B = xb.shape[0]
        h = self._state("h", h, B, self.hidden_size, unb)
        c = self._state("c", c, B, self.hidden_size, unb)
        h_new, c_new, cache = F.lstm_cell_forward(xb, h, c, *self._weights())
        self._stack.append((cache, unb))
        return (h_new[0], c_new[0]) if unb else (h_new, c_new)

    def backward(self, dh_new, dc_new=None):
        cache, unb = self._pop()
        B = cache.x.shape[0]
        dh_new = self._state("dh_new", dh_new, B, self.hidden_size, unb)
        dc_new = self._state("dc_new", dc_new, B, self.hidden_size, unb)
        grads = self._grads_into(F.LSTMGrads, 3)  # dw_hr: LSTMCell has no projection
        g = F.lstm_cell_backward(dh_new, dc_new, cache, grads)
        return (g.dx[0], (g.dh0[0], g.dc0[0])) if unb else (g.dx, (g.dh0, g.dc0))
