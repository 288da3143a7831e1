# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


class GreedySearchDecoder(object):
    def __init__(self, symbol_set):
        self.symbol_set = symbol_set

    def decode(self, y_probs):
        raise NotImplementedError("TODO: greedy search")


class BeamSearchDecoder(object):
    def __init__(self, symbol_set, beam_width):
        self.symbol_set = symbol_set
        self.beam_width = beam_width

    def decode(self, y_probs):
        raise NotImplementedError("TODO: beam search")
