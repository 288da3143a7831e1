"""``rnnfast mytorch install|uninstall|status DIR`` (see rnnfast.mytorch.shims)."""
import argparse
import os
import sys

_SEMESTERS = ("s21", "f22", "s24", "s26")


def _quiet_broken_pipe():
    """Output piped into ``head`` etc. was closed: stop writing without a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def register(subparsers, name: str = "mytorch"):
    p = subparsers.add_parser(name, help="run a MyTorch (11-785 HW3P1) handout's autograder on rnnfast")
    sub = p.add_subparsers(dest="action", metavar="action")
    i = sub.add_parser("install", help="replace the handout's student files with shims (originals backed up)")
    i.add_argument("dir", help="the handout root (the folder its autograder is run from)")
    i.add_argument("--semester", choices=_SEMESTERS, help="skip detection: the handout's semester")
    i.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    i.add_argument("--force", action="store_true", help=argparse.SUPPRESS)  # accepted; no longer needed
    u = sub.add_parser("uninstall", help="remove the shims and restore the originals byte for byte")
    u.add_argument("dir")
    u.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    s = sub.add_parser("status", help="show the detected semester and which student files are shims")
    s.add_argument("dir")
    s.add_argument("--semester", choices=_SEMESTERS, help="skip detection: the handout's semester")

    def run(args) -> int:
        from . import shims

        closed = []

        def log(msg):
            """Print; once the reader went away (``| head``), the work goes on without output."""
            if closed:
                return
            try:
                print(msg, flush=True)
            except BrokenPipeError:
                closed.append(True)
                _quiet_broken_pipe()

        if args.action == "install":
            return shims.install(args.dir, args.semester, args.dry_run, log=log)
        if args.action == "uninstall":
            return shims.uninstall(args.dir, args.dry_run, log=log)
        if args.action == "status":
            return shims.status(args.dir, args.semester, log=log)
        p.print_help()
        return 2
    p.set_defaults(func=run)
    return p
