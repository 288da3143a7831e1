"""The 2019 MyTorch ``GRU_Cell`` (no biases; z and r placed as in the 2019 handout)::

    z = s(Wzh h + Wzx x)     r = s(Wrh h + Wrx x)     h~ = tanh(Wh (r * h) + Wx x)
    h_t = (1 - z) * h + z * h~

This is rnnfast's ``reset_after=False`` GRU with the roles of z and 1-z swapped: with
z' = 1 - z = s(-(Wzh h + Wzx x)) the kernel's h_t = (1 - z') n + z' h is the same. So the cell
runs the fused single-step kernel on the weights (r: Wrx/Wrh, z: -Wzx/-Wzh, n: Wx/Wh).
"""
import numpy as np

__all__ = ["GRU_Cell"]

from rnnfast import functional as F


class GRU_Cell:
    def __init__(self, in_dim, hidden_dim):
        self.d, self.h = in_dim, hidden_dim
        h, d = hidden_dim, in_dim
        self.Wzh, self.Wrh, self.Wh = (np.random.randn(h, h) for _ in range(3))
        self.Wzx, self.Wrx, self.Wx = (np.random.randn(h, d) for _ in range(3))
        self.dWzh, self.dWrh, self.dWh = (np.zeros((h, h)) for _ in range(3))
        self.dWzx, self.dWrx, self.dWx = (np.zeros((h, d)) for _ in range(3))
        self.z = self.r = self.h_tilde = None

    def init_weights(self, Wzh, Wrh, Wh, Wzx, Wrx, Wx):
        self.Wzh, self.Wrh, self.Wh, self.Wzx, self.Wrx, self.Wx = Wzh, Wrh, Wh, Wzx, Wrx, Wx

    def __call__(self, x, h):
        return self.forward(x, h)

    def forward(self, x, h):
        """x (d,), h (h,) -> h_t (h,); sets z, r, h_tilde."""
        self.x = np.asarray(x, np.float64).reshape(-1)
        self.hidden = np.asarray(h, np.float64).reshape(-1)
        w_ih = np.concatenate([self.Wrx, -np.asarray(self.Wzx), self.Wx], dtype=np.float64)
        w_hh = np.concatenate([self.Wrh, -np.asarray(self.Wzh), self.Wh], dtype=np.float64)
        h_t, self._cache = F.gru_cell_forward(self.x[None], self.hidden[None], w_ih, w_hh, reset_after=False)
        g = self._cache.gates[0]
        H = self.h
        self.r, self.z, self.h_tilde = g[:H].copy(), 1 - g[H:2 * H], g[2 * H:].copy()
        return h_t[0]

    def backward(self, delta):
        """delta (h,) or (1, h) -> (dx (1, d), dh (1, h)); accumulates the six weight gradients."""
        delta = np.asarray(delta, np.float64).reshape(1, -1)
        g = F.gru_cell_backward(delta, self._cache)
        H = self.h
        self.dWrx += g.dw_ih[:H]
        self.dWzx -= g.dw_ih[H:2 * H]
        self.dWx += g.dw_ih[2 * H:]
        self.dWrh += g.dw_hh[:H]
        self.dWzh -= g.dw_hh[H:2 * H]
        self.dWh += g.dw_hh[2 * H:]
        return g.dx, g.dh0
