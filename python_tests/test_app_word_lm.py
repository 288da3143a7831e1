"""Word-level language model application: tokenisation, the model's gradients against PyTorch
(float64, same weights, dropout off), and a short end-to-end run of the command."""
import json
import math
import os

import numpy as np
import pytest

from rnnfast.apps import word_lm as W

BOOK = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "pg1342.txt")


def test_tokenize_and_strip():
    text = "header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nIt is a truth, universally\nacknowledged; " \
           "Mr. Bennet's wife!\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence"
    toks = W.tokenize(W.strip_gutenberg(text))
    assert toks == ["it", "is", "a", "truth", ",", "universally", "acknowledged", ";", "mr", ".", "bennet's",
                    "wife", "!"]


def test_corpus_split_and_vocabulary(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(" ".join(["a b c d e ."] * 30) + " zzz")
    c = W.load_corpus(str(p))
    assert len(c.valid) == round((len(c.train) + len(c.valid)) * 0.1)
    assert c.vocab[0] == W.UNK and "zzz" not in c.vocab  # only in the validation part
    assert c.valid[-1] == 0
    b = W.batchify(np.arange(23), 4)
    assert b.shape == (5, 4) and list(b[:, 1]) == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_model_gradients_match_torch(cell):
    torch = pytest.importorskip("torch")
    cfg = W.Config(cell=cell, hidden=6, layers=2, dropout=0.0, dtype="float64")
    V, T, B = 11, 5, 3
    m = W.WordLM(V, cfg, seed=1)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, V, (T + 1, B))
    state = m.init_state(B)
    logits, _ = m.forward(ids[:-1], state)
    loss, d = W.cross_entropy(logits, ids[1:].reshape(-1))
    m.backward(d)
    # torch: the same model, same weights
    E = torch.tensor(m.embedding.data, requires_grad=True)
    bias = torch.tensor(m.decoder_bias.data, requires_grad=True)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](6, 6, 2, dtype=torch.float64)
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in m.rnn.state_dict().items()})
    y, _ = rnn(E[torch.from_numpy(ids[:-1])])
    out = y.reshape(-1, 6) @ E.T + bias
    tl = torch.nn.functional.cross_entropy(out, torch.from_numpy(ids[1:].reshape(-1)))
    tl.backward()
    assert abs(loss - tl.item()) < 1e-12
    np.testing.assert_allclose(m.embedding.grad, E.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.decoder_bias.grad, bias.grad.numpy(), rtol=1e-9, atol=1e-12)
    for n, p in rnn.named_parameters():
        np.testing.assert_allclose(getattr(m.rnn, n).grad, p.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not os.path.exists(BOOK), reason="../shared/data not beside the project")
def test_command_short_run(tmp_path):
    out = tmp_path / "run"
    book = tmp_path / "start.txt"  # the book's first 150,000 characters (header kept: it is stripped)
    with open(BOOK, encoding="utf-8-sig") as f:
        book.write_text(f.read(150_000), encoding="utf-8")
    args = ["--data", str(book), "--hidden", "16", "--epochs", "2", "--bptt", "20", "--batch-size", "32",
            "--threads", "1", "--out", str(out), "--no-progress", "--unk-singletons", "0.5", "--lr", "1e-2"]
    rc = W.main(args)
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["vocab"] > 2000 and res["best_valid_ppl"] < 0.3 * res["vocab"]  # learnt (uniform guess = vocab)
    assert res["unk_breakdown_last_epoch"]["unk_share"] > 0
    for f in ("results.md", "perplexity.png", "best.npz"):
        assert (out / f).exists()
    # a second run keeps the first checkpoint (renamed), never silently overwritten
    rc = W.main(args[:7] + ["1"] + args[8:])
    assert rc == 0 and any(p.name.startswith("best.npz.") and p.name.endswith(".bak") for p in out.iterdir())


def test_embedding_init_options():
    n = W.WordLM(50, W.Config(hidden=40, embed_init="normal"), seed=0).embedding.data
    u = W.WordLM(50, W.Config(hidden=40, embed_init="uniform"), seed=0).embedding.data
    assert 0.9 < n.std() < 1.1 and np.abs(u).max() <= 0.1  # torch.nn.Embedding's N(0, 1); U(-0.1, 0.1)
    with pytest.raises(ValueError, match="embed_init"):
        W.WordLM(50, W.Config(embed_init="xavier"))


def test_lr_decay_on_plateau_and_weight_decay(tmp_path, monkeypatch):
    """--lr-decay multiplies the learning rate after an epoch without a new best validation perplexity."""
    p = tmp_path / "t.txt"
    rng = np.random.default_rng(0)
    p.write_text(" ".join(rng.choice(["a", "b", "c", "d", "e", "f", "."], 3000)))
    ppl = iter([10.0, 12.0, 9.0, 11.0])
    monkeypatch.setattr(W, "evaluate", lambda *a, **k: next(ppl))
    cfg = W.Config(hidden=8, epochs=4, bptt=10, batch_size=8, lr=3e-2, lr_decay=0.5, weight_decay=1e-4)
    res = W.run_training(str(p), cfg, progress=False)
    assert res["history"]["lr"] == pytest.approx([3e-2, 3e-2, 1.5e-2, 1.5e-2])  # rate used in each epoch
    assert res["best_valid_ppl"] == 9.0


@pytest.mark.skipif(not os.path.exists(BOOK), reason="../shared/data not beside the project")
def test_speed_only(tmp_path):
    pytest.importorskip("torch")
    book = tmp_path / "start.txt"
    with open(BOOK, encoding="utf-8-sig") as f:
        book.write_text(f.read(100_000), encoding="utf-8")
    rc = W.main(["--data", str(book), "--hidden", "16", "--bptt", "10", "--batch-size", "16", "--threads", "1",
                 "--speed-only", "--out", str(tmp_path)])
    assert rc == 0
    sp = json.loads((tmp_path / "speed.json").read_text())
    assert sp["rnnfast_epoch_s"] > 0 and sp["torch_epoch_s"] > 0 and sp["rounds"] == 3


def test_min_count_and_unk_breakdown(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(" ".join(["a b c a b ."] * 40) + " once twice twice " + " ".join(["a b c ."] * 10) + " zzz")
    full, mc2 = W.load_corpus(str(p)), W.load_corpus(str(p), min_count=2)
    assert "once" in full.vocab and "once" not in mc2.vocab and "twice" in mc2.vocab
    assert (mc2.train == 0).sum() == 1 and (full.train == 0).sum() == 0  # "once" is <unk> in training
    with pytest.raises(ValueError, match="min_count"):
        W.load_corpus(str(p), min_count=0)
    m = W.WordLM(len(full.vocab), W.Config(hidden=8, dropout=0.0), seed=0)
    b = W.unk_breakdown(m, W.batchify(full.valid, 2), 5)
    assert 0 < b["unk_share"] < 0.2 and b["other_mean_loss"] > 0
    # the breakdown recombines into evaluate's perplexity
    ppl = W.evaluate(m, W.batchify(full.valid, 2), 5)
    tot = b["unk_nats_per_token"] + (1 - b["unk_share"]) * b["other_mean_loss"]
    assert abs(math.exp(tot) - ppl) < 1e-3 * ppl


def test_unk_singletons():
    ids = np.array([1, 2, 3, 1, 4, 5, 6, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] * 1 + [2])
    single = np.bincount(ids)[ids] == 1
    assert (W.unk_singletons(ids, 0.0) == ids).all()
    all_ = W.unk_singletons(ids, 1.0)
    assert (all_[single] == 0).all() and (all_[~single] == ids[~single]).all()
    half = W.unk_singletons(ids, 0.5, seed=3)
    assert 0 < (half == 0).sum() < single.sum() and (half[~single] == ids[~single]).all()
    assert (half == W.unk_singletons(ids, 0.5, seed=3)).all()
    with pytest.raises(ValueError, match="rate"):
        W.unk_singletons(ids, 1.5)


def test_sample_never_generates_unk():
    cfg = W.Config(hidden=8, dropout=0.0)
    m = W.WordLM(6, cfg, seed=0)
    m.decoder_bias.data[0] = 50.0  # <unk> would win every draw
    vocab = [W.UNK, "a", "b", "c", "d", "."]
    for t in (0.0, 0.8):
        text = W.sample(m, vocab, 20, t, seed=1, prompt=[1])
        assert W.UNK not in text and text.count("a") + text.count("b") + text.count("c") + text.count("d") \
            + text.count(".") == 21
