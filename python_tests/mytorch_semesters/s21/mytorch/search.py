# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


def GreedySearch(SymbolSets, y_probs):
    raise NotImplementedError("TODO: GreedySearch")


def BeamSearch(SymbolSets, y_probs, BeamWidth):
    raise NotImplementedError("TODO: BeamSearch")
