"""RNN language model with self-attention: attention and the whole model against PyTorch autograd
(float64, random upstream gradients), step() against forward(), generation, and a short run."""
import json
import math
import os

import numpy as np
import pytest

from rnnfast.apps import rnn_lm as R
from rnnfast.nn.attention import CausalSelfAttention

torch = pytest.importorskip("torch")


def _load(path):
    with open(path) as f:
        return json.load(f)
BOOK = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "pg1342.txt")


def torch_attention(h, Wq, Wk, Wv, Wo, dk):
    q, k, v = h @ Wq.T, h @ Wk.T, h @ Wv.T                  # (T, B, .)
    s = torch.einsum("tbk,ibk->bti", q, k) / math.sqrt(dk)
    T = h.shape[0]
    s = s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
    a = torch.softmax(s, -1)
    return torch.einsum("bti,ibv->tbv", a, v) @ Wo.T


def test_attention_matches_torch_and_step():
    rng = np.random.default_rng(0)
    T, B, D, dk, dv = 6, 3, 5, 4, 3
    m = CausalSelfAttention(D, dk, dv, dtype=np.float64, seed=1)
    h, do = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, D))
    o = m(h)
    dh = m.backward(do)
    W = {n: torch.tensor(getattr(m, n).data, requires_grad=True) for n in ("W_q", "W_k", "W_v", "W_o")}
    ht = torch.tensor(h, requires_grad=True)
    ot = torch_attention(ht, W["W_q"], W["W_k"], W["W_v"], W["W_o"], dk)
    ot.backward(torch.tensor(do))
    np.testing.assert_allclose(o, ot.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dh, ht.grad.numpy(), rtol=1e-11, atol=1e-12)
    for n, p in W.items():
        np.testing.assert_allclose(getattr(m, n).grad, p.grad.numpy(), rtol=1e-11, atol=1e-12)
    cache = {}
    steps = np.stack([m.step(h[t], cache) for t in range(T)])
    np.testing.assert_allclose(steps, o, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_model_loss_and_gradients_match_torch(nonlinearity):
    rng = np.random.default_rng(2)
    V, E, D, dk, dv, B, T = 13, 4, 6, 5, 3, 2, 7
    m = R.RNNLanguageModel(V, E, D, dk, dv, nonlinearity, dtype=np.float64, seed=3)
    tokens = rng.integers(0, V, (B, T))
    loss = m.loss_and_backward(tokens)
    P = {n: torch.tensor(p.data, requires_grad=True) for n, p in m.named_parameters()}
    x = P["embedding.weight"][torch.from_numpy(tokens.T)]          # (T, B, E)
    hs, h = [], torch.zeros(B, D, dtype=torch.float64)
    for t in range(T):  # the Elman recurrence written out, on the model's parameters
        a = x[t] @ P["rnn.weight_ih"].T + P["rnn.bias_ih"] + h @ P["rnn.weight_hh"].T + P["rnn.bias_hh"]
        h = torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
        hs.append(h)
    hseq = torch.stack(hs)
    z = hseq + torch_attention(hseq, P["attention.W_q"], P["attention.W_k"], P["attention.W_v"], P["attention.W_o"], dk)
    logits = (z @ P["head.weight"].T + P["head.bias"]).transpose(0, 1)   # (B, T, V)
    tl = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), torch.from_numpy(tokens[:, 1:].reshape(-1)))
    tl.backward()
    assert abs(loss - tl.item()) < 1e-12
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, P[n].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)


def test_generation_steps_equal_forward_and_greedy_is_argmax():
    m = R.RNNLanguageModel(11, 4, 6, 5, 3, seed=4)
    prefix = [1, 5, 2]
    out = m.generate(prefix, 6, temperature=0.0)
    assert out == m.generate(prefix, 6, temperature=0.0)  # deterministic
    seq = list(prefix)
    for _ in range(6):  # greedy = argmax of the full forward's last position, recomputed each time
        seq.append(int(np.argmax(m.forward(np.array([seq]))[0, -1])))
    assert out == seq[len(prefix):]
    sampled = m.generate(prefix, 20, temperature=0.8, seed=5)
    assert sampled == m.generate(prefix, 20, temperature=0.8, seed=5) and all(0 <= t < 11 for t in sampled)
    assert R.RNNLanguageModel.select_token(np.array([0.1, 3.0, 0.2]), 0.0) == 1


def test_reads_tinystories_json(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(["Once upon a time.", {"story": "A cat sat."}, {"text": "The end."}]))
    assert R.read_texts(str(p)) == ["Once upon a time.", "A cat sat.", "The end."]


@pytest.mark.skipif(not os.path.exists(BOOK), reason="../shared/data not beside the project")
def test_command_short_run(tmp_path):
    f = {k: str(tmp_path / f"{k}.json") for k in ("m", "t", "v")}
    rc = R.main(["--train_data", BOOK, "--val_data", BOOK, "--metrics_out", f["m"], "--train_losses_out", f["t"],
                 "--val_losses_out", f["v"], "--embed_dim", "8", "--hidden_dim", "16", "--dk", "8", "--dv", "8",
                 "--num_sequences", "160", "--batch_size", "8", "--seq_len", "16", "--vocab_size", "300",
                 "--plot", str(tmp_path / "loss"), "--threads", "1", "--no-progress"])
    assert rc == 0
    m = _load(f["m"])
    t, v = _load(f["t"]), _load(f["v"])
    assert len(t) == 20 and len(v) == 2 and t[-1]["sequences"] == 160
    assert set(m["completions"]) == {"0.0", "0.3", "0.8"} and t[-1]["loss"] < t[0]["loss"]
    assert (tmp_path / "loss_train.png").exists() and (tmp_path / "loss_val.png").exists()


def test_torch_twin_first_steps_match_float64():
    """Same initial weights, batches, clipping and Adam: the training losses of the first steps
    agree to 1e-10 relative in float64, and so do the weights after them."""
    rng = np.random.default_rng(6)
    V, E, D, dk, dv, B, T = 17, 5, 8, 6, 4, 3, 9
    m = R.RNNLanguageModel(V, E, D, dk, dv, dtype=np.float64, seed=7)
    tm = R.torch_model(m)
    from rnnfast import optim

    opt = optim.Adam(m.parameters(), lr=3e-2)
    topt = torch.optim.Adam(tm.parameters(), lr=3e-2)
    ours, theirs = [], []
    for _ in range(30):
        batch = (rng.integers(0, V, (B, 1)) + np.arange(T)) % V   # learnable: next = current + 1
        ours.append(R.train_step(m, opt, batch, clip=0.5))   # clip small enough to be active
        theirs.append(R.torch_train_step(tm, topt, batch, clip=0.5))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[-1] < ours[0] - 0.5  # it did learn
    tp = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.data, tp[tm.ours_to_torch[n]].detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=n)


@pytest.mark.skipif(not os.path.exists(BOOK), reason="../shared/data not beside the project")
def test_command_compare_torch(tmp_path):
    f = {k: str(tmp_path / f"{k}.json") for k in ("m", "t", "v")}
    rc = R.main(["--train_data", BOOK, "--val_data", BOOK, "--metrics_out", f["m"], "--train_losses_out", f["t"],
                 "--val_losses_out", f["v"], "--embed_dim", "8", "--hidden_dim", "16", "--dk", "8", "--dv", "8",
                 "--num_sequences", "160", "--batch_size", "8", "--seq_len", "16", "--vocab_size", "300",
                 "--dtype", "float64", "--compare-torch", "--plot", str(tmp_path / "loss"), "--threads", "1",
                 "--no-progress"])
    assert rc == 0
    m = _load(f["m"])
    tm = m["torch"]
    assert len(tm["train_losses"]) == 20 and len(tm["val_losses"]) == 2
    assert tm["max_rel_train_loss_diff"] < 1e-8
    assert abs(tm["final_val_loss"] - m["final_val_loss"]) < 1e-8 * m["final_val_loss"]
