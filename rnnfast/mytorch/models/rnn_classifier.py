"""MyTorch ``RNNPhonemeClassifier`` (models/rnn_classifier.py): a stack of RNNCells and a Linear
output layer on the last state. The whole sequence runs through rnnfast's sequence kernels
(one call per layer, forward and backward), which compute exactly the handout's step loops."""
import numpy as np

from rnnfast import functional as F

from ..nn.linear import Linear
from ..rnn_cell import RNNCell


class RNNPhonemeClassifier:
    def __init__(self, input_size, hidden_size, output_size, num_layers=2):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.rnn = [RNNCell(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)]
        self.output_layer = Linear(hidden_size, output_size)
        self.hiddens = []

    def init_weights(self, rnn_weights, linear_weights):
        """rnn_weights: per layer [W_ih, W_hh, b_ih, b_hh]; linear_weights: [W, b]."""
        for i, rnn_cell in enumerate(self.rnn):
            rnn_cell.init_weights(*rnn_weights[i])
        self.output_layer.W = linear_weights[0]
        self.output_layer.b = linear_weights[1].reshape(-1, 1)

    def __call__(self, x, h_0=None):
        return self.forward(x, h_0)

    def forward(self, x, h_0=None):
        """x (B, T, d), h_0 (L, B, h) or None -> logits (B, output_size); keeps ``hiddens``, the
        T+1 states (L, B, h) (hiddens[0] = h_0)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"RNNPhonemeClassifier.forward: x should have shape (batch, seq_len, input_size), "
                             f"got {x.shape}")
        B, T = x.shape[0], x.shape[1]
        L, H = self.num_layers, self.hidden_size
        self.x = x
        h0 = np.zeros((L, B, H)) if h_0 is None else np.asarray(h_0, np.float64)
        if h0.shape != (L, B, H):
            raise ValueError(f"RNNPhonemeClassifier.forward: h_0 should have shape {(L, B, H)}, got {h0.shape}")
        layer_in = np.ascontiguousarray(x.transpose(1, 0, 2), np.float64)  # (T, B, d)
        states = np.empty((T + 1, L, B, H))
        states[0] = h0
        self._caches = []
        for l, cell in enumerate(self.rnn):
            w = [np.ascontiguousarray(a, np.float64) for a in (cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh)]
            y, _, cache = F.rnn_forward(layer_in, np.ascontiguousarray(h0[l]), *w)
            states[1:, l] = y
            self._caches.append(cache)
            layer_in = y
        self.hiddens = [states[t].copy() for t in range(T + 1)]
        return self.output_layer.forward(self.hiddens[-1][-1])

    def backward(self, delta):
        """delta (B, output_size) -> dh_0 / B (L, B, h); accumulates every cell's (batch-averaged)
        gradients and the output layer's, as the handout's step loop."""
        B = delta.shape[0]
        L, H = self.num_layers, self.hidden_size
        dh0 = np.zeros((L, B, H))
        dh_last = self.output_layer.backward(delta)
        dy = None  # gradient w.r.t. the layer's outputs, from the layer above
        for l in range(L - 1, -1, -1):
            g = F.rnn_backward(dy, dh_last if l == L - 1 else None, self._caches[l])
            cell = self.rnn[l]
            cell.dW_ih += g.dw_ih / B
            cell.dW_hh += g.dw_hh / B
            cell.db_ih += g.db_ih / B
            cell.db_hh += g.db_hh / B
            dh0[l] = g.dh0
            dy = g.dx
        return dh0 / B
