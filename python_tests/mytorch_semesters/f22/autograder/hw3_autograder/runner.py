# ruff: noqa  (a handout file, in the handout's style)
"""Miniature Fall 2022 HW3P1 autograder: imports the student files as that semester's tests do, checks
every section (semester_checks, found through RNNFAST_SEMESTER_CHECKS) and prints the scores.
Run from the handout root."""
import os
import sys

sys.path.append(os.environ["RNNFAST_SEMESTER_CHECKS"])
import semester_checks  # noqa: E402



def star(code):
    """The globals of a test module made of these import lines."""
    ns = {}
    exec(code, ns)
    return ns


sys.path.append("mytorch")
sys.path.append("hw3")
semester_checks.run({
    "sem": "f22",
    "linear_file": os.path.abspath("mytorch/linear.py"),
    "rnn": lambda: star("from rnn_cell import *\nfrom loss import *\nfrom rnn_classifier import *"),
    "rnn_loss": lambda: sys.modules["loss"].SoftmaxCrossEntropy,
    "gru": lambda: star("from gru_cell import *\nfrom loss import *\nfrom linear import *"),
    "gru_loss": lambda: sys.modules["loss"].SoftmaxCrossEntropy,
    "predictor": lambda: __import__("hw3"),
    "ctc": lambda: star("from CTC import CTC, CTCLoss"),
    "search": lambda: star("from CTCDecoding import GreedySearchDecoder, BeamSearchDecoder"),
})
