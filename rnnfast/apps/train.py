"""``rnnfast train <app>``: the applications, each a subcommand registered in :data:`APPS` as
``name -> "module:register"`` (``register(subparsers, name)`` adds the subparser and sets
``func=run``, as for the top-level commands in :mod:`rnnfast.cli`)."""
from __future__ import annotations

import importlib

# One line per application.
APPS = {
    "adding": "rnnfast.apps.adding:register",
    "word-lm": "rnnfast.apps.word_lm:register",
    "gru-ctc": "rnnfast.apps.gru_ctc:register",
    "rnn-lm": "rnnfast.apps.rnn_lm:register",
}


def register(subparsers, name: str = "train"):
    from ..cli import _unavailable

    p = subparsers.add_parser(name, help="train an application model (" + ", ".join(APPS) + ")")
    sub = p.add_subparsers(dest="app", metavar="app")
    for app, spec in APPS.items():
        mod, _, fn = spec.partition(":")
        try:
            getattr(importlib.import_module(mod), fn)(sub, app)
        except Exception as e:  # one broken app must not take the others down
            _unavailable(sub, app, spec, e)

    def run(args) -> int:
        p.print_help()
        return 2
    p.set_defaults(func=run)
    return p
