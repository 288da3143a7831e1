"""The drop-in mechanisms of rnnfast.mytorch: install_import_aliases() (package and top-level
handout module names, in a fresh interpreter) and `rnnfast mytorch install|uninstall DIR` on a
handout-shaped tree in a temporary folder (backups, refusals, --dry-run, byte-exact restore, and
code importing through every handout path running on rnnfast)."""
import os
import subprocess
import sys

import pytest

from rnnfast.cli import main as cli_main
from rnnfast.mytorch import shims

pytest.importorskip("numpy")

HANDOUT_FILES = ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "mytorch/nn/linear.py", "mytorch/nn/activation.py",
                 "mytorch/nn/loss.py", "models/rnn_classifier.py", "models/char_predictor.py", "models/GRU.py",
                 "CTC/CTC.py", "CTC/CTCDecoding.py")

# imports every handout path, as packages and as the top-level names used after extending sys.path,
# checks that each resolves to rnnfast's implementation and runs a little of each
RUNNER = """
import sys
sys.path.append('mytorch'); sys.path.append('models'); sys.path.append('CTC')
import numpy as np
import mytorch.rnn_cell, mytorch.gru_cell, mytorch.nn.linear, mytorch.nn.activation, mytorch.nn.loss
import models.rnn_classifier, models.char_predictor, models.GRU, CTC.CTC, CTC.CTCDecoding
import train_end2end
from gru_cell import GRUCell
from rnn_cell import RNNCell
from nn.linear import Linear
from nn.activation import Sigmoid, Tanh
from nn.loss import SoftmaxCrossEntropy
from char_predictor import CharacterPredictor, inference
from rnn_classifier import RNNPhonemeClassifier
from CTCDecoding import GreedySearchDecoder, BeamSearchDecoder
from CTC import CTC as ctc_pkg
import rnnfast.mytorch as rm
pairs = [(GRUCell, rm.gru_cell.GRUCell), (RNNCell, rm.rnn_cell.RNNCell), (Linear, rm.nn.linear.Linear),
         (mytorch.nn.activation.Tanh, rm.nn.activation.Tanh), (SoftmaxCrossEntropy, rm.nn.loss.SoftmaxCrossEntropy),
         (CharacterPredictor, rm.models.char_predictor.CharacterPredictor),
         (RNNPhonemeClassifier, rm.models.rnn_classifier.RNNPhonemeClassifier), (models.GRU.GRU, rm.models.GRU.GRU),
         (CTC.CTC.CTCLoss, rm.CTC.CTC.CTCLoss), (BeamSearchDecoder, rm.CTC.CTCDecoding.BeamSearchDecoder),
         (train_end2end.GRU_CTC, rm.train_end2end.GRU_CTC)]
assert all(a is b for a, b in pairs), [a for a, b in pairs if a is not b]
np.random.seed(0)
net = CharacterPredictor(3, 4, 5)
print(inference(net, np.ones((2, 3))).shape)
print(RNNPhonemeClassifier(3, 4, 6)(np.ones((2, 5, 3))).shape)
print(models.GRU.GRU(3, 4, 2)(np.ones((5, 2, 3)))[0].shape)
print(GreedySearchDecoder(['a']).decode(np.array([[0.4], [0.6]])[:, :, None]))
"""
RUNNER_OUT = ["(2, 5)", "(2, 6)", "(5, 2, 4)", "('a', 0.6)"]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def _handout(tmp_path):
    root = tmp_path / "handout"
    for rel in HANDOUT_FILES:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"# student's {rel}\r\nraise NotImplementedError  # \xe9\n".encode("latin-1"))
    for pkg in ("mytorch", "mytorch/nn", "models", "CTC"):
        (root / pkg / "__init__.py").write_text("")
    (root / "runner.py").write_text(RUNNER)
    return root


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
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_install_import_aliases_leaves_existing_modules_alone():
    code = ("import sys, types; sys.modules['nn'] = types.ModuleType('nn');"
            "import rnnfast.mytorch as m; names = m.install_import_aliases();"
            "assert 'nn' not in names and 'gru_cell' in names;"
            "assert sys.modules['nn'].__name__ == 'nn' and not hasattr(sys.modules['nn'], 'linear');"
            "m.install_import_aliases(overwrite=True); import nn; assert nn is m.nn; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_shim_installer_round_trip(tmp_path, capsys):
    root = _handout(tmp_path)
    originals = _snapshot(root)

    assert _cli("install", root) == 1  # refuses: the student's files were not written by rnnfast
    assert "refusing" in capsys.readouterr().out
    assert _snapshot(root) == originals

    assert _cli("install", root, "--force", "--dry-run") == 0  # says what it would do, writes nothing
    assert "would backup+write" in capsys.readouterr().out
    assert _snapshot(root) == originals

    assert _cli("install", root, "--force") == 0
    for rel in HANDOUT_FILES:  # every replaced file backed up byte for byte
        assert (root / (rel + shims.BACKUP)).read_bytes() == originals[root / rel]
        assert shims._is_shim(str(root / rel))
    assert shims._is_shim(str(root / "train_end2end.py"))  # a file the handout lacked is created

    r = subprocess.run([sys.executable, "runner.py"], cwd=root, capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == RUNNER_OUT
    r = subprocess.run([sys.executable, "train_end2end.py"], cwd=root, capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert len(lines) == 10 and lines[0].startswith("Epoch 0, Loss: ")

    assert _cli("install", root) == 0  # re-install over its own shims: no --force needed
    installed = _snapshot(root)
    assert _cli("uninstall", root, "--dry-run") == 0
    assert _snapshot(root) == installed
    assert _cli("uninstall", root) == 0
    after = {p: b for p, b in _snapshot(root).items() if "__pycache__" not in p.parts}
    assert after == originals  # byte for byte, backups gone, train_end2end.py removed


def test_shim_installer_never_loses_user_files(tmp_path, capsys):
    root = _handout(tmp_path)
    originals = _snapshot(root)
    assert _cli("install", root, "--force") == 0
    gru = root / "mytorch" / "gru_cell.py"
    edited = gru.read_bytes() + b"# my edit after install\n"
    gru.write_bytes(edited)  # the user edits a shim: it is theirs now
    assert not shims._is_shim(str(gru))
    assert _cli("install", root, "--force") == 1  # would overwrite the edit or the backup: refused
    assert "already exists" in capsys.readouterr().out
    assert gru.read_bytes() == edited
    assert _cli("uninstall", root) == 1  # restores the others, leaves the edited one and its backup
    assert "leaving" in capsys.readouterr().out
    assert gru.read_bytes() == edited
    assert (root / ("mytorch/gru_cell.py" + shims.BACKUP)).read_bytes() == originals[gru]
    for rel in HANDOUT_FILES:
        if rel != "mytorch/gru_cell.py":
            assert (root / rel).read_bytes() == originals[root / rel]


def test_shim_installer_refuses_a_folder_that_is_not_a_handout(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert _cli("install", tmp_path) == 2
    assert "handout folders" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert _cli("install", tmp_path / "missing") == 2
    assert _cli("uninstall", tmp_path / "missing") == 2


def test_mytorch_command_is_registered(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["mytorch", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "install" in out and "uninstall" in out
