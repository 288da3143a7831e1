"""MyTorch ``RNNPhonemeClassifier`` (models/rnn_classifier.py): a stack of RNNCells and a Linear
output layer on the last state. The whole sequence runs through rnnfast's sequence kernels
(one call per layer, forward and backward), which compute exactly the handout's step loops.
This is rnnfast's own set: the output layer is ``rnnfast.mytorch.nn.linear.Linear``."""
from ..nn.linear import Linear
from ..semesters._models import _Classifier

__all__ = ["RNNPhonemeClassifier"]


class RNNPhonemeClassifier(_Classifier):
    """RNNPhonemeClassifier(input_size, hidden_size, output_size, num_layers=2): ``rnn`` (list of
    RNNCell), ``output_layer`` (Linear); forward(x (B, T, d), h_0=None (L, B, h)) -> logits (B, out);
    backward(delta (B, out)) -> dh_0 / B (L, B, h)."""

    def _linear(self):
        return Linear
