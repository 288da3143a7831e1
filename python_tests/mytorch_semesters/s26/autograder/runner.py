# ruff: noqa  (a handout file, in the handout's style)
"""Miniature Spring 2026 HW3P1 autograder: imports the student files as that semester's tests do, checks
every section (semester_checks, found through RNNFAST_SEMESTER_CHECKS) and prints the scores.
Run from the handout root."""
import os
import sys

sys.path.append(os.environ["RNNFAST_SEMESTER_CHECKS"])
import semester_checks  # noqa: E402

HOMEWORK_APPROACH = "STANDARD_VERSION"


def star(code):
    """The globals of a test module made of these import lines."""
    ns = {}
    exec(code, ns)
    return ns


sys.path.append("./")


def gru_ns():
    sys.path.append("mytorch")
    sys.path.append("models")
    return star("from gru_cell import *\nfrom nn.loss import *\nfrom nn.linear import *")


semester_checks.run({
    "sem": "s26",
    "linear_file": os.path.abspath("mytorch/nn/linear.py"),
    "rnn": lambda: star("from mytorch.rnn_cell import *\nfrom mytorch.nn.loss import *\n"
                        "from models.rnn_classifier import *"),
    "rnn_loss": lambda: sys.modules["mytorch.nn.loss"].SoftmaxCrossEntropy,
    "gru": gru_ns,
    "gru_loss": lambda: sys.modules["nn.loss"].SoftmaxCrossEntropy,
    "predictor": lambda: __import__("char_predictor"),
    "ctc": lambda: star("from CTC.CTC import CTC, CTCLoss"),
    "search": lambda: (sys.path.append("CTC"), star("from CTCDecoding import GreedySearchDecoder, BeamSearchDecoder"))[1],
})
