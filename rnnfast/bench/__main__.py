"""``rnnfast bench``: rnnfast against PyTorch CPU and the BLAS floor.

With no option: every suite on its two or three most telling shapes, about two minutes on 2 cores,
ending with a summary table. ``--full``: the whole protocol (every shape and backend, longer timing;
tens of minutes). ``--quick``: a smoke test of the machinery (tiny shapes; not a measurement).
Also runnable as ``python -m rnnfast.bench`` and, from the repo root, ``python -m bench``.
"""
from __future__ import annotations

import argparse
import sys


def _shape(s: str) -> tuple:
    try:
        return tuple(int(v) for v in s.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 100,16,64,128, got {s!r}")


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the bench options to parser ``p`` (used by ``rnnfast bench`` and ``python -m bench``)."""
    from .suites import SUITES

    p.add_argument("suites", nargs="*", metavar="suite",
                   help=f"suites to run (default: all registered: {', '.join(SUITES)})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true",
                      help="the whole protocol: every shape, every backend, 5 rounds of ~1.5 s per contender "
                           "(tens of minutes on 2 cores); the figures of bench/RESULTS.md")
    mode.add_argument("--quick", action="store_true",
                      help="tiny shapes, few repeats, all backends (a smoke test, not a measurement)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every contender: torch.set_num_threads and rnnfast.set_num_threads (default 2)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="default float32")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved rounds (default 3, --full 5, --quick 2); in each, every contender runs a "
                        "block of calls sized to reach --budget")
    p.add_argument("--budget", type=float, default=None,
                   help="target seconds of timed calls per contender and pass (default 0.3, --full 1.5, --quick 0)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of pause before each contender's block, so that the previous contender's "
                        "spinning BLAS/OpenMP threads go idle (default 0.15, --quick 0)")
    p.add_argument("--backends", default=None,
                   help="comma-separated rnnfast backends (cpp,numba,numpy; default: cpp and numba, "
                        "--full/--quick: every available one)")
    p.add_argument("--shape", dest="shapes", type=_shape, action="append", default=None,
                   help="run only this shape, e.g. --shape 50,128,512,1024 (repeatable; one suite)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="JSON output, rewritten after every case (default bench/results/<suite>.json when run "
                        "from the repo root, else ./rnnfast-bench-<suite>.json; the default run adds -default, "
                        "--quick -quick); with several suites, {suite} in PATH is replaced")
    p.add_argument("--no-json", action="store_true", help="do not write JSON")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables (for bench/RESULTS.md) at the end")
    p.add_argument("--floor", dest="floor_form", choices=("best", "stated"), default="best",
                   help="GEMM floor: each product in the fastest of its equivalent forms (default), or in the "
                        "form the suite states")
    p.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    p.set_defaults(func=run)
    return p


def register(subparsers, name: str):
    """rnnfast.cli hook: add the ``bench`` subcommand."""
    p = subparsers.add_parser(name, help="benchmark rnnfast against PyTorch and the GEMM floor",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(p)


def run(args) -> int:
    from . import report, runner
    from .suites import SUITES, get_suite
    from .timing import Options

    names = args.suites or list(SUITES)
    for n in names:
        if n not in SUITES:
            print(f"rnnfast bench: unknown suite {n!r}; registered: {', '.join(SUITES)}", file=sys.stderr)
            return 2
    if args.shapes and len(names) != 1:
        print("rnnfast bench: --shape needs exactly one suite", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"rnnfast bench: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.json and len(names) > 1 and "{suite}" not in args.json:
        print("rnnfast bench: with several suites, --json PATH must contain {suite}", file=sys.stderr)
        return 2
    mode = "full" if args.full else "quick" if args.quick else "default"
    backends = ([b.strip() for b in args.backends.split(",") if b.strip()] if args.backends
                else runner.default_backends(mode))
    opts = Options(threads=args.threads, dtype=args.dtype, repeats=args.repeats, mode=mode, backends=backends,
                   shapes=args.shapes, seed=args.seed, floor_form=args.floor_form,
                   budget=args.budget, settle=args.settle)  # None: the mode's

    def json_path(name):
        if args.no_json:
            return None
        return args.json.replace("{suite}", name) if args.json else report.default_json_path(name, mode=mode)

    try:
        out = runner.run(names, opts, get_suite, json_path=json_path)
    except (ValueError, RuntimeError) as e:
        print(f"rnnfast bench: {e}", file=sys.stderr)
        return 1
    if args.markdown:
        for res in out["results"]:
            print()
            print(report.markdown(res))
    if out["stopped"]:
        return 130
    if out["errors"]:
        return 1
    if args.suites and any(k.startswith("suite ") for k in out["unavailable"]):
        return 1  # a suite asked for by name could not be loaded
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="rnnfast bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(p)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
