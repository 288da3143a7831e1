# ruff: noqa  (a handout file, in the handout's style)
import numpy as np
from nn.activation import *


class RNNCell(object):
    """RNN Cell class."""

    def __init__(self, input_size, hidden_size):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.activation = Tanh()
        h = self.hidden_size
        d = self.input_size
        self.W_ih = np.random.randn(h, d)
        self.W_hh = np.random.randn(h, h)
        self.b_ih = np.random.randn(h)
        self.b_hh = np.random.randn(h)

    def init_weights(self, W_ih, W_hh, b_ih, b_hh):
        self.W_ih = W_ih
        self.W_hh = W_hh
        self.b_ih = b_ih
        self.b_hh = b_hh

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def forward(self, x, h_prev_t):
        raise NotImplementedError("TODO: RNNCell.forward")

    def backward(self, delta, h_t, h_prev_l, h_prev_t):
        raise NotImplementedError("TODO: RNNCell.backward")
