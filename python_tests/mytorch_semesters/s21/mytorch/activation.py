# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


class Activation(object):
    def __init__(self):
        self.state = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def derivative(self):
        raise NotImplementedError


class Identity(Activation):
    def forward(self, x):
        self.state = x
        return x

    def derivative(self):
        return 1.0


class Sigmoid(Activation):
    def forward(self, x):
        self.state = 1 / (1 + np.exp(-x))
        return self.state

    def derivative(self):
        return self.state * (1 - self.state)


class Tanh(Activation):
    def forward(self, x):
        self.state = np.tanh(x)
        return self.state

    def derivative(self, state=None):
        if state is not None:
            return 1 - state ** 2
        return 1 - self.state ** 2
