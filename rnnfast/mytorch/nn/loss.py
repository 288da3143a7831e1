"""MyTorch losses (mytorch/nn/loss.py). Every semester's loss is called directly
(``crit(x, y)``); the backward is ``backward()`` (Fall 2022 on) or ``derivative()`` (Spring 2021):
both are provided."""
import numpy as np

__all__ = ["Criterion", "SoftmaxCrossEntropy"]


class Criterion:
    """Base of the losses: ``crit(x, y)`` is ``crit.forward(x, y)``."""

    def __call__(self, x, y):
        return self.forward(x, y)

    def forward(self, x, y):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def derivative(self):
        """Spring 2021's name for :meth:`backward`."""
        return self.backward()


class SoftmaxCrossEntropy(Criterion):
    """forward(x (B, C) logits, y (B, C) one-hot) -> per-sample loss (B,), unreduced;
    backward() (= derivative()) -> softmax - y (not divided by B)."""

    def forward(self, x, y):
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim != 2 or y.shape != x.shape:
            raise ValueError(f"SoftmaxCrossEntropy: expected logits x (batch, classes) and labels y of the same "
                             f"shape, got x {x.shape} and y {y.shape}")
        self.logits = x
        self.labels = y
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        self.softmax = e / e.sum(axis=1, keepdims=True)
        logsm = z - np.log(e.sum(axis=1, keepdims=True))
        return -(y * logsm).sum(axis=1)

    def backward(self):
        return self.softmax - self.labels
