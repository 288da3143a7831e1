"""MyTorch ``GRUCell`` (mytorch/gru_cell.py) on rnnfast's fused single-step GRU kernels.

PyTorch's equations (gate order r, z, n) on unbatched vectors::

    r = s(Wrx x + brx + Wrh h + brh)      z = s(Wzx x + bzx + Wzh h + bzh)
    n = tanh(Wnx x + bnx + r * (Wnh h + bnh))          h_t = (1 - z) * n + z * h

The twelve weights (``Wrx`` ... ``bnh``) and their gradients (``dWrx`` ... ``dbnh``) are the
user-visible attributes training code reads and updates in place (``cell.Wrx -= lr * cell.dWrx``).
They are views into packed (3h, d) / (3h, h) / (3h,) buffers that the kernel uses directly;
assigning an attribute (``cell.Wrx = W``, ``init_weights``) copies into the buffer. A step calls
the active backend's fused kernels directly on per-cell buffers allocated once (the per-call
validation and allocation of ``rnnfast.functional`` cost more than the step itself here).
"""
import numpy as np

from rnnfast import _backend

_GATES = ("r", "z", "n")


def _block(buf_name, k):
    """A property exposing gate block k of the packed buffer ``buf_name``."""

    def get(self):
        buf = getattr(self, buf_name)
        h = self.h
        return buf[k * h:(k + 1) * h]

    def set(self, value):
        v = np.asarray(value, dtype=np.float64)
        dst = get(self)
        if v.shape != dst.shape and v.size == dst.size:  # e.g. (h,) given as (h, 1)
            v = v.reshape(dst.shape)
        if v.shape != dst.shape:
            raise ValueError(f"expected shape {dst.shape}, got {v.shape}")
        if not np.shares_memory(v, dst):
            dst[...] = v

    return property(get, set)


class GRUCell:
    def __init__(self, in_dim, hidden_dim):
        self.d = in_dim
        self.h = hidden_dim
        h, d = hidden_dim, in_dim
        self._w_ih = np.empty((3 * h, d))
        self._w_hh = np.empty((3 * h, h))
        self._b_ih = np.empty(3 * h)
        self._b_hh = np.empty(3 * h)
        # the spec's draw order: Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, then brx, bzx, bnx, brh, bzh, bnh
        self.Wrx, self.Wzx, self.Wnx = (np.random.randn(h, d) for _ in range(3))
        self.Wrh, self.Wzh, self.Wnh = (np.random.randn(h, h) for _ in range(3))
        self.brx, self.bzx, self.bnx, self.brh, self.bzh, self.bnh = (np.random.randn(h) for _ in range(6))
        self._dw_ih = np.zeros((3 * h, d))
        self._dw_hh = np.zeros((3 * h, h))
        self._db_ih = np.zeros(3 * h)
        self._db_hh = np.zeros(3 * h)
        self.r = self.z = self.n = None
        # kernel buffers (one row): outputs, cache and workspace of the fused step
        self._h_new, self._gates, self._hn, self._gh = (np.empty((1, n)) for n in (h, 3 * h, h, 3 * h))
        self._dx, self._dh, self._dgx, self._dgh, self._dtmp = (np.empty((1, n)) for n in (d, h, 3 * h, 3 * h, h))
        self._x2 = self._h2 = None

    for _k, _g in enumerate(_GATES):
        locals()[f"W{_g}x"] = _block("_w_ih", _k)
        locals()[f"W{_g}h"] = _block("_w_hh", _k)
        locals()[f"b{_g}x"] = _block("_b_ih", _k)
        locals()[f"b{_g}h"] = _block("_b_hh", _k)
        locals()[f"dW{_g}x"] = _block("_dw_ih", _k)
        locals()[f"dW{_g}h"] = _block("_dw_hh", _k)
        locals()[f"db{_g}x"] = _block("_db_ih", _k)
        locals()[f"db{_g}h"] = _block("_db_hh", _k)
    del _k, _g

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        self.Wrx, self.Wzx, self.Wnx = Wrx, Wzx, Wnx
        self.Wrh, self.Wzh, self.Wnh = Wrh, Wzh, Wnh
        self.brx, self.bzx, self.bnx = brx, bzx, bnx
        self.brh, self.bzh, self.bnh = brh, bzh, bnh

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def forward(self, x, h_prev_t):
        """x (d,), h_prev_t (h,) -> h_t (h,); leaves x, hidden, r, z, n set."""
        self.x = np.asarray(x, np.float64)
        self.hidden = np.asarray(h_prev_t, np.float64)
        if self.x.shape != (self.d,) or self.hidden.shape != (self.h,):
            raise ValueError(f"GRUCell.forward: expected x ({self.d},) and h_prev_t ({self.h},), got {self.x.shape} "
                             f"and {self.hidden.shape}")
        self._x2 = np.ascontiguousarray(self.x).reshape(1, -1)
        self._h2 = np.ascontiguousarray(self.hidden).reshape(1, -1)
        self._kernels = _backend.kernels()
        self._kernels.gru_cell_forward(self._h_new, self._gates, self._hn, self._gh, self._x2, self._h2, self._w_ih,
                                       self._w_hh, self._b_ih, self._b_hh, True)
        g, H = self._gates[0], self.h
        self.r, self.z, self.n = g[:H].copy(), g[H:2 * H].copy(), g[2 * H:].copy()
        return self._h_new[0].copy()

    def backward(self, delta):
        """delta (h,) -> (dx (d,), dh_prev_t (h,)); accumulates all twelve dW*/db*."""
        if self._x2 is None:
            raise RuntimeError("GRUCell.backward called before forward")
        delta = np.ascontiguousarray(delta, np.float64).reshape(1, -1)
        if delta.shape != (1, self.h):
            raise ValueError(f"GRUCell.backward: expected delta ({self.h},), got {np.shape(delta)}")
        self._kernels.gru_cell_backward(self._dx, self._dh, self._dw_ih, self._dw_hh, self._db_ih, self._db_hh,
                                        self._dgx, self._dgh, self._dtmp, delta, self._x2, self._h2, self._w_ih,
                                        self._w_hh, self._gates, self._hn, True)
        return self._dx[0].copy(), self._dh[0].copy()
