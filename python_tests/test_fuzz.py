"""A bounded run of the fuzzer (``python -m rnnfast.fuzz`` runs longer): every public entry point on
every backend, a few generated cases each, in worker processes. Any finding that is not one of the
known ones (``rnnfast/fuzz/known.py``) fails its entry point's test; each known finding has a
reproducer test marked as an expected failure, which passes once the finding is fixed."""
import json
import subprocess
import sys

import pytest

import rnnfast
from rnnfast.fuzz import Fuzzer, draw_cases, entry_points, fuzz
from rnnfast.fuzz.known import FIXED_CASES, KNOWN

pytest.importorskip("hypothesis")

SEED = 20261203
PER_ENTRY = 3  # cases per entry point and backend: ~260 calls, well under a minute
BACKENDS = rnnfast.available_backends()


@pytest.fixture(scope="module")
def bounded_run():
    return fuzz(per_batch=PER_ENTRY, seed=SEED, known=KNOWN, timeout=120)


@pytest.mark.parametrize("ep", entry_points())
def test_entry_point_has_no_new_findings(bounded_run, ep):
    calls = {be: sum(bounded_run.counts[(ep, be)].values()) for be in BACKENDS}
    assert all(n >= 1 for n in calls.values()), calls
    new = [f for f in bounded_run.findings.values() if f["ep"] == ep and not f["known"]]
    if new:
        fz = Fuzzer.__new__(Fuzzer)
        fz.findings = {i: f for i, f in enumerate(new)}
        pytest.fail("new findings:\n" + fz.report())


def test_workers_exit_cleanly(bounded_run):
    assert not [f for f in bounded_run.findings.values() if f["ep"] == "(worker exit)" and not f["known"]]


@pytest.mark.parametrize("case_id", sorted(FIXED_CASES))
def test_fixed_finding_stays_fixed(case_id):
    """The reproducer of a fixed finding, in a fresh process (it used to crash some of them): a clean outcome."""
    reason, case = FIXED_CASES[case_id]
    r = subprocess.run([sys.executable, "-m", "rnnfast.fuzz", "--repro", json.dumps(case)], capture_output=True,
                       text=True, timeout=300)
    died = f"exit code {r.returncode}" if r.returncode >= 0 else f"killed by signal {-r.returncode}"
    assert r.returncode == 0, f"{reason}: {died}\n{r.stdout[-2000:]}{r.stderr[-2000:]}"


# ------------------------------------------------------------------------- the fuzzer's own machinery
@pytest.fixture(scope="module")
def selftest_run():
    return fuzz(entry_filter="^_selftest", backends=["numpy", BACKENDS[0]], per_batch=1, timeout=10)


@pytest.mark.parametrize("how, outcome", [("ok", "ok"), ("abort", "crash"), ("sleep", "hang"),
                                          ("unclear", "unclear-message"), ("clear", "raised-clear")])
def test_fuzzer_counts_each_outcome(selftest_run, how, outcome):
    for be in ("numpy", BACKENDS[0]):
        assert selftest_run.counts[(f"_selftest.{how}", be)] == {outcome: 1}


def test_fuzzer_finds_a_silent_difference(selftest_run):
    if BACKENDS[0] == "numpy":
        pytest.skip("needs a backend besides numpy")
    assert selftest_run.counts[("_selftest.mismatch", BACKENDS[0])] == {"mismatch": 1}
    assert selftest_run.counts[("_selftest.mismatch", "numpy")] == {"ok": 1}


def test_cases_are_reproducible():
    a = draw_cases("functional.gru_forward", "numpy", 5, 123)
    b = draw_cases("functional.gru_forward", "numpy", 5, 123)
    assert a == b and len(a) == 5
    from rnnfast.fuzz._build import build_args

    x1, x2 = build_args(a[0]), build_args(b[0])
    for k in x1:
        if hasattr(x1[k], "shape"):
            assert (x1[k].tobytes() == x2[k].tobytes()), k
