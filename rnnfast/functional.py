"""Functional API: whole-sequence and single-step kernels on NumPy arrays, forward and backward.

Each forward returns its outputs and a ``cache`` holding what the backward needs; each backward
takes upstream gradients and the cache and returns a gradients object. Arrays are computed in
their own dtype (float32 or float64, never mixed or cast) on the active backend
(``rnnfast.get_backend()``); the backward runs on the backend that ran the forward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _backend, _contract
from . import _buffers as _buf
from ._validate import (
    as_float_array,
    as_lengths,
    check_output,
    check_sequence_length,
    check_shape,
)

__all__ = [
    "clear_workspace", "GRUCache", "GRUGrads", "gru_forward", "gru_backward", "GRUCellCache", "gru_cell_forward",
    "gru_cell_backward",
]


# ----------------------------------------------------------------------------------- memory, calls
def clear_workspace() -> None:
    """Free the memory rnnfast keeps between calls: the free buffers that outputs, caches and backward
    workspaces are served from (``rnnfast._buffers``; arrays still in use stay valid) and the scratch
    each loaded backend's kernels keep (the CTC kernels' per-thread buffers)."""
    _buf.pool.clear()
    _backend.release_scratch()


_alloc = {k: _contract.allocator(k) for k in _contract.KERNELS if k.startswith(("gru_", "lstm_", "rnn_"))}.__getitem__
_zero = _contract.zero_outputs


_FROM_CACHE = {  # what each backward reads from its forward's cache
    "gru_backward": ("x", "w_ih", "w_hh", "hs", "gates", "hn", "lengths"),
    "gru_cell_backward": ("x", "h", "w_ih", "w_hh", "gates", "hn"),
    "lstm_backward": ("x", "w_ih", "w_hh", "w_hr", "hs", "cs", "gates", "ms", "lengths"),
    "lstm_cell_backward": ("x", "h", "c", "c_new", "w_ih", "w_hh", "w_hr", "gates", "m"),
    "rnn_backward": ("x", "w_ih", "w_hh", "hs", "lengths"),
    "rnn_cell_backward": ("x", "h", "h_new", "w_ih", "w_hh"),
}
_check_cache = {k: _contract.shape_checker(k, names) for k, names in _FROM_CACHE.items()}


def _call_backward(kernel: str, backend: str, fn, args, nonempty, dt, **dims) -> None:
    """:func:`_call` for a backward kernel. The compiled bindings check every array themselves; before a
    backend without such checks reads the cache's arrays, their shapes are checked here (a cache is a
    plain object: a changed one must raise, not read out of bounds)."""
    if backend != "cpp":
        _check_cache[kernel](args, dt, **dims)
    _call(kernel, fn, args, nonempty)


def _call(kernel: str, fn, args, nonempty) -> None:
    """Run ``fn(*args)``; for an empty problem (no batch rows or no hidden units) there is nothing to
    compute and the outputs are zeros (every backend alike, no kernel runs)."""
    if nonempty:
        fn(*args)
    else:
        _zero(kernel, args)


# ------------------------------------------------------------------------------------------ GRU
@dataclass
class GRUCache:
    """What :func:`gru_backward` needs from :func:`gru_forward` (arrays owned by the cache)."""
    backend: str
    x: np.ndarray        # (T, B, I)
    w_ih: np.ndarray     # (3H, I)
    w_hh: np.ndarray     # (3H, H)
    has_bias_ih: bool
    has_bias_hh: bool
    hs: np.ndarray       # (T+1, B, H) states, hs[0] = h0 (reverse: hs[T] = h0)
    gates: np.ndarray    # (T, B, 3H) r, z, n
    hn: np.ndarray       # (T, B, H) W_hn h + b_hn (reset_after) or r*h
    lengths: Optional[np.ndarray]
    reset_after: bool
    reverse: bool = False


@dataclass
class GRUGrads:
    """Gradients of a GRU (sequence or cell). ``db_*`` are None when the bias was None."""
    dx: np.ndarray
    dh0: np.ndarray
    dw_ih: np.ndarray
    dw_hh: np.ndarray
    db_ih: Optional[np.ndarray]
    db_hh: Optional[np.ndarray]


def _gru_params(x, w_ih, w_hh, b_ih, b_hh, gates=3, name="GRU"):
    dt = x.dtype
    w_ih = as_float_array("w_ih", w_ih, 2, dt)
    w_hh = as_float_array("w_hh", w_hh, 2, dt)
    H = w_hh.shape[1]
    I = x.shape[-1]
    check_shape("w_hh", w_hh, (gates * H, H), "({}*hidden_size, hidden_size) for {}", gates, name)
    check_shape("w_ih", w_ih, (gates * H, I), "({}*hidden_size, input_size={})", gates, I)
    b_ih = as_float_array("b_ih", b_ih, 1, dt, optional=True)
    b_hh = as_float_array("b_hh", b_hh, 1, dt, optional=True)
    check_shape("b_ih", b_ih, (gates * H,))
    check_shape("b_hh", b_hh, (gates * H,))
    return w_ih, w_hh, b_ih, b_hh, H


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, reset_after=True, lengths=None, reverse=False):
    """GRU over a whole sequence (PyTorch layout, gate order r, z, n).

    Parameters
    ----------
    x : (T, B, I) float32 or float64
    h0 : (B, H) or None (zeros)
    w_ih : (3H, I);  w_hh : (3H, H);  b_ih, b_hh : (3H,) or None
    reset_after : bool
        True: PyTorch's GRU, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
        False: the original GRU, ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.
    lengths : (B,) ints in [0, T] or None
        Valid steps per sequence; past it the state is carried and the output is zero.
    reverse : bool
        Run time backwards, t = T-1 .. 0: each sequence from its last valid step to step 0 (the
        reverse direction of a bidirectional layer, without reversing any array). ``y[t]`` is then
        the state after reading ``x[L-1], ..., x[t]`` and ``h_n`` the state after step 0.

    Returns
    -------
    y : (T, B, H);  h_n : (B, H) (state at each sequence's last valid step);  cache : GRUCache
    """
    x = as_float_array("x", x, 3)
    check_sequence_length("x", x)
    T, B, _ = x.shape
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, H = _gru_params(x, w_ih, w_hh, b_ih, b_hh)
    h0 = as_float_array("h0", h0, 2, dt, optional=True)
    check_shape("h0", h0, (B, H), "(batch, hidden_size)")
    lengths = as_lengths(lengths, B, T)
    reset_after, reverse = bool(reset_after), bool(reverse)
    name, fn = _backend.kernel("gru_forward")
    y, h_n, hs, gates, hn, gh = _alloc("gru_forward")(dt, T=T, B=B, H=H)
    _call("gru_forward", fn,
          (y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after, reverse), B and H)
    cache = GRUCache(name, x, w_ih, w_hh, b_ih is not None, b_hh is not None, hs, gates, hn, lengths, reset_after,
                     reverse)
    return y, h_n, cache


def gru_backward(dy, dh_n, cache: GRUCache, *, need_dx=True) -> GRUGrads:
    """Backward through time of :func:`gru_forward`.

    Parameters
    ----------
    dy : (T, B, H) or None;  dh_n : (B, H) or None;  cache : from gru_forward
    need_dx : bool
        False: the input gradient is not computed (``dx`` is None), e.g. for a first layer whose input
        needs no gradient.

    Returns
    -------
    GRUGrads with dx (T,B,I) (None with need_dx=False), dh0 (B,H), dw_ih (3H,I), dw_hh (3H,H), db_ih, db_hh (3H,)
    or None.
    """
    if not isinstance(cache, GRUCache):
        raise TypeError(f"cache must be the GRUCache returned by gru_forward, got {type(cache).__name__}")
    x = cache.x
    T, B, I = x.shape
    H = cache.w_hh.shape[1]
    dt = x.dtype
    dy = as_float_array("dy", dy, 3, dt, optional=True)
    check_shape("dy", dy, (T, B, H), "(T, batch, hidden_size), the shape of y")
    dh_n = as_float_array("dh_n", dh_n, 2, dt, optional=True)
    check_shape("dh_n", dh_n, (B, H), "(batch, hidden_size), the shape of h_n")
    runs, fn = _backend.kernel("gru_backward", cache.backend)
    dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp = _alloc("gru_backward")(
        dt, T=T, B=B, I=I, H=H, has_bias_ih=cache.has_bias_ih, has_bias_hh=cache.has_bias_hh,
        reset_after=cache.reset_after)
    if not need_dx:
        dx = None  # the kernel skips the dx product
    _call_backward("gru_backward", runs, fn, (dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x,
                                              cache.w_ih, cache.w_hh, cache.hs, cache.gates, cache.hn, cache.lengths,
                                              cache.reset_after, cache.reverse), B and H, dt, T=T, B=B, I=I, H=H)
    return GRUGrads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)


def _check_accumulators(grads, names_shapes, dt):
    for nm, shape in names_shapes:
        setattr(grads, nm, check_output(f"grads.{nm}", getattr(grads, nm), shape, dt))


@dataclass
class GRUCellCache:
    backend: str
    x: np.ndarray       # (B, I)
    h: np.ndarray       # (B, H)
    w_ih: np.ndarray
    w_hh: np.ndarray
    has_bias_ih: bool
    has_bias_hh: bool
    gates: np.ndarray   # (B, 3H)
    hn: np.ndarray      # (B, H)
    reset_after: bool


def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, *, reset_after=True):
    """One fused GRU step. x (B, I), h (B, H) or None -> (h_new (B, H), cache)."""
    x = as_float_array("x", x, 2)
    B = x.shape[0]
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, H = _gru_params(x, w_ih, w_hh, b_ih, b_hh)
    h = np.zeros((B, H), dt) if h is None else as_float_array("h", h, 2, dt)
    check_shape("h", h, (B, H), "(batch, hidden_size)")
    reset_after = bool(reset_after)
    name, fn = _backend.kernel("gru_cell_forward")
    h_new, gates, hn, gh = _alloc("gru_cell_forward")(dt, B=B, H=H)
    _call("gru_cell_forward", fn, (h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after), B and H)
    return h_new, GRUCellCache(name, x, h, w_ih, w_hh, b_ih is not None, b_hh is not None, gates, hn, reset_after)


def gru_cell_backward(dh_new, cache: GRUCellCache, grads: Optional[GRUGrads] = None) -> GRUGrads:
    """Backward of one GRU step.

    ``dx`` and ``dh0`` (the gradient w.r.t. ``h``) are new arrays. Weight and bias gradients are
    ACCUMULATED into ``grads`` when given (a per-step caller sums them over steps), else into zeros.
    """
    if not isinstance(cache, GRUCellCache):
        raise TypeError(f"cache must be the GRUCellCache returned by gru_cell_forward, got {type(cache).__name__}")
    B, I = cache.x.shape
    H = cache.w_hh.shape[1]
    dt = cache.x.dtype
    dh_new = as_float_array("dh_new", dh_new, 2, dt)
    check_shape("dh_new", dh_new, (B, H), "(batch, hidden_size)")
    if grads is None:
        grads = GRUGrads(None, None, np.zeros_like(cache.w_ih), np.zeros_like(cache.w_hh),
                         np.zeros(3 * H, dt) if cache.has_bias_ih else None,
                         np.zeros(3 * H, dt) if cache.has_bias_hh else None)
    else:
        if not isinstance(grads, GRUGrads):
            raise TypeError(f"grads must be a GRUGrads, got {type(grads).__name__}")
        acc = [("dw_ih", (3 * H, I)), ("dw_hh", (3 * H, H))]
        acc += [("db_ih", (3 * H,))] if cache.has_bias_ih else []
        acc += [("db_hh", (3 * H,))] if cache.has_bias_hh else []
        _check_accumulators(grads, acc, dt)
    runs, fn = _backend.kernel("gru_cell_backward", cache.backend)
    dx, dh, dgx, dgh, dtmp = _alloc("gru_cell_backward")(dt, B=B, I=I, H=H, reset_after=cache.reset_after)
    _call_backward("gru_cell_backward", runs, fn,
                   (dx, dh, grads.dw_ih, grads.dw_hh, grads.db_ih if cache.has_bias_ih else None,
                    grads.db_hh if cache.has_bias_hh else None, dgx, dgh, dtmp, dh_new, cache.x, cache.h, cache.w_ih,
                    cache.w_hh, cache.gates, cache.hn, cache.reset_after), B and H, dt, B=B, I=I, H=H)
    grads.dx, grads.dh0 = dx, dh
    return grads


# ----------------------------------------------------------------------------------------- LSTM
__all__ += [
    "LSTMCache", "LSTMGrads", "lstm_forward", "lstm_backward", "LSTMCellCache", "lstm_cell_forward",
    "lstm_cell_backward",
]


@dataclass
class LSTMCache:
    """What :func:`lstm_backward` needs from :func:`lstm_forward` (arrays owned by the cache).
    H is the hidden size, P the state size (the projection size with ``w_hr``, else H)."""
    backend: str
    x: np.ndarray        # (T, B, I)
    w_ih: np.ndarray     # (4H, I)
    w_hh: np.ndarray     # (4H, P)
    w_hr: Optional[np.ndarray]  # (P, H) or None
    has_bias_ih: bool
    has_bias_hh: bool
    hs: np.ndarray       # (T+1, B, P) states, hs[0] = h0 (reverse: hs[T] = h0)
    cs: np.ndarray       # (T+1, B, H) cell states, cs[0] = c0 (reverse: cs[T] = c0)
    gates: np.ndarray    # (T, B, 4H) i, f, g, o
    ms: Optional[np.ndarray]  # (T, B, H) o * tanh(c), projection only
    lengths: Optional[np.ndarray]
    reverse: bool = False


@dataclass
class LSTMGrads:
    """Gradients of an LSTM (sequence or cell). ``db_*`` are None when the bias was None, ``dw_hr``
    when there was no projection. ``dh0``/``dc0`` are the gradients w.r.t. the initial (cell: input)
    states."""
    dx: np.ndarray
    dh0: np.ndarray
    dc0: np.ndarray
    dw_ih: np.ndarray
    dw_hh: np.ndarray
    db_ih: Optional[np.ndarray]
    db_hh: Optional[np.ndarray]
    dw_hr: Optional[np.ndarray] = None


def _lstm_params(x, w_ih, w_hh, b_ih, b_hh, w_hr):
    """Validated (w_ih, w_hh, b_ih, b_hh, w_hr, H, P)."""
    if w_hr is None:
        w_ih, w_hh, b_ih, b_hh, H = _gru_params(x, w_ih, w_hh, b_ih, b_hh, gates=4, name="LSTM")
        return w_ih, w_hh, b_ih, b_hh, None, H, H
    dt = x.dtype
    w_hr = as_float_array("w_hr", w_hr, 2, dt)
    P, H = w_hr.shape
    I = x.shape[-1]
    w_ih = as_float_array("w_ih", w_ih, 2, dt)
    w_hh = as_float_array("w_hh", w_hh, 2, dt)
    check_shape("w_hh", w_hh, (4 * H, P), "(4*hidden_size, proj_size) for an LSTM with w_hr of shape {}", w_hr.shape)
    check_shape("w_ih", w_ih, (4 * H, I), "(4*hidden_size, input_size={})", I)
    b_ih = as_float_array("b_ih", b_ih, 1, dt, optional=True)
    b_hh = as_float_array("b_hh", b_hh, 1, dt, optional=True)
    check_shape("b_ih", b_ih, (4 * H,))
    check_shape("b_hh", b_hh, (4 * H,))
    return w_ih, w_hh, b_ih, b_hh, w_hr, H, P


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, *, w_hr=None, lengths=None, reverse=False):
    """LSTM over a whole sequence (PyTorch layout and equations, gate order i, f, g, o).

    Parameters
    ----------
    x : (T, B, I) float32 or float64
    h0 : (B, P) or None (zeros);  c0 : (B, H) or None (zeros)
    w_ih : (4H, I);  w_hh : (4H, P);  b_ih, b_hh : (4H,) or None
    w_hr : (P, H) or None
        Projection (PyTorch ``proj_size = P``): ``h = w_hr @ (o * tanh(c))``. Without it P = H.
    lengths : (B,) ints in [0, T] or None
        Valid steps per sequence; past it h and c are carried and the output is zero.
    reverse : bool
        Run time backwards, t = T-1 .. 0: each sequence from its last valid step to step 0 (the
        reverse direction of a bidirectional layer, without reversing any array). ``y[t]`` is then
        the state after reading ``x[L-1], ..., x[t]`` and ``h_n`` the state after step 0.

    Returns
    -------
    y : (T, B, P);  h_n : (B, P);  c_n : (B, H) (states at each sequence's last valid step);
    cache : LSTMCache
    """
    x = as_float_array("x", x, 3)
    check_sequence_length("x", x)
    T, B, _ = x.shape
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, w_hr, H, P = _lstm_params(x, w_ih, w_hh, b_ih, b_hh, w_hr)
    h0 = as_float_array("h0", h0, 2, dt, optional=True)
    check_shape("h0", h0, (B, P), "(batch, proj_size)" if w_hr is not None else "(batch, hidden_size)")
    c0 = as_float_array("c0", c0, 2, dt, optional=True)
    check_shape("c0", c0, (B, H), "(batch, hidden_size)")
    lengths = as_lengths(lengths, B, T)
    name, fn = _backend.kernel("lstm_forward")
    y, h_n, c_n, hs, cs, gates, ms = _alloc("lstm_forward")(dt, T=T, B=B, H=H, P=P, proj=w_hr is not None)
    reverse = bool(reverse)
    _call("lstm_forward", fn,
          (y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse), B and H)
    cache = LSTMCache(name, x, w_ih, w_hh, w_hr, b_ih is not None, b_hh is not None, hs, cs, gates, ms, lengths,
                      reverse)
    return y, h_n, c_n, cache


def lstm_backward(dy, dh_n, dc_n, cache: LSTMCache, *, need_dx=True) -> LSTMGrads:
    """Backward through time of :func:`lstm_forward`.

    Parameters
    ----------
    dy : (T, B, P) or None;  dh_n : (B, P) or None;  dc_n : (B, H) or None;  cache : from lstm_forward
    need_dx : bool
        False: the input gradient is not computed (``dx`` is None), e.g. for a first layer whose input
        needs no gradient.

    Returns
    -------
    LSTMGrads with dx (T,B,I) (None with need_dx=False), dh0 (B,P), dc0 (B,H), dw_ih (4H,I), dw_hh (4H,P),
    db_ih, db_hh (4H,) or None, dw_hr (P,H) or None.
    """
    if not isinstance(cache, LSTMCache):
        raise TypeError(f"cache must be the LSTMCache returned by lstm_forward, got {type(cache).__name__}")
    x = cache.x
    T, B, I = x.shape
    G, P = cache.w_hh.shape
    H = G // 4
    dt = x.dtype
    dy = as_float_array("dy", dy, 3, dt, optional=True)
    check_shape("dy", dy, (T, B, P), "(T, batch, P), the shape of y")
    dh_n = as_float_array("dh_n", dh_n, 2, dt, optional=True)
    check_shape("dh_n", dh_n, (B, P), "(batch, P), the shape of h_n")
    dc_n = as_float_array("dc_n", dc_n, 2, dt, optional=True)
    check_shape("dc_n", dc_n, (B, H), "(batch, hidden_size), the shape of c_n")
    runs, fn = _backend.kernel("lstm_backward", cache.backend)
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs = _alloc("lstm_backward")(
        dt, T=T, B=B, I=I, H=H, P=P, has_bias_ih=cache.has_bias_ih, has_bias_hh=cache.has_bias_hh,
        proj=cache.w_hr is not None)
    if not need_dx:
        dx = None  # the kernel skips the dx product
    _call_backward("lstm_backward", runs, fn,
                   (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x, cache.w_ih,
                    cache.w_hh, cache.w_hr, cache.hs, cache.cs, cache.gates, cache.ms, cache.lengths, cache.reverse),
                   B and H, dt, T=T, B=B, I=I, H=H, P=P)
    return LSTMGrads(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr)


@dataclass
class LSTMCellCache:
    backend: str
    x: np.ndarray       # (B, I)
    h: np.ndarray       # (B, P)
    c: np.ndarray       # (B, H)
    c_new: np.ndarray   # (B, H) (the cache's own copy)
    w_ih: np.ndarray
    w_hh: np.ndarray
    w_hr: Optional[np.ndarray]
    has_bias_ih: bool
    has_bias_hh: bool
    gates: np.ndarray   # (B, 4H)
    m: Optional[np.ndarray]  # (B, H), projection only


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, *, w_hr=None):
    """One fused LSTM step (``torch.nn.LSTMCell``; optionally with a projection ``w_hr`` (P, H)).

    x (B, I), h (B, P) or None (zeros), c (B, H) or None (zeros) -> (h_new (B, P), c_new (B, H), cache).
    """
    x = as_float_array("x", x, 2)
    B = x.shape[0]
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, w_hr, H, P = _lstm_params(x, w_ih, w_hh, b_ih, b_hh, w_hr)
    h = np.zeros((B, P), dt) if h is None else as_float_array("h", h, 2, dt)
    check_shape("h", h, (B, P), "(batch, proj_size)" if w_hr is not None else "(batch, hidden_size)")
    c = np.zeros((B, H), dt) if c is None else as_float_array("c", c, 2, dt)
    check_shape("c", c, (B, H), "(batch, hidden_size)")
    name, fn = _backend.kernel("lstm_cell_forward")
    h_new, c_new, gates, m = _alloc("lstm_cell_forward")(dt, B=B, H=H, P=P, proj=w_hr is not None)
    _call("lstm_cell_forward", fn, (h_new, c_new, gates, m, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr), B and H)
    cache = LSTMCellCache(name, x, h, c, c_new.copy(), w_ih, w_hh, w_hr, b_ih is not None, b_hh is not None, gates,
                          m)
    return h_new, c_new, cache


def lstm_cell_backward(dh_new, dc_new, cache: LSTMCellCache, grads: Optional[LSTMGrads] = None) -> LSTMGrads:
    """Backward of one LSTM step; ``dh_new`` (B, P) and ``dc_new`` (B, H) may be None (zero).

    ``dx``, ``dh0`` and ``dc0`` (gradients w.r.t. x, h and c) are new arrays. Weight and bias
    gradients are ACCUMULATED into ``grads`` when given (a per-step caller sums them over steps),
    else into zeros.
    """
    if not isinstance(cache, LSTMCellCache):
        raise TypeError(f"cache must be the LSTMCellCache returned by lstm_cell_forward, got {type(cache).__name__}")
    B, I = cache.x.shape
    G, P = cache.w_hh.shape
    H = G // 4
    dt = cache.x.dtype
    proj = cache.w_hr is not None
    dh_new = as_float_array("dh_new", dh_new, 2, dt, optional=True)
    check_shape("dh_new", dh_new, (B, P), "(batch, P), the shape of h_new")
    dc_new = as_float_array("dc_new", dc_new, 2, dt, optional=True)
    check_shape("dc_new", dc_new, (B, H), "(batch, hidden_size), the shape of c_new")
    if grads is None:
        grads = LSTMGrads(None, None, None, np.zeros_like(cache.w_ih), np.zeros_like(cache.w_hh),
                          np.zeros(G, dt) if cache.has_bias_ih else None,
                          np.zeros(G, dt) if cache.has_bias_hh else None,
                          np.zeros_like(cache.w_hr) if proj else None)
    else:
        if not isinstance(grads, LSTMGrads):
            raise TypeError(f"grads must be an LSTMGrads, got {type(grads).__name__}")
        acc = [("dw_ih", (G, I)), ("dw_hh", (G, P))]
        acc += [("db_ih", (G,))] if cache.has_bias_ih else []
        acc += [("db_hh", (G,))] if cache.has_bias_hh else []
        acc += [("dw_hr", (P, H))] if proj else []
        _check_accumulators(grads, acc, dt)
    runs, fn = _backend.kernel("lstm_cell_backward", cache.backend)
    dx, dh, dc, dgates = _alloc("lstm_cell_backward")(dt, B=B, I=I, H=H, P=P)
    _call_backward("lstm_cell_backward", runs, fn,
                   (dx, dh, dc, grads.dw_ih, grads.dw_hh, grads.db_ih if cache.has_bias_ih else None,
                    grads.db_hh if cache.has_bias_hh else None, grads.dw_hr if proj else None, dgates, dh_new, dc_new,
                    cache.x, cache.h, cache.c, cache.c_new, cache.w_ih, cache.w_hh, cache.w_hr, cache.gates, cache.m),
                   B and H, dt, B=B, I=I, H=H, P=P)
    grads.dx, grads.dh0, grads.dc0 = dx, dh, dc
    return grads


# ------------------------------------------------------------------------------------------ RNN
__all__ += [
    "RNNCache", "RNNGrads", "rnn_forward", "rnn_backward", "RNNCellCache", "rnn_cell_forward",
    "rnn_cell_backward",
]


@dataclass
class RNNCache:
    """What :func:`rnn_backward` needs from :func:`rnn_forward` (arrays owned by the cache)."""
    backend: str
    x: np.ndarray        # (T, B, I)
    w_ih: np.ndarray     # (H, I)
    w_hh: np.ndarray     # (H, H)
    has_bias_ih: bool
    has_bias_hh: bool
    hs: np.ndarray       # (T+1, B, H) states, hs[0] = h0 (reverse: hs[T] = h0)
    lengths: Optional[np.ndarray]
    relu: bool
    reverse: bool = False


@dataclass
class RNNGrads:
    """Gradients of an Elman RNN (sequence or cell). ``db_*`` are None when the bias was None."""
    dx: np.ndarray
    dh0: np.ndarray
    dw_ih: np.ndarray
    dw_hh: np.ndarray
    db_ih: Optional[np.ndarray]
    db_hh: Optional[np.ndarray]


def _relu_flag(nonlinearity) -> bool:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity == "relu"


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh", lengths=None, reverse=False):
    """Elman RNN over a whole sequence (PyTorch layout):
    ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act = tanh or relu.

    Parameters
    ----------
    x : (T, B, I) float32 or float64
    h0 : (B, H) or None (zeros)
    w_ih : (H, I);  w_hh : (H, H);  b_ih, b_hh : (H,) or None
    nonlinearity : "tanh" or "relu"
    lengths : (B,) ints in [0, T] or None
        Valid steps per sequence; past it the state is carried and the output is zero.
    reverse : bool
        Run time backwards, t = T-1 .. 0: each sequence from its last valid step to step 0 (the
        reverse direction of a bidirectional layer, without reversing any array). ``y[t]`` is then
        the state after reading ``x[L-1], ..., x[t]`` and ``h_n`` the state after step 0.

    Returns
    -------
    y : (T, B, H);  h_n : (B, H) (state at each sequence's last valid step);  cache : RNNCache
    """
    relu = _relu_flag(nonlinearity)
    x = as_float_array("x", x, 3)
    check_sequence_length("x", x)
    T, B, _ = x.shape
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, H = _gru_params(x, w_ih, w_hh, b_ih, b_hh, gates=1, name="RNN")
    h0 = as_float_array("h0", h0, 2, dt, optional=True)
    check_shape("h0", h0, (B, H), "(batch, hidden_size)")
    lengths = as_lengths(lengths, B, T)
    name, fn = _backend.kernel("rnn_forward")
    y, h_n, hs = _alloc("rnn_forward")(dt, T=T, B=B, H=H)
    reverse = bool(reverse)
    _call("rnn_forward", fn, (y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse), B and H)
    cache = RNNCache(name, x, w_ih, w_hh, b_ih is not None, b_hh is not None, hs, lengths, relu, reverse)
    return y, h_n, cache


def rnn_backward(dy, dh_n, cache: RNNCache, *, need_dx=True) -> RNNGrads:
    """Backward through time of :func:`rnn_forward`.

    Parameters
    ----------
    dy : (T, B, H) or None;  dh_n : (B, H) or None;  cache : from rnn_forward
    need_dx : bool
        False: the input gradient is not computed (``dx`` is None), e.g. for a first layer whose input
        needs no gradient.

    Returns
    -------
    RNNGrads with dx (T,B,I) (None with need_dx=False), dh0 (B,H), dw_ih (H,I), dw_hh (H,H), db_ih, db_hh (H,) or None.
    """
    if not isinstance(cache, RNNCache):
        raise TypeError(f"cache must be the RNNCache returned by rnn_forward, got {type(cache).__name__}")
    x = cache.x
    T, B, I = x.shape
    H = cache.w_hh.shape[1]
    dt = x.dtype
    dy = as_float_array("dy", dy, 3, dt, optional=True)
    check_shape("dy", dy, (T, B, H), "(T, batch, hidden_size), the shape of y")
    dh_n = as_float_array("dh_n", dh_n, 2, dt, optional=True)
    check_shape("dh_n", dh_n, (B, H), "(batch, hidden_size), the shape of h_n")
    runs, fn = _backend.kernel("rnn_backward", cache.backend)
    dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg = _alloc("rnn_backward")(
        dt, T=T, B=B, I=I, H=H, has_bias_ih=cache.has_bias_ih, has_bias_hh=cache.has_bias_hh)
    if not need_dx:
        dx = None  # the kernel skips the dx product
    _call_backward("rnn_backward", runs, fn, (dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, cache.w_ih,
                                              cache.w_hh, cache.hs, cache.lengths, cache.relu, cache.reverse),
                   B and H, dt,
                   T=T, B=B, I=I, H=H)
    return RNNGrads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)


@dataclass
class RNNCellCache:
    backend: str
    x: np.ndarray       # (B, I)
    h: np.ndarray       # (B, H)
    h_new: np.ndarray   # (B, H) (the cache's own copy)
    w_ih: np.ndarray
    w_hh: np.ndarray
    has_bias_ih: bool
    has_bias_hh: bool
    relu: bool


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh"):
    """One fused Elman RNN step (``torch.nn.RNNCell``). x (B, I), h (B, H) or None -> (h_new (B, H), cache)."""
    relu = _relu_flag(nonlinearity)
    x = as_float_array("x", x, 2)
    B = x.shape[0]
    dt = x.dtype
    w_ih, w_hh, b_ih, b_hh, H = _gru_params(x, w_ih, w_hh, b_ih, b_hh, gates=1, name="RNN")
    h = np.zeros((B, H), dt) if h is None else as_float_array("h", h, 2, dt)
    check_shape("h", h, (B, H), "(batch, hidden_size)")
    name, fn = _backend.kernel("rnn_cell_forward")
    (h_new,) = _alloc("rnn_cell_forward")(dt, B=B, H=H)
    _call("rnn_cell_forward", fn, (h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu), B and H)
    return h_new, RNNCellCache(name, x, h, h_new.copy(), w_ih, w_hh, b_ih is not None, b_hh is not None, relu)


def rnn_cell_backward(dh_new, cache: RNNCellCache, grads: Optional[RNNGrads] = None) -> RNNGrads:
    """Backward of one Elman RNN step; ``dh_new`` (B, H) may be None (zero).

    ``dx`` and ``dh0`` (the gradient w.r.t. ``h``) are new arrays. Weight and bias gradients are
    ACCUMULATED into ``grads`` when given (a per-step caller sums them over steps), else into zeros.
    """
    if not isinstance(cache, RNNCellCache):
        raise TypeError(f"cache must be the RNNCellCache returned by rnn_cell_forward, got {type(cache).__name__}")
    B, I = cache.x.shape
    H = cache.w_hh.shape[1]
    dt = cache.x.dtype
    dh_new = np.zeros((B, H), dt) if dh_new is None else as_float_array("dh_new", dh_new, 2, dt)
    check_shape("dh_new", dh_new, (B, H), "(batch, hidden_size), the shape of h_new")
    if grads is None:
        grads = RNNGrads(None, None, np.zeros_like(cache.w_ih), np.zeros_like(cache.w_hh),
                         np.zeros(H, dt) if cache.has_bias_ih else None,
                         np.zeros(H, dt) if cache.has_bias_hh else None)
    else:
        if not isinstance(grads, RNNGrads):
            raise TypeError(f"grads must be an RNNGrads, got {type(grads).__name__}")
        acc = [("dw_ih", (H, I)), ("dw_hh", (H, H))]
        acc += [("db_ih", (H,))] if cache.has_bias_ih else []
        acc += [("db_hh", (H,))] if cache.has_bias_hh else []
        _check_accumulators(grads, acc, dt)
    runs, fn = _backend.kernel("rnn_cell_backward", cache.backend)
    dx, dh, dg = _alloc("rnn_cell_backward")(dt, B=B, I=I, H=H)
    _call_backward("rnn_cell_backward", runs, fn,
                   (dx, dh, grads.dw_ih, grads.dw_hh, grads.db_ih if cache.has_bias_ih else None,
                    grads.db_hh if cache.has_bias_hh else None, dg, dh_new, cache.x, cache.h, cache.h_new, cache.w_ih,
                    cache.w_hh, cache.relu), B and H, dt, B=B, I=I, H=H)
    grads.dx, grads.dh0 = dx, dh
    return grads


# ------------------------------------------------------------------------------------------ CTC
from .ctc import ctc_loss, ctc_loss_from_logits  # noqa: E402,F401

__all__ += ["ctc_loss", "ctc_loss_from_logits"]
