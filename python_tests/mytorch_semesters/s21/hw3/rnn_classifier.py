# ruff: noqa  (a handout file, in the handout's style)
import numpy as np
import sys

sys.path.append("mytorch")
from rnn_cell import *
from linear import *


class RNN_Phoneme_Classifier(object):
    """RNN Phoneme Classifier class."""

    def __init__(self, input_size, hidden_size, output_size, num_layers=2):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.rnn = []  # TODO
        self.output_layer = None  # TODO
        self.hiddens = []

    def __call__(self, x, h_0=None):
        return self.forward(x, h_0)

    def forward(self, x, h_0=None):
        raise NotImplementedError("TODO: classifier forward")

    def backward(self, delta):
        raise NotImplementedError("TODO: classifier backward")
