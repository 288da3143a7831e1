"""MyTorch ``Linear`` (mytorch/nn/linear.py): W (out, in) and b (out, 1) start at zero."""
import numpy as np

__all__ = ["Linear"]


class Linear:
    def __init__(self, in_features, out_features, debug=False):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))
        self.debug = debug

    def forward(self, A):
        """A (N, in) -> Z = A W^T + b^T (N, out)."""
        self.A = A
        self.N = A.shape[0]
        self.Ones = np.ones((self.N, 1))
        return A @ self.W.T + self.Ones @ self.b.T

    def __call__(self, A):
        return self.forward(A)

    def backward(self, dLdZ):
        """Returns dLdA (N, in); sets dLdW = dLdZ^T A (out, in) and dLdb = dLdZ^T 1 (out, 1)."""
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.T @ self.Ones
        return dLdZ @ self.W
