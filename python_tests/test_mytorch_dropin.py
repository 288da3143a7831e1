"""The drop-in mechanisms of rnnfast.mytorch: install_import_aliases() (package and top-level
handout module names, in a fresh interpreter) and `rnnfast mytorch install|uninstall DIR` on a
handout-shaped tree in a temporary folder (backups, refusals, --dry-run, byte-exact restore, and
code importing through every handout path running on rnnfast)."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from rnnfast.cli import main as cli_main
from rnnfast.mytorch import semesters, shims

pytest.importorskip("numpy")

def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def _snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _cli(*args):
    return cli_main(["mytorch", *map(str, args)])


def test_install_import_aliases_in_a_fresh_interpreter():
    code = ("import rnnfast.mytorch as m; names = m.install_import_aliases();"
            "import mytorch.rnn_cell, mytorch.gru_cell, mytorch.nn.linear, mytorch.nn.activation, mytorch.nn.loss;"
            "import models.rnn_classifier, models.char_predictor, models.GRU, CTC.CTC, CTC.CTCDecoding, train_end2end;"
            "import gru_cell, rnn_cell, nn.linear, nn.loss, nn.activation, char_predictor, rnn_classifier, CTCDecoding;"
            "from mytorch.gru_cell import GRUCell; from nn.loss import SoftmaxCrossEntropy;"
            "from models.GRU import GRU; from CTC.CTC import CTCLoss; from CTCDecoding import BeamSearchDecoder;"
            "assert GRUCell is gru_cell.GRUCell is m.gru_cell.GRUCell;"
            "assert mytorch.nn.linear is nn.linear and CTC.CTC.CTCLoss is CTCLoss;"
            "assert mytorch.nn.linear.Linear is m.nn.linear.Linear;"
            "assert {'mytorch.nn.linear', 'CTCDecoding', 'models.GRU', 'gru_cell'} <= set(names);"
            "assert m.install_import_aliases() == [];"  # idempotent: nothing left to register
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd="/",
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_install_import_aliases_leaves_existing_modules_alone():
    code = ("import sys, types; sys.modules['nn'] = types.ModuleType('nn');"
            "import rnnfast.mytorch as m; names = m.install_import_aliases();"
            "assert 'nn' not in names and 'gru_cell' in names;"
            "assert sys.modules['nn'].__name__ == 'nn' and not hasattr(sys.modules['nn'], 'linear');"
            "m.install_import_aliases(overwrite=True); import nn; assert nn is m.nn; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd="/",
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _semester_tree(tmp_path, sem="s24"):
    root = tmp_path / sem
    shutil.copytree(pathlib.Path(__file__).parent / "mytorch_semesters" / sem, root)
    return root


def test_shim_installer_backs_up_without_force_and_restores_modes(tmp_path, capsys):
    root = _semester_tree(tmp_path)
    gru = root / "mytorch" / "gru_cell.py"
    gru.chmod(0o640)
    originals = _snapshot(root)
    modes = {p: p.stat().st_mode for p in root.rglob("*") if p.is_file()}

    assert _cli("install", root, "--dry-run") == 0  # says what it would do, writes nothing
    out = capsys.readouterr().out
    assert "would backup+write mytorch/gru_cell.py" in out and "dry run" in out
    assert _snapshot(root) == originals

    assert _cli("install", root) == 0
    for rel in semesters.SEMESTERS["s24"].student_files:
        assert (root / (rel + shims.BACKUP)).read_bytes() == originals[root / rel]
        assert shims._shim_state(str(root / rel)) == "shim"
    assert gru.stat().st_mode & 0o777 == 0o640
    for course in ("mytorch/nn/linear.py", "mytorch/nn/loss.py", "MCQ/mcq.py", "autograder/runner.py"):
        assert (root / course).read_bytes() == originals[root / course]  # course files untouched
    assert _cli("install", root) == 0  # again: its own shims, nothing refused
    assert "already installed" in capsys.readouterr().out

    assert _cli("uninstall", root, "--dry-run") == 0
    assert "would restore" in capsys.readouterr().out
    assert _cli("uninstall", root) == 0
    assert _snapshot(root) == originals
    assert {p: p.stat().st_mode for p in root.rglob("*") if p.is_file()} == modes
    assert _cli("uninstall", root) == 0
    assert "nothing to undo" in capsys.readouterr().out


def test_shim_installer_refuses_only_a_different_backup_or_an_edited_shim(tmp_path, capsys):
    root = _semester_tree(tmp_path)
    originals = _snapshot(root)
    cell = root / "mytorch" / "rnn_cell.py"
    backup = root / ("mytorch/rnn_cell.py" + shims.BACKUP)
    backup.write_bytes(cell.read_bytes())  # a backup that holds the same bytes: fine
    assert _cli("install", root) == 0
    assert _cli("uninstall", root) == 0
    assert _snapshot(root) == originals

    backup.write_bytes(b"something else\n")  # a backup with other content: refused, nothing changed
    assert _cli("install", root) == 1
    out = capsys.readouterr().out
    assert "already exists with other content" in out and "nothing was changed" in out
    assert _snapshot(root) == {**originals, backup: b"something else\n"}
    backup.unlink()

    assert _cli("install", root) == 0
    gru = root / "mytorch" / "gru_cell.py"
    edited = gru.read_bytes() + b"# my edit after install\n"
    gru.write_bytes(edited)  # the user edits a shim: it is theirs now
    assert shims._shim_state(str(gru)) == "edited"
    assert _cli("install", root) == 1
    assert "edited by hand" in capsys.readouterr().out
    assert _cli("status", root) == 0
    assert "rnnfast shim, edited by hand" in capsys.readouterr().out
    assert _cli("uninstall", root) == 1  # restores the others, leaves the edited one and its backup
    assert "leaving mytorch/gru_cell.py alone" in capsys.readouterr().out
    assert gru.read_bytes() == edited
    assert (root / ("mytorch/gru_cell.py" + shims.BACKUP)).read_bytes() == originals[gru]
    for rel in semesters.SEMESTERS["s24"].student_files:
        if rel != "mytorch/gru_cell.py":
            assert (root / rel).read_bytes() == originals[root / rel]


def test_shim_installer_detection_and_semester_override(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert _cli("install", tmp_path) == 2
    out = capsys.readouterr().out
    for looked_for in ("mytorch/ctc_loss.py", "mytorch/CTC.py", "CTC/CTC.py", "--semester"):
        assert looked_for in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert _cli("install", tmp_path / "missing") == 2
    assert _cli("uninstall", tmp_path / "missing") == 2

    root = _semester_tree(tmp_path, "s26")
    assert semesters.detect(str(root))[0] == "s26"
    assert any("HOMEWORK_APPROACH" in why for why in semesters.detect(str(root))[1])
    assert _cli("install", root, "--semester", "s24") == 0
    assert "Spring 2024 (s24), as given by --semester" in capsys.readouterr().out
    assert "'s24'" in (root / "mytorch" / "rnn_cell.py").read_text()
    assert _cli("install", root) == 0  # detected s26: refreshes its own s24 shims
    assert "refresh" in capsys.readouterr().out
    assert "'s26'" in (root / "mytorch" / "rnn_cell.py").read_text()
    assert _cli("uninstall", root) == 0


def test_shim_installer_output_into_a_closed_pipe(tmp_path):
    root = _semester_tree(tmp_path, "s21")
    for action in ("install", "status", "uninstall"):
        r = subprocess.run(f"{sys.executable} -m rnnfast.cli mytorch {action} {root} | head -c 10 > /dev/null",
                           shell=True, capture_output=True, text=True, env=_env(), check=False)
        assert r.returncode == 0 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
        if action == "install":  # the work went on without the reader
            assert all(shims._shim_state(str(root / rel)) == "shim"
                       for rel in semesters.SEMESTERS["s21"].student_files)
    assert not any(p.name.endswith(shims.BACKUP) for p in root.rglob("*"))


def test_spring_2026_bonus_files_are_replaced_when_present(tmp_path, capsys):
    root = _semester_tree(tmp_path, "s26")
    (root / "models" / "GRU.py").write_text("class GRU:\n    pass  # TODO\n")
    (root / "train_end2end.py").write_text("print('TODO')\n")
    originals = _snapshot(root)
    assert _cli("install", root) == 0
    assert _cli("status", root) == 0
    assert "8 of 8 student files are rnnfast shims" in capsys.readouterr().out
    r = subprocess.run([sys.executable, "train_end2end.py"], cwd=root, capture_output=True, text=True, env=_env(),
                       check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert len(lines) == 10 and lines[0].startswith("Epoch 0, Loss: ")
    assert _cli("uninstall", root) == 0
    assert {p: b for p, b in _snapshot(root).items() if "__pycache__" not in p.parts} == originals


def test_semester_aliases_without_files():
    code = ("import sys; import rnnfast.mytorch as m; names = m.install_import_aliases(semester='s21');"
            "assert {'ctc', 'ctc_loss', 'search', 'hw3', 'rnn_classifier', 'gru_cell'} <= set(names), names;"
            "ns = {}; exec('from search import *', ns); assert sorted(k for k in ns if k != '__builtins__') == "
            "['BeamSearch', 'GreedySearch'];"
            "ns = {}; exec('from rnn_classifier import *', ns); assert 'Linear' not in ns and 'np' not in ns;"
            "import numpy as np, gru_cell, hw3; c = gru_cell.GRUCell(3, 2); assert hasattr(c, 'dbir');"
            "np.random.seed(0); net = hw3.CharacterPredictor(3, 2, 4);"
            "np.random.seed(0); [np.random.randn(2, 3) for _ in range(3)]; [np.random.randn(2, 2) for _ in range(3)];"
            "[np.random.randn(2) for _ in range(6)]; assert np.array_equal(net.projection.W, np.random.randn(4, 2));"
            "names = m.install_import_aliases(semester='s26');"
            "from CTC.CTC import CTCLoss; from models.char_predictor import CharacterPredictor;"
            "from CTCDecoding import BeamSearchDecoder; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd="/",
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_mytorch_command_is_registered(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["mytorch", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "install" in out and "uninstall" in out
