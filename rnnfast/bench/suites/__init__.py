"""Registry of benchmark suites: name -> module defining ``SUITE`` (a rnnfast.bench.common.Suite).

To add a suite, write ``rnnfast/bench/suites/<name>.py`` (see gru.py) and add ONE line below.
``rnnfast bench`` with no suite name runs every registered suite, in this order.
"""
from __future__ import annotations

import importlib

SUITES = {
    "gru": "rnnfast.bench.suites.gru",
    "lstm": "rnnfast.bench.suites.lstm",
    "rnn": "rnnfast.bench.suites.rnn",
    "ctc": "rnnfast.bench.suites.ctc",
    "ctc_beam": "rnnfast.bench.suites.ctc_beam",
    "mytorch": "rnnfast.bench.suites.mytorch",
    "ctc_prob": "rnnfast.bench.suites.ctc_prob",
}


def get_suite(name: str):
    """The ``SUITE`` object of a registered suite (ValueError naming the choices otherwise)."""
    if name not in SUITES:
        raise ValueError(f"unknown benchmark suite {name!r}; registered: {', '.join(SUITES)}")
    return importlib.import_module(SUITES[name]).SUITE
