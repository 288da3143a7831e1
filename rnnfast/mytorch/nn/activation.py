"""MyTorch activations (mytorch/nn/activation.py): forward(Z) stores its output A; backward(dLdA)
returns dLdZ. No ``__call__`` (as the handout)."""
import numpy as np

__all__ = ["Identity", "ReLU", "Sigmoid", "Tanh"]


class Identity:
    def forward(self, Z):
        self.A = Z
        return self.A

    def backward(self, dLdA):
        return dLdA * np.ones(self.A.shape)


class Sigmoid:
    def forward(self, Z):
        self.A = 0.5 * np.tanh(0.5 * Z) + 0.5  # = 1 / (1 + exp(-Z)), without overflow
        return self.A

    def backward(self, dLdA):
        return dLdA * self.A * (1 - self.A)


class Tanh:
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA, state=None):
        """``state``: a saved tanh output to differentiate at (instead of the last forward's)."""
        A = self.A if state is None else state
        return dLdA * (1 - A * A)


class ReLU:
    def forward(self, Z):
        self.A = np.maximum(0, Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (self.A > 0)
