# ruff: noqa  (a handout file, in the handout's style)
import numpy as np
import sys

sys.path.append("mytorch")
from gru_cell import *
from linear import *


class CharacterPredictor(object):
    def __init__(self, input_dim, hidden_dim, num_classes):
        raise NotImplementedError("TODO: CharacterPredictor")


def inference(net, inputs):
    raise NotImplementedError("TODO: inference")
