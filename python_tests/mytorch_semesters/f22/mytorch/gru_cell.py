# ruff: noqa  (a handout file, in the handout's style)
import numpy as np
from activation import *


class GRUCell(object):
    """GRU Cell class."""

    def __init__(self, in_dim, hidden_dim):
        self.d = in_dim
        self.h = hidden_dim
        self.r_act = Sigmoid()
        self.z_act = Sigmoid()
        self.h_act = Tanh()

    def forward(self, x, h_prev_t):
        raise NotImplementedError("TODO: GRUCell.forward")

    def backward(self, delta):
        raise NotImplementedError("TODO: GRUCell.backward")
