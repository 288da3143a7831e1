"""Worker processes that run cases, so that a crash or a hang is counted, not fatal.

Workers are forked from a fork server that only imported rnnfast (no state inherited from a
parent that ran threaded code; "spawn" where there is no fork server). Each receives batches of
cases and answers one result per case,
so when a worker dies (a signal, an abort) the case it was running is known: it is counted as a
crash, the worker is replaced and the rest of its batch goes to the queue again. A case that
takes longer than ``timeout`` seconds is a hang: its worker is killed and replaced.
"""
from __future__ import annotations

import collections
import multiprocessing as mp
import os
import signal
import time
import warnings
from multiprocessing.connection import wait


def _worker(conn, threads):
    os.environ.setdefault("MPLBACKEND", "Agg")
    warnings.simplefilter("ignore")  # overflow in exp & co: the outcome says what matters
    import rnnfast

    if threads:
        rnnfast.set_num_threads(threads)
    from ._run import run_case

    conn.send((None, None, None))  # ready
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for case in batch:
            outcome, detail = run_case(case)
            conn.send((None, outcome, detail))


def _exit_reason(code):
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _context():
    """Workers come from a fork server that imported rnnfast and nothing else ran in (so a worker
    that crashed is replaced in milliseconds, and no OpenMP or numba state is inherited)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["rnnfast", "rnnfast.fuzz._run", "rnnfast.fuzz._targets"])
        return ctx
    return mp.get_context("spawn")


class _Worker:
    def __init__(self, ctx, threads, backend):
        self.backend = backend
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, threads), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.pending = collections.deque()  # (idx, case) sent, not answered, in order
        self.history = collections.deque(maxlen=3)  # the last cases it finished
        self.deadline = time.monotonic() + 600  # startup allowance (imports, numba's cache)

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class Pool:
    """``Pool(backends, workers, timeout).run(cases, on_result)`` with ``on_result(case, outcome,
    detail, previous)``; ``previous`` are the (at most 3) cases the same worker finished before (a
    crash may come from heap damage done by an earlier call). Each backend has its own workers, so
    damage done by one backend's call shows up in that backend's row."""

    def __init__(self, backends, workers=1, timeout=120.0, threads=1, batch=8):
        self.ctx = _context()
        self.timeout, self.threads, self.batch = timeout, threads, batch
        self.workers = [_Worker(self.ctx, threads, be) for be in backends for _ in range(workers)]
        self.restarts = 0
        self.exit_crashes = []  # (reason, last cases) of workers that died on a clean shutdown

    def _replace(self, w):
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self.ctx, self.threads, w.backend)
        self.restarts += 1

    def run(self, sources, on_result, stop=None):
        """Run the cases of ``sources`` (an iterable of cases, or ``{backend: iterable}`` so that
        each backend's workers go at their own pace), drawn lazily while workers run, until the
        iterables end or ``stop()`` is true."""
        if not isinstance(sources, dict):
            sources = {None: sources}
        sources = {k: iter(v) for k, v in sources.items()}
        queues = collections.defaultdict(collections.deque)
        n_workers = collections.Counter(w.backend for w in self.workers)
        while True:
            for key in list(sources):
                while key in sources:
                    short = [be for be in n_workers if len(queues[be]) < 2 * self.batch * n_workers[be]]
                    if (key is not None and key not in short) or (key is None and not short):
                        break
                    case = None if (stop is not None and stop()) else next(sources[key], None)
                    if case is None:
                        del sources[key]
                        break
                    queues[case["backend"]].append(case)
            if not sources and not any(queues.values()) and not any(w.pending for w in self.workers):
                return
            for w in self.workers:
                q = queues[w.backend]
                if w.ready and not w.pending and q:
                    batch = [q.popleft() for _ in range(min(self.batch, len(q)))]
                    w.pending.extend(batch)
                    w.deadline = time.monotonic() + self.timeout
                    w.conn.send(batch)
            busy = [w.deadline for w in self.workers if w.pending or not w.ready]
            wait_for = max(0.0, min(busy) - time.monotonic()) if busy else 0.0
            ready = wait([w.conn for w in self.workers], timeout=min(wait_for, 0.2))
            for w in list(self.workers):
                if w.conn in ready:
                    try:
                        _, outcome, detail = w.conn.recv()
                    except (EOFError, OSError):
                        w.proc.join(5)
                        self._lost(w, "crash", _exit_reason(w.proc.exitcode), queues, on_result)
                        continue
                    if outcome is None:  # the worker's "ready"
                        w.ready = True
                        continue
                    case = w.pending.popleft()
                    on_result(case, outcome, detail, list(w.history))
                    w.history.append(case)
                    w.deadline = time.monotonic() + self.timeout
                elif (w.pending or not w.ready) and time.monotonic() > w.deadline:
                    if not w.ready:
                        raise RuntimeError("a fuzzer worker did not start within its allowance")
                    self._lost(w, "hang", f"no answer within {self.timeout:g} s", queues, on_result)

    def _lost(self, w, outcome, detail, queues, on_result):
        if not w.ready:
            raise RuntimeError(f"a fuzzer worker failed to start ({detail})")
        if not w.pending:  # died between batches
            self.exit_crashes.append((detail, list(w.history)))
            self._replace(w)
            return
        case = w.pending.popleft()
        on_result(case, outcome, detail, list(w.history))
        queues[w.backend].extendleft(reversed(w.pending))
        w.pending.clear()
        self._replace(w)

    def close(self):
        for w in self.workers:
            try:
                w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for w in self.workers:
            w.proc.join(30)
            if w.proc.exitcode not in (0, None) and w.ready:
                self.exit_crashes.append((f"at exit: {_exit_reason(w.proc.exitcode)}", list(w.history)))
            w.kill()
