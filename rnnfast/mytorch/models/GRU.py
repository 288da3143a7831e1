"""The HW3P1 bonus multi-layer ``GRU`` (models/GRU.py): a list of GRUCells run over whole batched
sequences with rnnfast's sequence kernels (one call per layer, on the cells' packed weights).

forward(input_seq (T, B, I), h0=None (L, B, H)) -> (out (T, B, H), h_n (L, B, H));
backward(d_out (T, B, H)) -> d_input (T, B, I), accumulating every cell's twelve gradients.
The gradients are the true ones (checked against PyTorch autograd).
"""
import numpy as np

__all__ = ["GRU"]

from rnnfast import functional as F

from ..gru_cell import GRUCell


class GRU:
    def __init__(self, input_size, hidden_size, num_layers=1):
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.layers = [GRUCell(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)]

    def __call__(self, input_seq, h0=None):
        return self.forward(input_seq, h0)

    def forward(self, input_seq, h0=None):
        """input_seq (T, B, I), h0 (L, B, H) or None (zeros) -> (out (T, B, H), h_n (L, B, H))."""
        x = np.ascontiguousarray(input_seq, np.float64)
        L, H = self.num_layers, self.hidden_size
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"GRU.forward: input_seq should have shape (T, B, {self.input_size}), got {x.shape}")
        T, B, _ = x.shape
        if h0 is not None:
            h0 = np.ascontiguousarray(h0, np.float64)
            if h0.shape != (L, B, H):
                raise ValueError(f"GRU.forward: h0 should have shape {(L, B, H)} (num_layers, batch, hidden), "
                                 f"got {h0.shape}")
        h_n = np.empty((L, B, H))
        self._caches = []
        for l, cell in enumerate(self.layers):
            x, h_n[l], cache = F.gru_forward(x, None if h0 is None else h0[l], cell._w_ih, cell._w_hh, cell._b_ih,
                                             cell._b_hh)
            self._caches.append(cache)
        return x, h_n

    def backward(self, d_out):
        """d_out (T, B, H) -> d_input (T, B, I); adds every cell's twelve weight and bias gradients."""
        d = np.ascontiguousarray(d_out, np.float64)
        for l in range(self.num_layers - 1, -1, -1):
            cell = self.layers[l]
            g = F.gru_backward(d, None, self._caches[l])
            cell._dw_ih += g.dw_ih
            cell._dw_hh += g.dw_hh
            cell._db_ih += g.db_ih
            cell._db_hh += g.db_hh
            d = g.dx
        return d
