"""The ``rnnfast`` command line: ``rnnfast <command> ...``.

Subcommands are registered in :data:`COMMANDS` as ``name -> "module:function"``. The function is
called as ``function(subparsers, name)``; it must add the subparser ``name`` (with
``subparsers.add_parser(name, help=...)``), add its arguments and ``set_defaults(func=run)`` where
``run(args)`` returns the exit code. Keep the module light to import (import heavy things inside
``run``): the CLI imports every registered module to build its help. A module that fails to import
does not break the other commands; its command reports the error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# One line per subcommand.
COMMANDS = {
    "bench": "rnnfast.bench.__main__:register",
    "train": "rnnfast.apps.train:register",
    "mytorch": "rnnfast.mytorch.cli:register",
}


def _unavailable(subparsers, name: str, spec: str, err: Exception) -> None:
    msg = f"{type(err).__name__}: {err}"
    p = subparsers.add_parser(name, help=f"(unavailable: {msg})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def run(args) -> int:
        print(f"rnnfast {name}: cannot load {spec}: {msg}", file=sys.stderr)
        return 1
    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="rnnfast", description="rnnfast: fast CPU RNN and CTC kernels for NumPy.")
    parser.add_argument("--version", action="store_true",
                        help=f"print the version (rnnfast {__version__}) and exit; with --verbose, the configuration "
                             "(rnnfast.show_config(): CPU capability, BLAS, threads, backends, build flags)")
    parser.add_argument("--verbose", action="store_true", help="with --version: print the whole configuration")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name, spec in COMMANDS.items():
        mod, _, fn = spec.partition(":")
        try:
            getattr(importlib.import_module(mod), fn)(sub, name)
        except Exception as e:  # a broken or missing command must not take the others down
            _unavailable(sub, name, spec, e)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``rnnfast`` script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        if args.verbose:
            from ._config import show_config

            show_config()
        else:
            print(f"rnnfast {__version__}")
        return 0
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from .apps._cli import call

    prog = " ".join(["rnnfast"] + [v for v in (getattr(args, "command", None), getattr(args, "app", None)) if v])
    return call(args.func, args, prog)


if __name__ == "__main__":
    sys.exit(main())
