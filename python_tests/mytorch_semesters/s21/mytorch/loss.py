# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


class Criterion(object):
    def __init__(self):
        self.logits = None
        self.labels = None
        self.loss = None

    def __call__(self, x, y):
        return self.forward(x, y)

    def forward(self, x, y):
        raise NotImplementedError

    def derivative(self):
        raise NotImplementedError


class SoftmaxCrossEntropy(Criterion):
    def __init__(self):
        super(SoftmaxCrossEntropy, self).__init__()
        self.sm = None

    def forward(self, x, y):
        self.logits = x
        self.labels = y
        a = np.max(x, axis=1, keepdims=True)
        e = np.exp(x - a)
        self.sm = e / np.sum(e, axis=1, keepdims=True)
        self.loss = -np.sum(y * np.log(self.sm), axis=1)
        return self.loss

    def derivative(self):
        return self.sm - self.labels
