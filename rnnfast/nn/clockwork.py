"""Clockwork RNN (Koutnik, Greff, Gomez, Schmidhuber, "A Clockwork RNN", ICML 2014), forward and
backward through time, in vectorised NumPy (every product is one BLAS call).

The hidden state of N = sum(module_sizes) units is split into modules; module ``i`` has a period
``periods[i]`` and, at step ``t = 0, 1, ..., T-1``, updates only when ``t % periods[i] == 0``
(all modules update at t = 0); otherwise it carries its previous value forward::

    a_t        = x_t W_ih^T + b + h_{t-1} W_hh^T            (N units)
    h_t[i]     = act(a_t[i])     if t % periods[i] == 0     (module i's units)
    h_t[i]     = h_{t-1}[i]      otherwise

Recurrent connections (``connect``):

* ``"slower-to-faster"`` (the paper): module i receives from module j iff
  ``periods[j] >= periods[i]`` (itself included). With modules sorted by increasing period, W_hh is
  block upper-triangular.
* ``"none"``: each module receives only from itself (W_hh is block-diagonal): independent
  recurrent layers that read the same input at different clock rates. ``periods=(1, 2)`` is the
  AlarmworkNet of the adding-problem application.

W_hh is stored as a full (N, N) matrix whose disallowed blocks are zero; its gradient is masked, so
every optimiser keeps them zero. Inactive modules cost nothing: each step multiplies only the rows
of the active modules by the columns they are connected to, and the backward collects the
pre-activation gradients of all steps so that dW_ih, dW_hh, db and dx are four GEMMs in total.

Implementations (``impl``):

* ``"numpy"``: the general algorithm above, a Python loop over steps with one GEMM per step
  (vectorised NumPy and the BLAS; no compiled or numba version of this loop).
* ``"rnn"``: only for ``connect="none"``. Module i is then an Elman RNN run on the strided input
  ``x[::periods[i]]`` (its state after update k is its state at steps k*p .. k*p+p-1), so each
  module runs on the compiled RNN kernels of the active rnnfast backend
  (:func:`rnnfast.functional.rnn_forward`); outputs and gradients are scattered back.
* ``"auto"`` (default): ``"rnn"`` when ``connect="none"``, else ``"numpy"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .. import init as _init
from .._validate import as_float_array, check_shape
from ._module import Module, Parameter

__all__ = ["clockwork_mask", "clockwork_schedule", "ClockworkCache", "ClockworkGrads", "clockwork_forward",
           "clockwork_backward", "ClockworkRNN"]

_CONNECT = ("slower-to-faster", "none")


# ------------------------------------------------------------------------------------ structure
def _check_structure(module_sizes, periods, connect):
    sizes = tuple(int(s) for s in module_sizes)
    pers = tuple(int(p) for p in periods)
    if len(sizes) == 0:
        raise ValueError("module_sizes must name at least one module")
    if len(sizes) != len(pers):
        raise ValueError(f"module_sizes has {len(sizes)} entries but periods has {len(pers)}; give one period per "
                         "module")
    if any(s < 1 for s in sizes):
        raise ValueError(f"module_sizes must be positive integers, got {tuple(module_sizes)}")
    if any(p < 1 for p in pers):
        raise ValueError(f"periods must be positive integers, got {tuple(periods)}")
    if connect not in _CONNECT:
        raise ValueError(f"connect must be one of {_CONNECT}, got {connect!r}")
    return sizes, pers


def _module_slices(sizes):
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [slice(int(off[i]), int(off[i + 1])) for i in range(len(sizes))]


def clockwork_mask(module_sizes: Sequence[int], periods: Sequence[int], connect: str = "slower-to-faster"):
    """(N, N) bool: ``mask[r, c]`` is True when unit c's state feeds unit r's recurrence."""
    sizes, pers = _check_structure(module_sizes, periods, connect)
    sl = _module_slices(sizes)
    N = sum(sizes)
    mask = np.zeros((N, N), bool)
    for i in range(len(sizes)):
        for j in range(len(sizes)):
            if i == j or (connect == "slower-to-faster" and pers[j] >= pers[i]):
                mask[sl[i], sl[j]] = True
    return mask


def _index(units: np.ndarray, N: int):
    """A slice when ``units`` is a contiguous range (cheap views), else the index array."""
    if units.size == N:
        return slice(0, N)
    if units.size and units[-1] - units[0] + 1 == units.size:
        return slice(int(units[0]), int(units[-1]) + 1)
    return units


@dataclass(frozen=True)
class _Pattern:
    rows: object    # active units (slice or int array)
    cols: object    # units whose state feeds the active units (slice or int array)
    full: bool      # every unit active


def clockwork_schedule(module_sizes, periods, connect, T: int):
    """Per step t < T the :class:`_Pattern` (active rows, connected columns); steps sharing an
    active set share one pattern object. Pure structure, independent of the weights."""
    sizes, pers = _check_structure(module_sizes, periods, connect)
    sl = _module_slices(sizes)
    N = sum(sizes)
    mask = clockwork_mask(sizes, pers, connect)
    patterns, steps = {}, []
    for t in range(T):
        key = tuple(t % p == 0 for p in pers)
        if key not in patterns:
            rows = np.concatenate([np.arange(N)[sl[i]] for i, on in enumerate(key) if on] or [np.zeros(0, int)])
            cols = np.flatnonzero(mask[rows].any(0)) if rows.size else np.zeros(0, int)
            patterns[key] = _Pattern(_index(rows, N), _index(cols, N), rows.size == N)
        steps.append(patterns[key])
    return steps


# ---------------------------------------------------------------------------------- functional
@dataclass
class ClockworkCache:
    """What :func:`clockwork_backward` needs from :func:`clockwork_forward`."""
    x: np.ndarray           # (T, B, I)
    w_ih: np.ndarray        # (N, I)
    w_hh: np.ndarray        # (N, N), masked
    mask: np.ndarray        # (N, N) bool
    has_bias: bool
    hs: np.ndarray          # (T+1, B, N), hs[0] = h0
    steps: list             # per-step _Pattern
    relu: bool


@dataclass
class ClockworkGrads:
    """Gradients of :func:`clockwork_forward`. ``dw_hh`` is zero outside the mask; ``db`` is None
    without a bias."""
    dx: np.ndarray      # (T, B, I)
    dh0: np.ndarray     # (B, N)
    dw_ih: np.ndarray   # (N, I)
    dw_hh: np.ndarray   # (N, N)
    db: Optional[np.ndarray]  # (N,)


def _act(a, relu):
    return np.maximum(a, 0, out=a) if relu else np.tanh(a, out=a)


def clockwork_forward(x, h0, w_ih, w_hh, b, module_sizes, periods, *, connect="slower-to-faster",
                      nonlinearity="tanh", impl="auto"):
    """Clockwork RNN over a whole sequence.

    Parameters
    ----------
    x : (T, B, I) float32 or float64
    h0 : (B, N) or None (zeros), N = sum(module_sizes)
    w_ih : (N, I);  w_hh : (N, N) (entries outside :func:`clockwork_mask` are ignored: treated as 0)
    b : (N,) or None
    module_sizes, periods : sequences of positive ints, one entry per module
    connect : "slower-to-faster" or "none";  nonlinearity : "tanh" or "relu"
    impl : "auto", "numpy" or "rnn" (see the module docstring; "rnn" needs connect="none")

    Returns
    -------
    y : (T, B, N) the state after every step;  h_n : (B, N) the state after step T-1;
    cache : ClockworkCache
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    sizes, pers = _check_structure(module_sizes, periods, connect)
    N = sum(sizes)
    x = as_float_array("x", x, 3)
    T, B, I = x.shape
    dt = x.dtype
    w_ih = as_float_array("w_ih", w_ih, 2, dt)
    check_shape("w_ih", w_ih, (N, I), f"(sum(module_sizes)={N}, input_size={I})")
    w_hh = as_float_array("w_hh", w_hh, 2, dt)
    check_shape("w_hh", w_hh, (N, N), f"(sum(module_sizes)={N}, sum(module_sizes)={N})")
    b = as_float_array("b", b, 1, dt, optional=True)
    check_shape("b", b, (N,), f"(sum(module_sizes)={N},)")
    h0 = as_float_array("h0", h0, 2, dt, optional=True)
    check_shape("h0", h0, (B, N), f"(batch={B}, sum(module_sizes)={N})")
    if impl not in ("auto", "numpy", "rnn"):
        raise ValueError(f"impl must be 'auto', 'numpy' or 'rnn', got {impl!r}")
    if impl == "rnn" and connect != "none":
        raise ValueError(f"impl='rnn' needs connect='none' (independent modules), got connect={connect!r}")
    mask = clockwork_mask(sizes, pers, connect)
    relu = nonlinearity == "relu"
    if impl == "rnn" or (impl == "auto" and connect == "none"):
        return _forward_rnn(x, h0, w_ih, w_hh, b, sizes, pers, mask, nonlinearity)
    w_hh = np.where(mask, w_hh, 0).astype(dt, copy=False)   # the cache's own masked copy
    steps = clockwork_schedule(sizes, pers, connect, T)

    hs = np.empty((T + 1, B, N), dt)
    hs[0] = 0 if h0 is None else h0
    # Input projections of every step in one GEMM (bias folded in).
    a = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, N)
    if b is not None:
        a += b
    # Per pattern, the (rows, cols) block of W_hh, contiguous, so each step is one GEMM.
    blocks = {}
    for p in steps:
        if id(p) not in blocks:
            blocks[id(p)] = w_hh if p.full else np.ascontiguousarray(w_hh[p.rows][:, p.cols])
    for t in range(T):
        p = steps[t]
        w = blocks[id(p)]
        h = hs[t]
        if p.full:
            at = a[t]
            at += h @ w.T
            hs[t + 1] = _act(at, relu)
        else:
            hs[t + 1] = h
            at = a[t][:, p.rows]
            at += h[:, p.cols] @ w.T
            hs[t + 1][:, p.rows] = _act(at, relu)
    cache = ClockworkCache(x, w_ih, w_hh, mask, b is not None, hs, steps, relu)
    return hs[1:].copy(), hs[T].copy(), cache


def clockwork_backward(dy, dh_n, cache: ClockworkCache) -> ClockworkGrads:
    """Backward through time of :func:`clockwork_forward`.

    Parameters
    ----------
    dy : (T, B, N) or None;  dh_n : (B, N) or None;  cache : from clockwork_forward

    Returns
    -------
    ClockworkGrads with dx (T,B,I), dh0 (B,N), dw_ih (N,I), dw_hh (N,N) (zero outside the mask),
    db (N,) or None. All are new arrays (overwritten, not accumulated).
    """
    if not isinstance(cache, (ClockworkCache, _RNNPathCache)):
        raise TypeError(f"cache must be the cache returned by clockwork_forward, got {type(cache).__name__}")
    x = cache.x
    T, B, I = x.shape
    N = cache.mask.shape[0]
    dt = x.dtype
    dy = as_float_array("dy", dy, 3, dt, optional=True)
    check_shape("dy", dy, (T, B, N), "(T, batch, N), the shape of y")
    dh_n = as_float_array("dh_n", dh_n, 2, dt, optional=True)
    check_shape("dh_n", dh_n, (B, N), "(batch, N), the shape of h_n")
    if isinstance(cache, _RNNPathCache):
        return _backward_rnn(dy, dh_n, cache)
    hs, w_hh = cache.hs, cache.w_hh

    dh = np.zeros((B, N), dt) if dh_n is None else dh_n.copy()   # gradient w.r.t. h_{t+1}
    da = np.zeros((T, B, N), dt)                                 # pre-activation gradients
    blocks = {}
    for t in range(T - 1, -1, -1):
        if dy is not None:
            dh += dy[t]
        p = cache.steps[t]
        h_new = hs[t + 1]
        if p.full:
            g = dh * ((h_new > 0) if cache.relu else (1 - h_new * h_new))
            da[t] = g
            dh = g @ w_hh
        else:
            if id(p) not in blocks:
                blocks[id(p)] = np.ascontiguousarray(w_hh[p.rows][:, p.cols])
            hr = h_new[:, p.rows]
            g = dh[:, p.rows] * ((hr > 0) if cache.relu else (1 - hr * hr))
            da[t][:, p.rows] = g
            dh[:, p.rows] = 0          # active units do not carry their old value
            dh[:, p.cols] += g @ blocks[id(p)]
    da2 = da.reshape(T * B, N)
    dx = (da2 @ cache.w_ih).reshape(T, B, I)
    dw_ih = da2.T @ x.reshape(T * B, I)
    dw_hh = da2.T @ hs[:T].reshape(T * B, N)
    dw_hh[~cache.mask] = 0
    db = da2.sum(0) if cache.has_bias else None
    return ClockworkGrads(dx, dh, dw_ih, dw_hh, db)


# ------------------------------------------------- connect="none": modules on the RNN kernels
@dataclass
class _RNNPathCache:
    x: np.ndarray                 # (T, B, I)
    mask: np.ndarray              # (N, N) bool
    has_bias: bool
    slices: list                  # per module: slice of its units
    periods: tuple
    caches: list                  # per module: RNNCache of its strided sequence


def _forward_rnn(x, h0, w_ih, w_hh, b, sizes, periods, mask, nonlinearity):
    """connect="none": module i is an Elman RNN over x[::p_i]; its k-th state holds for steps
    k*p_i .. k*p_i + p_i - 1."""
    from .. import functional as F

    T, B, _ = x.shape
    N = sum(sizes)
    y = np.empty((T, B, N), x.dtype)
    h_n = np.empty((B, N), x.dtype)
    slices = _module_slices(sizes)
    caches = []
    for sl, p in zip(slices, periods):
        xs = x if p == 1 else np.ascontiguousarray(x[::p])
        yi, hi, ci = F.rnn_forward(xs, None if h0 is None else h0[:, sl], w_ih[sl], w_hh[sl, sl],
                                   None if b is None else b[sl], None, nonlinearity=nonlinearity)
        y[:, :, sl] = yi if p == 1 else np.repeat(yi, p, axis=0)[:T]
        h_n[:, sl] = hi
        caches.append(ci)
    return y, h_n, _RNNPathCache(x, mask, b is not None, slices, tuple(periods), caches)


def _backward_rnn(dy, dh_n, cache: _RNNPathCache) -> ClockworkGrads:
    from .. import functional as F

    x = cache.x
    T, B, I = x.shape
    N = cache.mask.shape[0]
    dt = x.dtype
    dx = np.zeros((T, B, I), dt)
    dh0 = np.empty((B, N), dt)
    dw_ih = np.empty((N, I), dt)
    dw_hh = np.zeros((N, N), dt)
    db = np.empty(N, dt) if cache.has_bias else None
    for sl, p, ci in zip(cache.slices, cache.periods, cache.caches):
        dyi = None
        if dy is not None:
            dyi = dy[:, :, sl]
            if p > 1:   # state k is the output of steps k*p .. k*p+p-1: sum their gradients
                Tk = -(-T // p)
                pad = np.zeros((Tk * p, B, dyi.shape[2]), dt)
                pad[:T] = dyi
                dyi = pad.reshape(Tk, p, B, -1).sum(1)
        g = F.rnn_backward(dyi, None if dh_n is None else dh_n[:, sl], ci)
        if p == 1:
            dx += g.dx
        else:
            dx[::p] += g.dx
        dh0[:, sl] = g.dh0
        dw_ih[sl] = g.dw_ih
        dw_hh[sl, sl] = g.dw_hh
        if db is not None:
            db[sl] = g.db_ih
    return ClockworkGrads(dx, dh0, dw_ih, dw_hh, db)


# -------------------------------------------------------------------------------------- module


class ClockworkRNN(Module):
    """Clockwork RNN layer (see the module docstring for the equations).

    Parameters
    ----------
    input_size : int
    module_sizes : sequence of int, units per module (N = their sum)
    periods : sequence of int, one clock period per module
    connect : "slower-to-faster" (Koutnik et al.) or "none" (independent modules)
    nonlinearity : "tanh" or "relu"
    bias : bool
    dtype : float32 or float64
    seed : int, None or numpy.random.Generator, for the initial weights
    impl : "auto", "numpy" or "rnn" (see the module docstring)

    Parameters (attributes): ``weight_ih`` (N, I), ``weight_hh`` (N, N) (zero outside
    :func:`clockwork_mask`; its gradient is masked too, so optimisers keep those zeros),
    ``bias`` (N,) when ``bias``. Initialisation: for each module, its rows of ``weight_ih`` and its
    connected block of ``weight_hh`` rows are Xavier uniform (fan-in = the inputs feeding it,
    fan-out = the module size), as for a separate layer per module; the bias is zero.

    ``forward(x (T, B, I), h0=None (B, N)) -> (y (T, B, N), h_n (B, N))`` keeps the cache;
    ``backward(dy=None, dh_n=None) -> (dx (T, B, I), dh0 (B, N))`` ACCUMULATES the parameters'
    ``.grad`` (as PyTorch does; zero them between steps).
    """

    def __init__(self, input_size: int, module_sizes, periods, connect: str = "slower-to-faster",
                 nonlinearity: str = "tanh", bias: bool = True, dtype=np.float64, seed=None, impl: str = "auto"):
        super().__init__()
        sizes, pers = _check_structure(module_sizes, periods, connect)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if impl not in ("auto", "numpy", "rnn"):
            raise ValueError(f"impl must be 'auto', 'numpy' or 'rnn', got {impl!r}")
        if impl == "rnn" and connect != "none":
            raise ValueError(f"impl='rnn' needs connect='none', got connect={connect!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        if int(input_size) < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        self.input_size = int(input_size)
        self.module_sizes, self.periods = sizes, pers
        self.hidden_size = sum(sizes)
        self.connect, self.nonlinearity, self.impl = connect, nonlinearity, impl
        N = self.hidden_size
        self.mask = clockwork_mask(sizes, pers, connect)
        self.weight_ih = Parameter(np.zeros((N, self.input_size), dtype))
        self.weight_hh = Parameter(np.zeros((N, N), dtype))
        self.bias = Parameter(np.zeros(N, dtype)) if bias else None
        self.reset_parameters(seed)
        self._cache = None

    def reset_parameters(self, seed=None) -> None:
        """Per-module Xavier uniform weights (masked blocks zero), zero bias."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        w_ih, w_hh = self.weight_ih.data, self.weight_hh.data
        w_hh[...] = 0
        for sl in _module_slices(self.module_sizes):
            w_ih[sl] = _init.xavier_uniform_(np.empty_like(w_ih[sl]), rng=rng)
            cols = np.flatnonzero(self.mask[sl.start])
            w_hh[sl.start:sl.stop, cols] = _init.xavier_uniform_(np.empty((sl.stop - sl.start, cols.size), w_hh.dtype),
                                                                 rng=rng)
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x, h0=None):
        dt = self.weight_ih.data.dtype
        if isinstance(x, np.ndarray) and x.dtype != dt and x.dtype.kind == "f":
            raise TypeError(f"x has dtype {x.dtype} but this ClockworkRNN's parameters are {dt}; rnnfast never "
                            "mixes dtypes: convert explicitly")
        y, h_n, self._cache = clockwork_forward(x, h0, self.weight_ih.data, self.weight_hh.data,
                                                None if self.bias is None else self.bias.data, self.module_sizes,
                                                self.periods, connect=self.connect, nonlinearity=self.nonlinearity,
                                                impl=self.impl)
        return y, h_n

    def backward(self, dy=None, dh_n=None):
        if self._cache is None:
            raise RuntimeError("ClockworkRNN.backward called before forward")
        g = clockwork_backward(dy, dh_n, self._cache)
        pairs = [(self.weight_ih, g.dw_ih), (self.weight_hh, g.dw_hh)]
        if self.bias is not None:
            pairs.append((self.bias, g.db))
        for p, d in pairs:
            if p.grad is None:
                p.grad = d
            else:
                p.grad += d
        return g.dx, g.dh0

    def extra_repr(self) -> str:
        return (f"{self.input_size}, module_sizes={self.module_sizes}, periods={self.periods}, "
                f"connect={self.connect!r}, nonlinearity={self.nonlinearity!r}")
