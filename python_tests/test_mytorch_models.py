"""rnnfast.mytorch models against PyTorch autograd (float64, random upstream gradients, every
backend): RNNPhonemeClassifier (BPTT, dh_0 / B), CharacterPredictor + inference, the bonus
multi-layer GRU (the true gradient), and train_end2end (the loss falls by >= 5% in 10 epochs)."""
import numpy as np
import pytest

import rnnfast
from rnnfast.mytorch.models.char_predictor import CharacterPredictor, inference
from rnnfast.mytorch.models.GRU import GRU
from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier

torch = pytest.importorskip("torch")
T_ = torch.from_numpy


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def close(a, b, tol=1e-10):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("L,use_h0", [(1, True), (3, True), (2, False)])
def test_rnn_phoneme_classifier_matches_torch(backend, L, use_h0):
    np.random.seed(4)
    B, T, d, h, out = 3, 5, 4, 6, 7
    m = RNNPhonemeClassifier(d, h, out, L)
    rnn_w = [[np.random.randn(h, d if l == 0 else h) * 0.5, np.random.randn(h, h) * 0.5, np.random.randn(h),
              np.random.randn(h)] for l in range(L)]
    lin_w = [np.random.randn(out, h), np.random.randn(out)]
    m.init_weights(rnn_w, lin_w)
    assert m.output_layer.b.shape == (out, 1)
    x, delta = np.random.randn(B, T, d), np.random.randn(B, out)
    h0 = np.random.randn(L, B, h) if use_h0 else np.zeros((L, B, h))
    logits = m(x, h0 if use_h0 else None)
    assert len(m.hiddens) == T + 1 and all(s.shape == (L, B, h) for s in m.hiddens)
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
    close(m.hiddens[0], h0)
    close(m.hiddens[-1], hn)
    for t in range(1, T + 1):  # the top layer's state over time is torch's output sequence
        close(m.hiddens[t][-1], y[:, t - 1])
    dh0 = m.backward(delta)
    close(dh0, h0t.grad / B)
    close(m.output_layer.dLdW, W.grad)
    close(m.output_layer.dLdb[:, 0], b.grad)
    for l in range(L):  # weight gradients batch-averaged, as RNNCell's
        for mine, theirs in (("dW_ih", "weight_ih"), ("dW_hh", "weight_hh"), ("db_ih", "bias_ih"),
                             ("db_hh", "bias_hh")):
            close(getattr(m.rnn[l], mine), getattr(tr, f"{theirs}_l{l}").grad / B)


def test_rnn_phoneme_classifier_bad_h0():
    m = RNNPhonemeClassifier(4, 6, 7, 2)
    with pytest.raises(ValueError, match="h_0"):
        m(np.zeros((3, 5, 4)), np.zeros((2, 4, 6)))


def _torch_gru_cell(g):
    tc = torch.nn.GRUCell(g.d, g.h, dtype=torch.float64)
    tc.load_state_dict({"weight_ih": T_(np.concatenate([g.Wrx, g.Wzx, g.Wnx])),
                        "weight_hh": T_(np.concatenate([g.Wrh, g.Wzh, g.Wnh])),
                        "bias_ih": T_(np.concatenate([g.brx, g.bzx, g.bnx])),
                        "bias_hh": T_(np.concatenate([g.brh, g.bzh, g.bnh]))})
    return tc


def test_char_predictor_and_inference(backend):
    np.random.seed(5)
    d, h, C, T = 3, 4, 6, 7
    net = CharacterPredictor(d, h, C)
    net.init_rnn_weights(*(np.random.randn(*getattr(net.gru, n).shape) for n in
                           ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh")))
    net.projection.b = np.random.randn(C, 1)
    seq = np.random.randn(T, d)
    logits = inference(net, seq)
    assert logits.shape == (T, C)
    tc = _torch_gru_cell(net.gru)
    W, b = T_(net.projection.W), T_(net.projection.b[:, 0])
    hh = torch.zeros(1, h, dtype=torch.float64)
    for t in range(T):
        hh = tc(T_(seq[t:t + 1]), hh)
        close(logits[t], (hh @ W.T + b)[0])
    lg, hn = net(seq[0], np.zeros(h))
    assert lg.shape == (C,) and hn.shape == (h,)
    close(lg, logits[0], 1e-14)


@pytest.mark.parametrize("L,use_h0", [(1, True), (3, True), (2, False)])
def test_bonus_gru_true_gradient(backend, L, use_h0):
    np.random.seed(6)
    T, B, I, H = 5, 2, 3, 4
    m = GRU(I, H, L)
    x, dout = np.random.randn(T, B, I), np.random.randn(T, B, H)
    h0 = np.random.randn(L, B, H) if use_h0 else None
    out, hn = m(x, h0)
    assert out.shape == (T, B, H) and hn.shape == (L, B, H)
    tg = torch.nn.GRU(I, H, L, dtype=torch.float64)
    sd = {}
    for l, c in enumerate(m.layers):
        sd.update({f"weight_ih_l{l}": T_(np.concatenate([c.Wrx, c.Wzx, c.Wnx])),
                   f"weight_hh_l{l}": T_(np.concatenate([c.Wrh, c.Wzh, c.Wnh])),
                   f"bias_ih_l{l}": T_(np.concatenate([c.brx, c.bzx, c.bnx])),
                   f"bias_hh_l{l}": T_(np.concatenate([c.brh, c.bzh, c.bnh]))})
    tg.load_state_dict(sd)
    xt = T_(x).requires_grad_(True)
    y, thn = tg(xt, None if h0 is None else T_(h0))
    y.backward(T_(dout))
    close(out, y)
    close(hn, thn)
    d_in = m.backward(dout)
    assert d_in.shape == (T, B, I)
    close(d_in, xt.grad)
    for rep in (1, 2):  # a second backward accumulates
        for l, c in enumerate(m.layers):
            for k, gate in enumerate("rzn"):
                sl = slice(k * H, (k + 1) * H)
                close(getattr(c, f"dW{gate}x"), rep * getattr(tg, f"weight_ih_l{l}").grad[sl])
                close(getattr(c, f"dW{gate}h"), rep * getattr(tg, f"weight_hh_l{l}").grad[sl])
                close(getattr(c, f"db{gate}x"), rep * getattr(tg, f"bias_ih_l{l}").grad[sl])
                close(getattr(c, f"db{gate}h"), rep * getattr(tg, f"bias_hh_l{l}").grad[sl])
        if rep == 1:
            m.backward(dout)


def test_bonus_gru_sees_in_place_weight_updates():
    np.random.seed(7)
    m = GRU(3, 4, 2)
    x = np.random.randn(4, 2, 3)
    out1, _ = m(x)
    for c in m.layers:
        c.Wnh -= 0.5  # through the user-visible attribute
    out2, _ = m(x)
    assert not np.allclose(out1, out2)
    with pytest.raises(ValueError, match="h0"):
        m(x, np.zeros((1, 2, 4)))


def test_train_end2end_loss_falls(capsys):
    from rnnfast.mytorch import train_end2end

    losses = train_end2end.train()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(losses) == 10 and len(out) == 10
    for e, (line, loss) in enumerate(zip(out, losses)):  # epochs counted from 0, as the handout's loop
        assert line == f"Epoch {e}, Loss: {loss:.4f}"
    assert all(np.isfinite(losses))
    assert (losses[0] - losses[-1]) / losses[0] >= 0.05
