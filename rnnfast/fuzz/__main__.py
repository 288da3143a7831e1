"""``python -m rnnfast.fuzz``: run the fuzzer for a while and print the outcome table."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnnfast.fuzz", description=__doc__)
    p.add_argument("--minutes", type=float, default=None, help="run rounds until this many minutes have passed")
    p.add_argument("--calls", type=int, default=None, help="or until this many calls have been made")
    p.add_argument("--entry", default=None, help="regular expression selecting entry points (default: all)")
    p.add_argument("--backends", default=None, help="comma-separated backends (default: every available one)")
    p.add_argument("--workers", type=int, default=1, help="worker processes per backend (default 1)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a call counts as a hang (default 120: numba compiles on first use)")
    p.add_argument("--threads", type=int, default=1, help="rnnfast.set_num_threads in the workers (default 1)")
    p.add_argument("--per-batch", type=int, default=25, help="cases per entry point and backend per round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--all-findings", action="store_true", help="also list the known findings in full")
    p.add_argument("--repro", metavar="JSON", default=None, help="run one case (as printed) in this process")
    p.add_argument("--list", action="store_true", help="list the entry points and exit")
    args = p.parse_args(argv)
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        print('python -m rnnfast.fuzz needs hypothesis: pip install hypothesis (or pip install "rnnfast[test]")',
              file=sys.stderr)
        return 2
    from . import describe, entry_points, fuzz, run_case
    from .known import KNOWN

    if args.list:
        print("\n".join(entry_points()))
        return 0
    if args.repro:
        case = json.loads(args.repro)
        print(f"{case['ep']} [{case['backend']}]: {describe(case)}", flush=True)
        outcome, detail = run_case(case)
        print(outcome + (": " + detail if detail else ""))
        return 0 if outcome in ("ok", "raised-clear") else 1
    if args.minutes is None and args.calls is None:
        args.minutes = 1.0
    # a terminated run still stops its workers and fork server (fuzz() closes them on the way out)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    t0 = time.monotonic()

    last = [0.0]

    def progress(fz, rnd, ep):
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"round {rnd} ({ep}): {fz.calls} calls, {last[0] - t0:.0f} s, {len(fz.findings)} distinct findings",
                  file=sys.stderr, flush=True)

    fz = fuzz(minutes=args.minutes, calls=args.calls, entry_filter=args.entry,
              backends=args.backends.split(",") if args.backends else None, workers=args.workers,
              timeout=args.timeout, threads=args.threads, per_batch=args.per_batch, seed=args.seed, known=KNOWN,
              progress=progress)
    print(fz.table())
    print(f"\n{fz.calls} calls in {time.monotonic() - t0:.0f} s, {fz.pool.restarts} worker restarts")
    unknown = [f for f in fz.findings.values() if not f["known"]]
    print(f"\n{len(fz.findings)} distinct findings ({len(unknown)} not known):")
    print(fz.report(unknown_only=not args.all_findings))
    if not args.all_findings:
        for f in fz.findings.values():
            if f["known"]:
                print(f"[{f['outcome']}] {f['ep']} [{f['backend']}] x{f['count']} (known: {f['known']})")
    bad = any(f["outcome"] in ("crash", "hang", "mismatch") or not f["known"] for f in fz.findings.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
