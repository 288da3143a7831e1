"""rnnfast.mytorch: the MyTorch (11-785 HW3P1) classes against PyTorch autograd and direct
transcriptions of the spec's formulas; initialisation order; the drop-in mechanisms."""
import importlib
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnfast.mytorch.CTC.CTC import CTC, CTCLoss
from rnnfast.mytorch.CTC.CTCDecoding import BeamSearchDecoder, GreedySearchDecoder
from rnnfast.mytorch.gru_cell import GRUCell
from rnnfast.mytorch.gru_cell_2019 import GRU_Cell
from rnnfast.mytorch.models.char_predictor import CharacterPredictor, inference
from rnnfast.mytorch.models.GRU import GRU
from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier
from rnnfast.mytorch.rnn_cell import RNNCell

torch = pytest.importorskip("torch")
T_ = torch.from_numpy


def close(a, b, tol=1e-10):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(np.asarray(a).reshape(b.shape), b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ------------------------------------------------------------------------------------------ init order
def test_init_order():
    np.random.seed(7)
    c = RNNCell(3, 4)
    np.random.seed(7)
    want = [np.random.randn(4, 3), np.random.randn(4, 4), np.random.randn(4), np.random.randn(4)]
    for a, b in zip((c.W_ih, c.W_hh, c.b_ih, c.b_hh), want):
        np.testing.assert_array_equal(a, b)
    np.random.seed(8)
    g = GRUCell(3, 4)
    np.random.seed(8)
    want = [np.random.randn(4, 3) for _ in range(3)] + [np.random.randn(4, 4) for _ in range(3)] + \
        [np.random.randn(4) for _ in range(6)]
    names = ["Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh"]
    for n, b in zip(names, want):
        np.testing.assert_array_equal(getattr(g, n), b)
        assert not getattr(g, "d" + n).any()
    np.random.seed(9)
    cp = CharacterPredictor(3, 4, 5)
    np.random.seed(9)
    for _ in range(6):
        np.random.randn(4, 3 if _ < 3 else 4)
    for _ in range(6):
        np.random.randn(4)
    np.testing.assert_array_equal(cp.projection.W, np.random.rand(5, 4))
    assert not cp.projection.b.any()
    np.random.seed(10)
    old = GRU_Cell(3, 4)
    np.random.seed(10)
    for n, shape in (("Wzh", (4, 4)), ("Wrh", (4, 4)), ("Wh", (4, 4)), ("Wzx", (4, 3)), ("Wrx", (4, 3)),
                     ("Wx", (4, 3))):
        np.testing.assert_array_equal(getattr(old, n), np.random.randn(*shape))


# ------------------------------------------------------------------------------------------ cells
def test_rnn_cell_matches_torch_with_batch_averaged_weight_grads():
    np.random.seed(0)
    B, d, h = 4, 3, 5
    cell = RNNCell(d, h)
    x, h0, delta = np.random.randn(B, d), np.random.randn(B, h), np.random.randn(B, h)
    ht = cell(x, h0)
    tc = torch.nn.RNNCell(d, h, dtype=torch.float64)
    tc.load_state_dict({"weight_ih": T_(cell.W_ih), "weight_hh": T_(cell.W_hh), "bias_ih": T_(cell.b_ih),
                        "bias_hh": T_(cell.b_hh)})
    xt, h0t = T_(x).requires_grad_(True), T_(h0).requires_grad_(True)
    out = tc(xt, h0t)
    out.backward(T_(delta))
    close(ht, out)
    for _ in range(2):  # accumulates
        dx, dh = cell.backward(delta, ht, x, h0)
    close(dx, xt.grad)
    close(dh, h0t.grad)
    close(cell.dW_ih, 2 * tc.weight_ih.grad / B)
    close(cell.dW_hh, 2 * tc.weight_hh.grad / B)
    close(cell.db_ih, 2 * tc.bias_ih.grad / B)
    close(cell.db_hh, 2 * tc.bias_hh.grad / B)
    cell.zero_grad()
    assert not cell.dW_ih.any()


def _torch_gru_cell(g):
    tc = torch.nn.GRUCell(g.d, g.h, dtype=torch.float64)
    tc.load_state_dict({"weight_ih": T_(np.concatenate([g.Wrx, g.Wzx, g.Wnx])),
                        "weight_hh": T_(np.concatenate([g.Wrh, g.Wzh, g.Wnh])),
                        "bias_ih": T_(np.concatenate([g.brx, g.bzx, g.bnx])),
                        "bias_hh": T_(np.concatenate([g.brh, g.bzh, g.bnh]))})
    return tc


def test_gru_cell_matches_torch_and_leaves_attributes():
    np.random.seed(1)
    g = GRUCell(3, 4)
    x, h, delta = np.random.randn(3), np.random.randn(4), np.random.randn(4)
    ht = g(x, h)
    for attr in ("x", "hidden", "r", "z", "n"):
        assert getattr(g, attr).shape == ((3,) if attr == "x" else (4,))
    np.testing.assert_array_equal(g.x, x)
    np.testing.assert_array_equal(g.hidden, h)
    close(ht, (1 - g.z) * g.n + g.z * h)
    tc = _torch_gru_cell(g)
    xt, htt = T_(x[None]).requires_grad_(True), T_(h[None]).requires_grad_(True)
    out = tc(xt, htt)
    out.backward(T_(delta[None]))
    close(ht, out[0])
    dx, dh = g.backward(delta)
    assert dx.shape == (3,) and dh.shape == (4,)
    close(dx, xt.grad[0])
    close(dh, htt.grad[0])
    H = 4
    for k, gate in enumerate("rzn"):
        close(getattr(g, f"dW{gate}x"), tc.weight_ih.grad[k * H:(k + 1) * H])
        close(getattr(g, f"dW{gate}h"), tc.weight_hh.grad[k * H:(k + 1) * H])
        close(getattr(g, f"db{gate}x"), tc.bias_ih.grad[k * H:(k + 1) * H])
        close(getattr(g, f"db{gate}h"), tc.bias_hh.grad[k * H:(k + 1) * H])


def test_gru_cell_in_place_updates_and_rebinding_reach_the_kernel():
    np.random.seed(2)
    g = GRUCell(3, 4)
    x, h = np.random.randn(3), np.random.randn(4)
    g(x, h)
    g.backward(np.ones(4))
    for n in ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh"):
        w = getattr(g, n)
        w -= 0.1 * getattr(g, "d" + n)  # the training loop's in-place update
    out1 = g(x, h)
    close(out1, _torch_gru_cell(g)(T_(x[None]), T_(h[None]))[0])
    g.Wnh = np.zeros((4, 4))  # rebinding copies into the kernel's buffer
    g.init_weights(*[getattr(g, n) for n in ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh",
                                             "bzh", "bnh")])
    close(g(x, h), _torch_gru_cell(g)(T_(x[None]), T_(h[None]))[0])
    g.dWrx = np.zeros((4, 3))
    assert not g.dWrx.any()


def test_gru_cell_2019_matches_its_equations():
    np.random.seed(3)
    c = GRU_Cell(3, 4)
    x, h, delta = np.random.randn(3), np.random.randn(4), np.random.randn(4)
    ht = c(x, h)
    P = {n: T_(getattr(c, n)).requires_grad_(True) for n in ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx")}
    xt, htt = T_(x).requires_grad_(True), T_(h).requires_grad_(True)
    z = torch.sigmoid(P["Wzh"] @ htt + P["Wzx"] @ xt)
    r = torch.sigmoid(P["Wrh"] @ htt + P["Wrx"] @ xt)
    hh = torch.tanh(P["Wh"] @ (r * htt) + P["Wx"] @ xt)
    out = (1 - z) * htt + z * hh
    out.backward(T_(delta))
    close(ht, out)
    close(c.z, z)
    close(c.r, r)
    close(c.h_tilde, hh)
    dx, dh = c.backward(delta.reshape(1, -1))
    assert dx.shape == (1, 3) and dh.shape == (1, 4)
    close(dx, xt.grad)
    close(dh, htt.grad)
    for n, p in P.items():
        close(getattr(c, "d" + n), p.grad)


# ------------------------------------------------------------------------------------------ models
def test_rnn_phoneme_classifier_matches_torch():
    np.random.seed(4)
    B, T, d, h, out, L = 3, 5, 4, 6, 7, 3
    m = RNNPhonemeClassifier(d, h, out, L)
    rnn_w = [[np.random.randn(h, d if l == 0 else h), np.random.randn(h, h), np.random.randn(h), np.random.randn(h)]
             for l in range(L)]
    lin_w = [np.random.randn(out, h), np.random.randn(out)]
    m.init_weights(rnn_w, lin_w)
    x, h0, delta = np.random.randn(B, T, d), np.random.randn(L, B, h), np.random.randn(B, out)
    logits = m(x, h0)
    assert len(m.hiddens) == T + 1 and m.hiddens[0].shape == (L, B, h)
    tr = torch.nn.RNN(d, h, L, batch_first=True, dtype=torch.float64)
    sd = {}
    for l in range(L):
        sd.update({f"weight_ih_l{l}": T_(rnn_w[l][0]), f"weight_hh_l{l}": T_(rnn_w[l][1]),
                   f"bias_ih_l{l}": T_(rnn_w[l][2]), f"bias_hh_l{l}": T_(rnn_w[l][3])})
    tr.load_state_dict(sd)
    h0t = T_(h0).requires_grad_(True)
    y, hn = tr(T_(x), h0t)
    W, b = T_(lin_w[0]).requires_grad_(True), T_(lin_w[1]).requires_grad_(True)
    tl = hn[-1] @ W.T + b
    tl.backward(T_(delta))
    close(logits, tl)
    close(m.hiddens[-1], hn)
    dh0 = m.backward(delta)
    close(dh0, h0t.grad / B)
    close(m.output_layer.dLdW, W.grad)
    for l in range(L):
        close(m.rnn[l].dW_ih, getattr(tr, f"weight_ih_l{l}").grad / B)
        close(m.rnn[l].dW_hh, getattr(tr, f"weight_hh_l{l}").grad / B)
        close(m.rnn[l].db_hh, getattr(tr, f"bias_hh_l{l}").grad / B)


def test_char_predictor_and_inference():
    np.random.seed(5)
    net = CharacterPredictor(3, 4, 6)
    seq = np.random.randn(7, 3)
    logits = inference(net, seq)
    assert logits.shape == (7, 6)
    tc = _torch_gru_cell(net.gru)
    h = torch.zeros(1, 4, dtype=torch.float64)
    for t in range(7):
        h = tc(T_(seq[t:t + 1]), h)
        close(logits[t], (h @ T_(net.projection.W).T)[0])


@pytest.mark.parametrize("L", [1, 3])
def test_bonus_gru_true_gradient(L):
    np.random.seed(6)
    T, B, I, H = 5, 2, 3, 4
    m = GRU(I, H, L)
    x, h0, dout = np.random.randn(T, B, I), np.random.randn(L, B, H), np.random.randn(T, B, H)
    out, hn = m(x, h0)
    tg = torch.nn.GRU(I, H, L, dtype=torch.float64)
    sd = {}
    for l, c in enumerate(m.layers):
        sd.update({f"weight_ih_l{l}": T_(c._w_ih.copy()), f"weight_hh_l{l}": T_(c._w_hh.copy()),
                   f"bias_ih_l{l}": T_(c._b_ih.copy()), f"bias_hh_l{l}": T_(c._b_hh.copy())})
    tg.load_state_dict(sd)
    xt = T_(x).requires_grad_(True)
    y, thn = tg(xt, T_(h0))
    y.backward(T_(dout))
    close(out, y)
    close(hn, thn)
    close(m.backward(dout), xt.grad)
    for l, c in enumerate(m.layers):
        close(np.concatenate([c.dWrx, c.dWzx, c.dWnx]), getattr(tg, f"weight_ih_l{l}").grad)
        close(np.concatenate([c.dbrh, c.dbzh, c.dbnh]), getattr(tg, f"bias_hh_l{l}").grad)


# ------------------------------------------------------------------------------------------ CTC
def _spec_alpha_beta(y, ext, skip):
    """Direct loop transcription of the spec's formulas."""
    T, S = y.shape[0], len(ext)
    a = np.zeros((T, S))
    b = np.zeros((T, S))
    a[0, 0], a[0, 1] = y[0, ext[0]], y[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            v = a[t - 1, s] + (a[t - 1, s - 1] if s >= 1 else 0) + (a[t - 1, s - 2] if s >= 2 and skip[s] else 0)
            a[t, s] = v * y[t, ext[s]]
    b[T - 1, S - 1] = b[T - 1, S - 2] = 1
    for t in range(T - 2, -1, -1):
        for s in range(S):
            v = b[t + 1, s] * y[t + 1, ext[s]]
            if s + 1 < S:
                v += b[t + 1, s + 1] * y[t + 1, ext[s + 1]]
            if s + 2 < S and skip[s + 2]:
                v += b[t + 1, s + 2] * y[t + 1, ext[s + 2]]
            b[t, s] = v
    return a, b


def test_ctc_matches_spec_transcription():
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(np.array([1, 1, 2, 3, 3, 1]))
    assert list(ext) == [0, 1, 0, 1, 0, 2, 0, 3, 0, 3, 0, 1, 0]
    assert list(skip) == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0]
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(4), size=12)
    a, b = ctc.get_forward_probs(y, ext, skip), ctc.get_backward_probs(y, ext, skip)
    ra, rb = _spec_alpha_beta(y, ext, skip)
    close(a, ra, 1e-12)
    close(b, rb, 1e-12)
    g = ctc.get_posterior_probs(a, b)
    close(g.sum(1), np.ones(12), 1e-12)


def test_ctc_loss_expected_divergence_and_gradient():
    rng = np.random.default_rng(1)
    T, B, C = 10, 3, 4
    y = rng.dirichlet(np.ones(C), size=(T, B))
    tg = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
    il, tl = np.array([10, 8, 6]), np.array([3, 2, 1])
    crit = CTCLoss()
    loss = crit(y, tg, il, tl)
    ctc = CTC()
    want, dY = 0.0, np.zeros_like(y)
    for b in range(B):
        ext, skip = ctc.extend_target_with_blank(tg[b, :tl[b]])
        a, be = _spec_alpha_beta(y[:il[b], b], ext, skip)
        gm = a * be / (a * be).sum(1, keepdims=True)
        want -= (gm * np.log(y[:il[b], b][:, ext])).sum()
        for s, k in enumerate(ext):
            dY[:il[b], b, k] -= gm[:, s] / y[:il[b], b, k]
    close(loss, want / B, 1e-12)
    close(crit.backward(), dY, 1e-12)


def test_greedy_decoder():
    y = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.7, 0.2], [0.2, 0.1, 0.7]]).T[:, :, None]
    path, prob = GreedySearchDecoder(["a", "b"]).decode(y)
    assert path == "aab" and prob == 0.6 * 0.7 * 0.7 * 0.7 * 0.7


def test_beam_decoder_against_exhaustive_merge():
    """With a beam wide enough never to prune, the merged scores are the exact probabilities of
    every labelling (sum over its alignments)."""
    rng = np.random.default_rng(2)
    syms = ["a", "b"]
    T = 4
    y = rng.dirichlet(np.ones(3), size=T).T[:, :, None]
    best, merged = BeamSearchDecoder(syms, beam_width=100).decode(y)
    exact = {}
    for path in itertools.product(range(3), repeat=T):
        lab, prev = [], None
        for c in path:
            if c != prev and c != 0:
                lab.append(syms[c - 1])
            prev = c
        k = "".join(lab)
        exact[k] = exact.get(k, 0.0) + np.prod([y[c, t, 0] for t, c in enumerate(path)])
    assert set(merged) == set(exact)
    for k in exact:
        assert abs(merged[k] - exact[k]) < 1e-12
    assert best == max(exact, key=exact.get)
    best2, merged2 = BeamSearchDecoder(syms, beam_width=2).decode(y)
    assert best2 in merged2 and len(merged2) <= len(merged)


# ------------------------------------------------------------------------------------------ drop-in
def test_train_end2end_loss_falls(capsys):
    from rnnfast.mytorch import train_end2end

    losses = train_end2end.train()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 10 and out[0].startswith("Epoch 1, Loss: ") and out[-1] == f"Epoch 10, Loss: {losses[-1]:.4f}"
    assert (losses[0] - losses[-1]) / losses[0] >= 0.05


def test_install_import_aliases_in_a_fresh_interpreter():
    code = ("import rnnfast.mytorch as m; m.install_import_aliases();"
            "import mytorch.gru_cell, mytorch.nn.linear, models.GRU, CTC.CTC, CTC.CTCDecoding, models.rnn_classifier;"
            "import gru_cell, rnn_cell, nn.linear, nn.loss, nn.activation, char_predictor, rnn_classifier, CTCDecoding;"
            "from mytorch.gru_cell import GRUCell; from nn.loss import SoftmaxCrossEntropy;"
            "from models.GRU import GRU; assert GRUCell is gru_cell.GRUCell; print('ok')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _handout(tmp_path):
    root = tmp_path / "handout"
    for rel in ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "mytorch/nn/linear.py", "mytorch/nn/activation.py",
                "mytorch/nn/loss.py", "models/rnn_classifier.py", "models/char_predictor.py", "models/GRU.py",
                "CTC/CTC.py", "CTC/CTCDecoding.py"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# student's {rel}\nraise NotImplementedError\n")
    (root / "mytorch" / "__init__.py").write_text("")
    (root / "mytorch" / "nn" / "__init__.py").write_text("")
    (root / "models" / "__init__.py").write_text("")
    (root / "CTC" / "__init__.py").write_text("")
    (root / "runner.py").write_text(
        "import sys\nsys.path.append('mytorch'); sys.path.append('models'); sys.path.append('CTC')\n"
        "import numpy as np\nfrom gru_cell import GRUCell\nfrom nn.linear import Linear\nfrom nn.loss import "
        "SoftmaxCrossEntropy\nfrom char_predictor import CharacterPredictor, inference\nfrom rnn_classifier import "
        "RNNPhonemeClassifier\nfrom CTCDecoding import GreedySearchDecoder\nimport mytorch.rnn_cell, models.GRU, CTC.CTC\n"
        "np.random.seed(0)\nnet = CharacterPredictor(3, 4, 5)\nprint(inference(net, np.ones((2, 3))).shape)\n")
    return root


def _cli(*args):
    from rnnfast.cli import main
    return main(["mytorch", *map(str, args)])


def test_shim_installer(tmp_path, capsys):
    root = _handout(tmp_path)
    originals = {p: p.read_bytes() for p in root.rglob("*.py")}
    assert _cli("install", root) == 1  # refuses: the student's files were not written by rnnfast
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == originals
    assert _cli("install", root, "--force", "--dry-run") == 0  # writes nothing
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == originals
    assert _cli("install", root, "--force") == 0
    assert (root / "mytorch" / "gru_cell.py.rnnfast-orig").read_bytes() == originals[root / "mytorch" / "gru_cell.py"]
    assert (root / "train_end2end.py").exists()  # a file the handout lacked is created
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "runner.py"], cwd=root, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "(2, 5)", r.stderr
    assert _cli("install", root) == 0  # re-install over its own shims: fine without --force
    assert _cli("uninstall", root) == 0
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == originals
    assert not list(root.rglob("*.rnnfast-orig")) and not (root / "train_end2end.py").exists()
