"""MyTorch ``CharacterPredictor`` and ``inference`` (models/char_predictor.py): a GRUCell and a
Linear projection, one character at a time (``inference`` runs a whole sequence through the GRU
kernel). This is rnnfast's own set: the projection is ``rnnfast.mytorch.nn.linear.Linear``."""
from ..gru_cell import GRUCell
from ..nn.linear import Linear
from ..semesters._models import _Predictor, inference

__all__ = ["CharacterPredictor", "inference"]


class CharacterPredictor(_Predictor):
    """CharacterPredictor(input_dim, hidden_dim, num_classes): ``gru`` (GRUCell), ``projection``
    (Linear, W = rand(C, h) drawn after the cell's weights); forward(x (d,), h (h,)) ->
    (logits (C,), h_next (h,))."""

    _cell = GRUCell

    def _linear(self):
        return Linear

