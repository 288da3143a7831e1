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

    def backward(self):
        raise NotImplementedError


class SoftmaxCrossEntropy(Criterion):
    def __init__(self):
        super(SoftmaxCrossEntropy, self).__init__()

    def forward(self, x, y):
        self.logits = x
        self.labels = y
        self.batch_size = self.labels.shape[0]
        exps = np.exp(self.logits - np.max(self.logits, axis=1, keepdims=True))
        self.softmax = exps / exps.sum(axis=1, keepdims=True)
        cross_entropy = -(self.labels * np.log(self.softmax)).sum(axis=1)
        return cross_entropy

    def backward(self):
        return self.softmax - self.labels
