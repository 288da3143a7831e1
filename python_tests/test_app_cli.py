"""The ``rnnfast train`` command line as a new user meets it: user errors are one line with exit
code 2 and no traceback (and leave no run folder), missing optional packages are named with the
command that installs them or are done without, ``--compare-torch`` checks torch first, plots of a
one-epoch run show their points, and the help examples run from a fresh clone."""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# runs the CLI with the given packages made unimportable (as if not installed)
BLOCKED = ("import sys; [sys.modules.__setitem__(m, None) for m in sys.argv[1].split(',') if m]; "
           "from rnnfast.cli import main; sys.exit(main(sys.argv[2:]))")


def cli(tmp_path, *args, block=(), env=None):
    e = dict(os.environ, MPLBACKEND="Agg")
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", BLOCKED, ",".join(block), *args], cwd=tmp_path, env=e,
                          capture_output=True, text=True, timeout=600)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


EXTRAS = ("tqdm", "tqdm.auto", "matplotlib", "tokenizers")


def test_without_the_apps_extra(tmp_path):
    # word-lm works without tqdm and matplotlib (no progress bar, no plot)
    r = cli(tmp_path, "train", "word-lm", "--data", "sample", "--epochs", "1", "--hidden", "8", "--layers", "1",
            "--bptt", "8", "--batch-size", "4", "--out", "wl", block=EXTRAS)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(tmp_path / "wl" / "results.json") and not os.path.exists(tmp_path / "wl" / "perplexity.png")
    # rnn-lm needs tokenizers: one line naming the extra, before anything is written
    r = cli(tmp_path, "train", "rnn-lm", "--train_data", "sample", "--val_data", "sample", "--metrics_out",
            "rl/m.json", "--train_losses_out", "rl/t.json", "--val_losses_out", "rl/v.json", block=EXTRAS)
    one_line_error(r, 'pip install "rnnfast[apps]"', "tokenizers")
    assert not os.path.exists(tmp_path / "rl")


def test_compare_torch_checks_torch_first(tmp_path):
    r = cli(tmp_path, "train", "gru-ctc", "--compare-torch", "--out", "g", block=("torch",))
    one_line_error(r, "--compare-torch", "torch==2.13.0")
    assert not os.path.exists(tmp_path / "g")


def test_bogus_backend_names_the_variable_and_writes_nothing(tmp_path):
    r = cli(tmp_path, "train", "adding", "--epochs", "1", env={"RNNFAST_BACKEND": "bogus"})
    one_line_error(r, "RNNFAST_BACKEND", "bogus")
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.parametrize("content, words", [(b"", ("is empty",)), (b"  \n\n", ("is empty",)),
                                            (bytes(range(256)) * 4, ("binary",)),
                                            ("caf\u00e9 ".encode("latin-1") * 50, ("not UTF-8",)),
                                            (b"a few words only", ("only", "tokens")),
                                            (None, ("no such file",))])
def test_bad_text_files(tmp_path, content, words):
    if content is not None:
        (tmp_path / "t.txt").write_bytes(content)
    r = cli(tmp_path, "train", "word-lm", "--data", "t.txt", "--out", "w")
    one_line_error(r, "--data", *words)
    assert not os.path.exists(tmp_path / "w")


def test_one_epoch_plot_shows_its_points(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    from rnnfast.apps import word_lm as W

    res = {"history": {"epoch": [1], "train_loss": [5.0], "valid_ppl": [120.0], "epoch_s": [1.0], "lr": [1e-3]},
           "best_valid_ppl": 120.0, "data": "sample.txt"}
    W.write_results(res, str(tmp_path))
    img = mpimg.imread(str(tmp_path / "perplexity.png"))[..., :3]
    blue = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's first colour: the train curve
    assert (np.abs(img - blue).max(axis=-1) < 0.1).sum() >= 20  # its marker is drawn


def _examples(module):
    """The command lines of a module docstring that use the bundled sample (continuations joined)."""
    doc = re.sub(r"\\\n\s*", " ", module.__doc__)
    return [shlex.split(line.split("#")[0].strip())[1:] for line in doc.splitlines()
            if line.strip().startswith("rnnfast train") and "sample" in line]


def test_help_examples_run_from_a_fresh_clone(tmp_path):
    pytest.importorskip("tokenizers")
    from rnnfast.apps import rnn_lm, word_lm

    ex = _examples(word_lm) + _examples(rnn_lm)
    assert len(ex) == 2, ex
    word = ex[0] + ["--no-progress", "--epochs", "1"]  # one epoch of the example: the point is that it runs
    for args in (word, ex[1] + ["--no-progress"]):
        r = cli(tmp_path, *args)
        assert r.returncode == 0, (args, r.stderr[-2000:])


def test_apps_use_public_names_only():
    apps = os.path.join(ROOT, "rnnfast", "apps")
    for fn in os.listdir(apps):
        if fn.endswith(".py"):
            with open(os.path.join(apps, fn)) as f:
                src = f.read()
            bad = re.findall(r"(?:rnnfast\._\w+|from \.\. import _\w+|from \.\._\w+)", src)
            assert not bad, (fn, bad)
