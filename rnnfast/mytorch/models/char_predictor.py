"""MyTorch ``CharacterPredictor`` and ``inference`` (models/char_predictor.py): a GRUCell and a
Linear projection, one character at a time."""
import numpy as np

from ..gru_cell import GRUCell
from ..nn.linear import Linear


class CharacterPredictor:
    def __init__(self, input_dim, hidden_dim, num_classes):
        self.gru = GRUCell(input_dim, hidden_dim)
        self.projection = Linear(hidden_dim, num_classes)
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.projection.W = np.random.rand(num_classes, hidden_dim)

    def init_rnn_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        self.gru.init_weights(Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh)

    def __call__(self, x, h):
        return self.forward(x, h)

    def forward(self, x, h):
        """x (d,), h (h,) -> (logits (C,), h_next (h,))."""
        hnext = self.gru.forward(x, h)
        logits = self.projection.forward(hnext.reshape(1, -1)).reshape(-1)
        return logits, hnext


def inference(net, inputs):
    """Logits (T, C) of ``net`` over inputs (T, d) from a zero state."""
    h = np.zeros(net.hidden_dim)
    out = []
    for x in inputs:
        logits, h = net.forward(x, h)
        out.append(logits)
    return np.stack(out)
