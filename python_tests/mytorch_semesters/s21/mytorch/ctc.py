# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


class CTC(object):
    def __init__(self, BLANK=0):
        self.BLANK = BLANK

    def targetWithBlank(self, *args):
        raise NotImplementedError("TODO: targetWithBlank")

    def forwardProb(self, *args):
        raise NotImplementedError("TODO: forwardProb")

    def backwardProb(self, *args):
        raise NotImplementedError("TODO: backwardProb")

    def postProb(self, *args):
        raise NotImplementedError("TODO: postProb")

