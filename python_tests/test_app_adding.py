"""The adding-problem application (rnnfast.apps.adding): data generator, the three models against
PyTorch (forward and every gradient; 100 float64 training steps with SGD+momentum and with
Adam+clipping to 1e-8 relative), the output layer's scalar and vector forms, a short training run
that must learn, and the command (a run of a few seconds writing its result files)."""
import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from conftest import rel_err
from rnnfast.apps import adding as A

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------------------------------ data
@pytest.mark.parametrize("L", [3, 4, 10, 11, 100])
def test_generator(L):
    d = A.make_adding_data(500, L, seed=3)
    assert d.x.shape == (500, L, 2) and d.t.shape == (500,) and d.x.dtype == np.float64
    v, m = d.x[:, :, 0], d.x[:, :, 1]
    assert v.min() >= -0.25 and v.max() <= 0.25 and v.std() > 0.1
    assert set(np.unique(m)) == {0.0, 1.0} and np.all(m.sum(1) == 2)
    p0, p1 = d.positions[:, 0], d.positions[:, 1]
    assert np.all(m[np.arange(500), p0] == 1) and np.all(m[np.arange(500), p1] == 1)
    assert p0.min() == 0 and p0.max() == L // 2           # first marker over all of [0, L/2]
    assert p1.min() == L // 2 + 1 and p1.max() == L - 1   # second over all of [L/2+1, L-1]
    np.testing.assert_array_equal(d.t, (v * m).sum(1))


def test_generator_seeded_and_saved(tmp_path):
    a = A.make_adding_data(50, 20, seed=7)
    b = A.make_adding_data(50, 20, seed=7)
    c = A.make_adding_data(50, 20, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    path = a.save(tmp_path / "d.npz")
    r = A.AddingData.load(path)
    np.testing.assert_array_equal(r.x, a.x)
    np.testing.assert_array_equal(r.t, a.t)
    np.testing.assert_array_equal(r.positions, a.positions)
    assert r.seed == 7 and r.length == 20 and len(r) == 50
    f32 = A.make_adding_data(50, 20, seed=7, dtype=np.float32)
    assert f32.x.dtype == np.float32 and f32.t.dtype == np.float32
    np.testing.assert_allclose(f32.t, a.t, rtol=1e-6)
    # load_or_make reuses a matching file and regenerates on a mismatch
    p = str(tmp_path / "cache.npz")
    first = A.load_or_make(p, 30, 12, 5, np.float64)
    assert os.path.exists(p)
    np.testing.assert_array_equal(A.load_or_make(p, 30, 12, 5, np.float64).x, first.x)
    assert A.load_or_make(p, 30, 12, 6, np.float64).seed == 6


def test_generator_bad_input(tmp_path):
    with pytest.raises(ValueError, match="length must be >= 3"):
        A.make_adding_data(10, 2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        A.make_adding_data(0, 10)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        A.make_adding_data(10, 10, dtype=np.int32)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an adding-problem file"):
        A.AddingData.load(tmp_path / "other.npz")


def test_accuracy_and_loss():
    t = np.array([0.0, 0.2, -0.3, 0.45])
    y = np.array([0.05, 0.31, -0.3, 0.349])
    assert A.accuracy(y, t) == 0.5          # 0.11 and 0.101 miss
    with pytest.raises(ValueError, match="differ in size"):
        A.accuracy(y[:3], t)
    loss, dy = A.mse_loss(y, t)
    tl = torch.nn.functional.mse_loss(torch.tensor(y, requires_grad=True), torch.tensor(t))
    yt = torch.tensor(y, requires_grad=True)
    torch.nn.functional.mse_loss(yt, torch.tensor(t)).backward()
    assert abs(loss - tl.item()) < 1e-15
    np.testing.assert_allclose(dy, yt.grad.numpy(), rtol=1e-14)


# ---------------------------------------------------------------------------------------- models
def test_output_layer_scalar_equals_vector():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((7, 5))
    dy = rng.standard_normal(7)
    res = {}
    for form in ("scalar", "vector"):
        layer = A.OutputLayer(5, np.float64, form, rng=np.random.default_rng(1))
        y = layer.forward(h)
        dh = layer.backward(dy)
        res[form] = (y, dh, layer.weight.grad, layer.bias.grad)
    lin = torch.nn.Linear(5, 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(A.OutputLayer(5, np.float64, rng=np.random.default_rng(1)).weight.data))
        lin.bias.zero_()
    ht = torch.from_numpy(h).requires_grad_(True)
    yt = lin(ht)[:, 0]
    yt.backward(torch.from_numpy(dy))
    want = (yt, ht.grad, lin.weight.grad, lin.bias.grad)
    for form in ("scalar", "vector"):
        for got, w in zip(res[form], want):
            assert rel_err(got, w) < 1e-13, form
    with pytest.raises(ValueError, match="form must be"):
        A.OutputLayer(5, form="matrix")


@pytest.mark.parametrize("name", A.MODEL_NAMES)
def test_initialisation(name):
    m = A.build_model(name, 12, np.float64, seed=0)
    params = dict(m.named_parameters())
    for n, p in params.items():
        a = p.data
        if n.endswith("bias") or "bias_" in n:
            assert np.all(a == 0), n
        else:
            assert a.ndim == 2
            if name == "alarmwork" and n == "rnn.weight_hh":      # two independent 12x12 layers
                assert np.all(a[:12, 12:] == 0) and np.all(a[12:, :12] == 0)
                blocks = [a[:12, :12], a[12:, 12:]]
                fans = [(12, 12), (12, 12)]
            elif name == "alarmwork" and n == "rnn.weight_ih":
                blocks, fans = [a[:12], a[12:]], [(12, 2), (12, 2)]
            else:
                blocks, fans = [a], [a.shape]
            for blk, (fo, fi) in zip(blocks, fans):
                bound = np.sqrt(6.0 / (fi + fo))     # Xavier/Glorot uniform
                assert np.abs(blk).max() <= bound and np.abs(blk).max() > 0.6 * bound, n
    np.testing.assert_array_equal(A.build_model(name, 12, np.float64, seed=0).out.weight.data, m.out.weight.data)
    with pytest.raises(ValueError, match="unknown model"):
        A.build_model("gru")


@pytest.mark.parametrize("name", A.MODEL_NAMES)
@pytest.mark.parametrize("form", ["vector", "scalar"])
def test_model_gradients_against_torch(name, form):
    """Forward and every parameter gradient for a random upstream gradient, float64, 1e-10."""
    m = A.build_model(name, 6, np.float64, seed=1, output_form=form)
    tm = A.torch_model(m)
    d = A.make_adding_data(5, 9, seed=2)
    x, _ = d.batch(np.arange(5))
    dy = np.random.default_rng(3).standard_normal(5)
    y = m.forward(x)
    m.backward(dy)
    yt = tm(torch.from_numpy(x))
    yt.backward(torch.from_numpy(dy))
    assert rel_err(y, yt) < 1e-10
    ours = dict(m.named_parameters())
    theirs = dict(tm.named_parameters())
    if name == "alarmwork":   # one torch RNN per module; ClockworkRNN stacks them (single bias)
        H = 6
        want = {"rnn.weight_ih": np.concatenate([theirs[f"rnns.{i}.weight_ih_l0"].grad.numpy() for i in (0, 1)]),
                "rnn.bias": np.concatenate([theirs[f"rnns.{i}.bias_ih_l0"].grad.numpy() for i in (0, 1)])}
        whh = np.zeros((2 * H, 2 * H))
        whh[:H, :H] = theirs["rnns.0.weight_hh_l0"].grad.numpy()
        whh[H:, H:] = theirs["rnns.1.weight_hh_l0"].grad.numpy()
        want["rnn.weight_hh"] = whh
    else:
        want = {k: theirs[f"rnns.0.{k}_l0"].grad.numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    want["out.weight"] = theirs["out.weight"].grad.numpy()
    want["out.bias"] = theirs["out.bias"].grad.numpy()
    assert set(ours) == set(want)
    for k in want:
        assert rel_err(ours[k].grad, want[k]) < 1e-10, k
        assert np.abs(want[k]).max() > 0, k


@pytest.mark.parametrize("protocol", ["reference", "strong"])
@pytest.mark.parametrize("name", A.MODEL_NAMES)
def test_training_loss_matches_torch(name, protocol):
    """Identical data, initial weights and optimiser: float64 training losses agree to 1e-8
    relative over the first 100 steps (SGD+momentum; Adam with gradient-norm clipping)."""
    p = dataclasses.replace(A.PROTOCOLS[protocol], hidden=8, batch_size=8, dtype="float64")
    if protocol == "strong":
        p = dataclasses.replace(p, clip=0.05)   # small enough that clipping is active
    m = A.build_model(name, p.hidden, np.float64, seed=4)
    tm = A.torch_model(m)
    params = [q for _, q in m.named_parameters()]
    opt = A.make_optimizer(params, p)
    topt = A.make_torch_optimizer([q for q in tm.parameters() if q.requires_grad], p)
    data = A.make_adding_data(400, 12, seed=5)
    rng = np.random.default_rng(6)
    batches = [data.batch(rng.choice(len(data), p.batch_size, replace=False)) for _ in range(100)]
    if p.clip:   # the clipping is active: the first step's gradient norm exceeds the bound
        from rnnfast import optim
        m.backward(A.mse_loss(m.forward(batches[0][0]), batches[0][1])[1])
        assert optim.clip_grad_norm_(params, np.inf) > 2 * p.clip
        for q in params:
            q.grad = None
    ours, theirs = [], []
    for x, t in batches:
        ours.append(A.train_step(m, opt, params, x, t, p.clip))
        theirs.append(A.torch_train_step(tm, topt, torch.from_numpy(x), torch.from_numpy(t), p.clip))
    ours, theirs = np.array(ours), np.array(theirs)
    assert np.max(np.abs(ours - theirs) / np.abs(theirs)) < 1e-8
    # the weights moved, and to the same place in both
    w0 = A.build_model(name, p.hidden, np.float64, seed=4).out.weight.data
    assert np.abs(m.out.weight.data - w0).max() > 1e-2
    assert rel_err(m.out.weight.data, tm.out.weight.detach()) < 1e-8


def test_short_training_learns():
    """A few epochs at L=8: the LSTM solves the task, every model beats predicting zero (~36%)."""
    p = dataclasses.replace(A.PROTOCOLS["strong"], epochs=4, batch_size=20, hidden=16, lr=1e-2, n_train=1000,
                            n_test=300, dtype="float64")
    tr, te = A.make_adding_data(1000, 8, seed=1), A.make_adding_data(300, 8, seed=2)
    accs = {}
    for name in A.MODEL_NAMES:
        h = A.train_model(A.build_model(name, 16, np.float64, seed=0), tr, te, p, seed=0, progress=False)
        assert len(h["train_loss"]) == 4 and h["train_loss"][-1] < h["train_loss"][0]
        accs[name] = h["final_acc"]
    assert accs["lstm"] >= 0.9, accs
    assert min(accs.values()) > 0.4, accs


# ------------------------------------------------------------------------------------- command
def _cli(argv):
    """``rnnfast train adding ...`` when the train registry lists it, else the module's own main."""
    from rnnfast import cli

    try:
        return cli.main(["train", "adding"] + argv)
    except SystemExit as e:     # argparse: no 'train adding' command registered
        if e.code == 0:
            raise
        return A.main(argv)


def test_command_short_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc = _cli(["--lengths", "5,9", "--epochs", "2", "--n-train", "60", "--n-test", "20", "--hidden", "6",
               "--mode", "all", "--speed-repeats", "1", "--threads", "1", "--seed", "3", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Test accuracy" in text and "AlarmworkNet" in text
    for f in ("results.csv", "results.md", "history.json", "curves.png", "speed.md", "speed.json", "run.json",
              "data/train_L5.npz", "data/test_L9.npz", "models/lstm_L9.npz"):
        assert (out / f).exists(), f
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert {(r["model"], int(r["L"])) for r in rows} == {(A.DISPLAY[m], L) for m in A.MODEL_NAMES for L in (5, 9)}
    assert all(0 <= float(r["test_acc"]) <= 1 for r in rows)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["history"]["lstm"]["9"]["train_loss"]) == 2
    speed = json.loads((out / "speed.json").read_text())
    assert len(speed["epochs"]) == 6 and speed["output_layer"]["scalar"] > 0
    assert json.loads((out / "run.json").read_text())["seed"] == 3
    # the same seed reproduces the same results
    out2 = tmp_path / "run2"
    assert _cli(["--lengths", "5", "--models", "simple_rnn", "--epochs", "2", "--n-train", "60", "--n-test", "20",
                 "--hidden", "6", "--seed", "3", "--out", str(out2), "--no-progress"]) == 0
    r2 = list(csv.DictReader((out2 / "results.csv").read_text().splitlines()))[0]
    r1 = [r for r in rows if r["model"] == "SimpleRNN" and r["L"] == "5"][0]
    assert r1["test_mse"] == r2["test_mse"]


def test_command_bad_options(tmp_path, capsys):
    assert A.main(["--lengths", "2,10", "--out", str(tmp_path)]) == 2
    assert "--lengths must all be >= 3" in capsys.readouterr().err
    assert A.main(["--epochs", "0", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        A.main(["--models", "gru"])
