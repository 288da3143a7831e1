"""MyTorch ``nn``: Linear, activations and SoftmaxCrossEntropy (the handout's mytorch/nn)."""
