"""Each semester's HW3P1 handout (Spring 2021, Fall 2022, Spring 2024, Spring 2026), as a fixture tree
written from the semesters' specification (python_tests/mytorch_semesters/<sem>/: its layout, course
layers with that semester's conventions, unimplemented student stubs, and a miniature autograder that
imports exactly as that semester's does): copied to a temporary folder, ``rnnfast mytorch install``
with no flags, the autograder run from the handout root in a fresh interpreter (every section must
score full marks), ``uninstall``, and the tree must be back byte for byte with its file modes."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

from rnnfast.cli import main as cli_main

HERE = pathlib.Path(__file__).parent / "mytorch_semesters"
RUNNER = {"s21": "autograder/hw3_autograder/runner.py", "f22": "autograder/hw3_autograder/runner.py",
          "s24": "autograder/runner.py", "s26": "autograder/runner.py"}
TITLE = {"s21": "Spring 2021", "f22": "Fall 2022", "s24": "Spring 2024", "s26": "Spring 2026"}
FULL = {"RNN Forward": 5, "RNN Backward": 5, "RNN Classifier": 10, "GRU Forward": 5, "GRU Backward": 15,
        "GRU Inference": 10, "Extend Sequence with Blank": 5, "Posterior Probability": 5, "CTC Forward": 10,
        "CTC Backward": 5, "Greedy Search": 5, "Beam Search": 15}


def _env():
    rnnfast_root = str(pathlib.Path(__file__).resolve().parents[1])
    path = [rnnfast_root] + [p for p in sys.path if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), RNNFAST_SEMESTER_CHECKS=str(HERE),
                PYTHONDONTWRITEBYTECODE="1")


def _snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in root.rglob("*") if p.is_file()}


def _copy(sem, tmp_path):
    root = tmp_path / sem
    shutil.copytree(HERE / sem, root)
    (root / "hw3" / "mc.py" if sem in ("s21", "f22") else root / "MCQ" / "mcq.py").chmod(0o600)  # modes kept
    (root / "create_tarball.sh").chmod(0o755)
    return root


def _run(root, sem):
    r = subprocess.run([sys.executable, RUNNER[sem]], cwd=root, capture_output=True, text=True, env=_env(), check=False,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])["scores"], r.stdout


@pytest.mark.parametrize("sem", ["s21", "f22", "s24", "s26"])
def test_handout_autograder_full_marks_after_install(sem, tmp_path, capsys):
    root = _copy(sem, tmp_path)
    before = _snapshot(root)
    if sem in ("s21", "s26"):  # the stubs as handed out: the autograder can fail (and does)
        scores, _ = _run(root, sem)
        assert sum(scores.values()) == 0, scores

    assert cli_main(["mytorch", "install", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"detected {TITLE[sem]} ({sem})" in out
    assert "uninstall" in out and "tarball" in out  # the hand-in warning
    assert cli_main(["mytorch", "status", str(root)]) == 0
    out = capsys.readouterr().out
    assert "6 of 6" in out or "7 of 7" in out
    assert "tarball" in out

    scores, stdout = _run(root, sem)
    assert scores == FULL, stdout[-4000:]

    assert cli_main(["mytorch", "uninstall", str(root)]) == 0
    assert _snapshot(root) == before  # bytes and modes; no backup left behind
    assert cli_main(["mytorch", "uninstall", str(root)]) == 0
    assert "nothing to undo" in capsys.readouterr().out
