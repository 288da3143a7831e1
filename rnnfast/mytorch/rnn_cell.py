"""MyTorch ``RNNCell`` (mytorch/rnn_cell.py) on rnnfast's fused single-step RNN kernels.

forward(x (B, d), h_prev_t (B, h)) -> tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).
backward(delta, h_t, h_prev_l, h_prev_t) -> (dx, dh_prev_t); weight and bias gradients are
accumulated (+=) and divided by the batch size, dx and dh_prev_t are not.
"""
import numpy as np

from rnnfast import functional as F
from rnnfast.functional import RNNCellCache


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

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def _weights(self, dt):
        return [np.asarray(a, dt) for a in (self.W_ih, self.W_hh, self.b_ih, self.b_hh)]

    def forward(self, x, h_prev_t):
        x = np.asarray(x)
        dt = np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64
        xb = np.atleast_2d(np.asarray(x, dt))
        h = np.atleast_2d(np.asarray(h_prev_t, dt))
        h_t, _ = F.rnn_cell_forward(xb, h, *self._weights(dt))
        return h_t.reshape(np.shape(h_prev_t)) if np.ndim(h_prev_t) == 1 else h_t

    def backward(self, delta, h_t, h_prev_l, h_prev_t):
        """delta, h_t, h_prev_t (B, h); h_prev_l (B, d) (the input of this step)."""
        delta = np.atleast_2d(delta)
        dt = delta.dtype if delta.dtype.kind == "f" else np.float64
        B = delta.shape[0]
        w = self._weights(dt)
        cache = RNNCellCache(F._backend.get_backend(), np.atleast_2d(np.asarray(h_prev_l, dt)),
                             np.atleast_2d(np.asarray(h_prev_t, dt)), np.atleast_2d(np.asarray(h_t, dt)).copy(), w[0],
                             w[1], True, True, False)
        g = F.rnn_cell_backward(np.asarray(delta, dt), cache)
        self.dW_ih += g.dw_ih / B
        self.dW_hh += g.dw_hh / B
        self.db_ih += g.db_ih / B
        self.db_hh += g.db_hh / B
        return g.dx, g.dh0
