"""MyTorch ``RNNCell`` (mytorch/rnn_cell.py) on rnnfast's fused single-step Elman RNN kernels.

forward(x (B, d), h_prev_t (B, h)) -> tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).
backward(delta, h_t, h_prev_l, h_prev_t) -> (dx, dh_prev_t); weight and bias gradients are
accumulated (+=) and divided by the batch size, dx and dh_prev_t are not.

The weights are plain attributes (as MyTorch: ``init_weights`` rebinds them, training code may
update them in place or rebind them); every step reads the current ones. A step calls the active
backend's kernel directly when its arrays are already what the kernel takes (float64 or float32
throughout, C-contiguous), else goes through ``rnnfast.functional`` (which converts and checks).
Arrays of mixed precision are computed in the wider one, as NumPy's products would.
"""
import numpy as np

import rnnfast
from rnnfast import functional as F

from ._kernels import kernels as _kernels

__all__ = ["RNNCell"]

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
_UNSET = object()


def _either(method, name, value, alias, alias_value):
    """The argument given as ``name`` or as its other handouts' name ``alias`` (exactly one)."""
    if (value is _UNSET) == (alias_value is _UNSET):
        raise TypeError(f"RNNCell.{method}() takes {name!r} (or {alias!r}) exactly once")
    return value if alias_value is _UNSET else alias_value


_WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh")


def _real(a, name):
    """``a`` as an ndarray of real numbers (float, int or bool; a torch tensor is converted), else a
    TypeError naming it."""
    if a is None:
        raise TypeError(f"RNNCell: {name} is None; expected an array of real numbers")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"RNNCell: {name} is not an array of numbers ({type(a).__name__}: {e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"RNNCell: {name} must hold real numbers (float or int), got dtype {arr.dtype} "
                        f"of shape {arr.shape}")
    return arr


def _ready(dt, *arrays):
    """True if every array is an ndarray of dtype ``dt``, C-contiguous and aligned (the kernel takes it as is)."""
    for a in arrays:
        if not (type(a) is np.ndarray and a.dtype is dt and a.flags.c_contiguous and a.flags.aligned):
            return False
    return True


class RNNCell:
    def __init__(self, input_size, hidden_size):
        self.input_size = input_size
        self.hidden_size = hidden_size
        h, d = hidden_size, input_size
        self.W_ih = np.random.randn(h, d)
        self.W_hh = np.random.randn(h, h)
        self.b_ih = np.random.randn(h)
        self.b_hh = np.random.randn(h)
        self.zero_grad()

    def init_weights(self, W_ih, W_hh, b_ih, b_hh):
        self.W_ih, self.W_hh, self.b_ih, self.b_hh = W_ih, W_hh, b_ih, b_hh

    def zero_grad(self):
        self.dW_ih = np.zeros((self.hidden_size, self.input_size))
        self.dW_hh = np.zeros((self.hidden_size, self.hidden_size))
        self.db_ih = np.zeros(self.hidden_size)
        self.db_hh = np.zeros(self.hidden_size)

    def __call__(self, x, h_prev_t=_UNSET, h=_UNSET):
        return self.forward(x, h_prev_t, h)

    def _dtype(self, names, *arrays):
        """float32 only if every array is float32 (NumPy's promotion; an int input counts as float64).
        Checks that every input and weight holds real numbers."""
        dt = _F32
        for name, a in zip(names + _WEIGHTS, arrays + (self.W_ih, self.W_hh, self.b_ih, self.b_hh)):
            d = getattr(a, "dtype", None)
            if d is _F64 or d is not _F32 and _real(a, name).dtype != _F32:
                dt = _F64
        return dt

    def _weights(self, dt):
        """W_ih, W_hh, b_ih, b_hh in dtype dt, shapes checked; a view at an odd byte offset is copied aligned."""
        H, I = self.hidden_size, self.input_size
        out = []
        for name, want in zip(_WEIGHTS, ((H, I), (H, H), (H,), (H,))):
            a = np.require(getattr(self, name), dt, "A")
            if a.shape != want:
                raise ValueError(f"RNNCell: {name} should have shape {want} (hidden_size={H}, input_size={I}), "
                                 f"got {a.shape}")
            out.append(a)
        return out

    def forward(self, x, h_prev_t=_UNSET, h=_UNSET):
        """x (B, d), h_prev_t (B, h) -> h_t (B, h) (unbatched (d,), (h,) -> (h,) also accepted).
        ``h`` is the earlier handouts' name of ``h_prev_t``."""
        h_prev_t = _either("forward", "h_prev_t", h_prev_t, "h", h)
        dt = self._dtype(("x", "h_prev_t"), x, h_prev_t)
        w = (self.W_ih, self.W_hh, self.b_ih, self.b_hh)
        if (_ready(dt, x, h_prev_t, *w) and np.ndim(x) == 2 and x.shape[1] == self.input_size
                and h_prev_t.shape == (x.shape[0], self.hidden_size) and self.W_ih.shape == (self.hidden_size,
                                                                                              self.input_size)
                and self.W_hh.shape == (self.hidden_size,) * 2 and self.b_ih.shape == self.b_hh.shape
                == (self.hidden_size,)):
            h_t = np.empty((x.shape[0], self.hidden_size), dt)
            _kernels().rnn_cell_forward(h_t, x, h_prev_t, *w, False)
            return h_t
        xb = np.atleast_2d(np.require(x, dt, "CA"))
        h = np.atleast_2d(np.require(h_prev_t, dt, "CA"))
        I, H = self.input_size, self.hidden_size
        if xb.ndim != 2 or h.ndim != 2 or xb.shape[1] != I or h.shape != (xb.shape[0], H):
            raise ValueError(f"RNNCell.forward: expected x of shape (B, {I}) and h_prev_t of shape (B, {H}) "
                             f"(or ({I},) and ({H},)), got {np.shape(x)} and {np.shape(h_prev_t)}")
        if not (self.hidden_size and self.input_size):  # an empty axis: the kernels are not built for it
            W_ih, W_hh, b_ih, b_hh = self._weights(dt)
            h_t = np.tanh(xb @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
            return h_t.reshape(np.shape(h_prev_t)) if np.ndim(h_prev_t) == 1 else h_t
        h_t, _ = F.rnn_cell_forward(xb, h, *self._weights(dt))
        return h_t.reshape(np.shape(h_prev_t)) if np.ndim(h_prev_t) == 1 else h_t

    def backward(self, delta, h_t=_UNSET, h_prev_l=_UNSET, h_prev_t=_UNSET, h=_UNSET):
        """delta, h_t, h_prev_t (B, h); h_prev_l (B, d) (the input of this step).
        Returns (dx (B, d), dh_prev_t (B, h)); adds the weight and bias gradients / B.
        ``h`` is the earlier handouts' name of ``h_t``."""
        h_t = _either("backward", "h_t", h_t, "h", h)
        for name, v in (("h_prev_l", h_prev_l), ("h_prev_t", h_prev_t)):
            if v is _UNSET:
                raise TypeError(f"RNNCell.backward() missing required argument {name!r}")
        dt = self._dtype(("delta", "h_t", "h_prev_l", "h_prev_t"), delta, h_t, h_prev_l, h_prev_t)
        shape = np.shape(delta)
        delta, h_t, h_prev_l, h_prev_t = (np.atleast_2d(np.require(a, dt, "A"))
                                          for a in (delta, h_t, h_prev_l, h_prev_t))
        B, H, I = delta.shape[0], self.hidden_size, self.input_size
        w = (self.W_ih, self.W_hh)
        g = (self.dW_ih, self.dW_hh, self.db_ih, self.db_hh)
        if (B and _ready(dt, h_t, h_prev_l, h_prev_t, *w, *g) and all(a.flags.writeable for a in g)
                and delta.shape == h_t.shape == h_prev_t.shape == (B, H) and h_prev_l.shape == (B, I)
                and w[0].shape == g[0].shape == (H, I) and w[1].shape == g[1].shape == (H, H)
                and g[2].shape == g[3].shape == (H,)):
            # the kernel accumulates dW += dg^T x: feeding it delta / B gives MyTorch's batch-averaged
            # weight gradients in place; dx and dh (linear in delta) are scaled back
            d = np.multiply(delta, 1.0 / B, order="C")  # the kernel takes C order
            dx, dh, dg = np.empty((B, I), dt), np.empty((B, H), dt), np.empty((B, H), dt)
            _kernels().rnn_cell_backward(dx, dh, *g, dg, d, h_prev_l, h_prev_t, h_t, *w, False)
            dx *= B
            dh *= B
        else:  # through the functional API (it checks and converts), then average into the attributes
            w_ih, w_hh = (np.ascontiguousarray(a) for a in self._weights(dt)[:2])  # shapes checked there
            for name, a, want in (("delta", delta, (B, H)), ("h_t", h_t, (B, H)), ("h_prev_l", h_prev_l, (B, I)),
                                  ("h_prev_t", h_prev_t, (B, H))):
                if a.shape != want:
                    raise ValueError(f"RNNCell.backward: {name} should have shape {want}, got {a.shape}")
            if not (H and I and B):  # an empty axis: the kernels are not built for it
                dz = delta * (1 - h_t * h_t)
                Bd = max(B, 1)
                self.dW_ih += dz.T @ h_prev_l / Bd
                self.dW_hh += dz.T @ h_prev_t / Bd
                self.db_ih += dz.sum(0) / Bd
                self.db_hh += dz.sum(0) / Bd
                dx, dh = dz @ w_ih, dz @ w_hh
                return (dx[0], dh[0]) if len(shape) == 1 else (dx, dh)
            cache = F.RNNCellCache(rnnfast.get_backend(), np.ascontiguousarray(h_prev_l),
                                   np.ascontiguousarray(h_prev_t), np.array(h_t), w_ih, w_hh, True, True, False)
            gr = F.rnn_cell_backward(np.ascontiguousarray(delta), cache)
            self.dW_ih += gr.dw_ih / B
            self.dW_hh += gr.dw_hh / B
            self.db_ih += gr.db_ih / B
            self.db_hh += gr.db_hh / B
            dx, dh = gr.dx, gr.dh0
        if len(shape) == 1:
            return dx[0], dh[0]
        return dx, dh
