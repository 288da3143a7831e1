"""Registry of benchmark suites: ONE list, in run order, of ``name -> "module[:attribute]"``.

The attribute (default ``SUITE``) is a :class:`rnnfast.bench.Suite` instance. To add a suite, write
``rnnfast/bench/suites/<name>.py`` defining ``SUITE`` (see recurrence.py or ctc.py) and add ONE line
below. ``rnnfast bench`` with no suite name runs every registered suite, in this order; a suite whose
module cannot be imported (e.g. it needs a missing package) is reported as not run.
"""
from __future__ import annotations

import importlib

SUITES = {
    "gru": "rnnfast.bench.suites.recurrence:GRU",
    "lstm": "rnnfast.bench.suites.recurrence:LSTM",
    "rnn": "rnnfast.bench.suites.recurrence:RNN",
    "ctc": "rnnfast.bench.suites.ctc:SUITE",
    "ctc_beam": "rnnfast.bench.suites.ctc:BEAM_SUITE",
    "mytorch": "rnnfast.bench.suites.mytorch",
    "ctc_prob": "rnnfast.bench.suites.ctc_prob",
    "torch_bridge": "rnnfast.bench.suites.torch_bridge",
}


def get_suite(name: str):
    """The Suite object of a registered suite (ValueError naming the choices otherwise; the
    module's ImportError if it cannot be imported)."""
    if name not in SUITES:
        raise ValueError(f"unknown benchmark suite {name!r}; registered: {', '.join(SUITES)}")
    module, _, attr = SUITES[name].partition(":")
    return getattr(importlib.import_module(module), attr or "SUITE")
