# ruff: noqa  (a handout file, in the handout's style)
import numpy as np
from nn.activation import *


class GRUCell(object):
    """GRU Cell class."""

    def __init__(self, input_size, hidden_size):
        self.d = input_size
        self.h = hidden_size
        self.r_act = Sigmoid()
        self.z_act = Sigmoid()
        self.h_act = Tanh()

    def forward(self, x, h_prev_t):
        raise NotImplementedError("TODO: GRUCell.forward")

    def backward(self, delta):
        raise NotImplementedError("TODO: GRUCell.backward")
