"""Word-level language models on public-domain novels, trained with rnnfast alone (no autograd).

Tokens are lower-cased words plus punctuation (the Project Gutenberg header and licence are
stripped); the vocabulary comes from the first 90% of the tokens (the training part) and the
last 10% are the validation part (words unseen in training become ``<unk>``). The model is an
embedding, a 2-layer LSTM or GRU on rnnfast's kernels, and a softmax whose weight is tied to the
embedding; dropout on the embedding, between the layers and on the output; truncated
backpropagation through time carrying the state across batches; Adam and gradient clipping;
the learning rate halved after an epoch without a new best validation perplexity (``--lr-decay``).
Initialisation as PyTorch's modules: embedding (= tied decoder) N(0, 1) as ``torch.nn.Embedding``,
LSTM/GRU uniform in +-1/sqrt(H), decoder bias zero (``--embed-init uniform``: U(-0.1, 0.1), which
trained worse: A Tale of Two Cities at 168 after 4 epochs against 158 with N(0, 1); docs/results.md).
Words of the validation part never seen in training are ``<unk>``; for the model to give them a
sensible probability it must see ``<unk>`` in training: half of the training singletons are shown as
``<unk>`` in the training stream (``--unk-singletons``; the vocabulary and the validation part are
unchanged, so perplexities stay comparable). Without it, the 2.6% ``<unk>`` targets of A Tale of Two
Cities' validation part cost ~13 nats each, +0.34 nats per token (perplexity x1.4).
Validation perplexity after every epoch, best checkpoint saved, samples at the end.

    rnnfast train word-lm --data sample --epochs 2 --hidden 64 --out runs/word-lm-sample   # bundled sample, a minute
    rnnfast train word-lm --data pg1342.txt --epochs 12 --out runs/word-lm-pp               # a novel, hours

``--data`` is a UTF-8 text file, e.g. a Project Gutenberg book (Pride and Prejudice:
https://www.gutenberg.org/cache/epub/1342/pg1342.txt), or ``sample`` for the few paragraphs
bundled with rnnfast (a demo: too little text to learn much).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from ..nn.layers import blas_matmul, scatter_add_rows_
from ..nn.loss import softmax_cross_entropy_
from ._cli import UserError, call, need_torch, select_backend, text_path

UNK = "<unk>"
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[0-9]+|[^\sa-z0-9]")


# ------------------------------------------------------------------------------------------ data
def strip_gutenberg(text: str) -> str:
    """The book between the ``*** START OF ...`` and ``*** END OF ...`` lines (all of it if absent)."""
    start = re.search(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", text, re.M)
    end = re.search(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", text, re.M)
    return text[start.end() if start else 0:end.start() if end else len(text)]


def tokenize(text: str) -> List[str]:
    """Lower-cased words (with inner apostrophes) and single punctuation characters."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'").replace("\u2018", "'"))


@dataclass
class Corpus:
    vocab: List[str]
    train: np.ndarray  # token ids
    valid: np.ndarray

    @property
    def index(self) -> dict:
        return {w: i for i, w in enumerate(self.vocab)}


def load_corpus(path: str, valid_fraction: float = 0.1, min_count: int = 1) -> Corpus:
    """Tokens of a text file (Gutenberg header/licence stripped), split train/validation, with the
    vocabulary of the training part (most frequent first) plus ``<unk>`` at index 0.

    Words seen fewer than ``min_count`` times in the training part are ``<unk>`` in both parts
    (``min_count=1``: the full training vocabulary; then ``<unk>`` occurs only in the validation
    part, and a model never sees it as a training target)."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    with open(path, encoding="utf-8-sig") as f:
        toks = tokenize(strip_gutenberg(f.read()))
    if len(toks) < 100:
        raise ValueError(f"{path}: only {len(toks)} tokens; need a real text")
    n_val = max(1, int(round(len(toks) * valid_fraction)))
    tr, va = toks[:-n_val], toks[-n_val:]
    counts = Counter(tr)
    vocab = [UNK] + [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    idx = {w: i for i, w in enumerate(vocab)}
    enc = lambda ts: np.array([idx.get(t, 0) for t in ts], np.int64)  # noqa: E731
    return Corpus(vocab, enc(tr), enc(va))


def unk_singletons(ids: np.ndarray, rate: float, seed: int = 0) -> np.ndarray:
    """A copy of the training stream ``ids`` where a ``rate`` share of the words that occur once
    (chosen with ``seed``) is replaced by ``<unk>`` (id 0), so that the model learns to predict
    ``<unk>``, the validation part's unseen words. The vocabulary and the validation part do not
    change; the share of singletons is Good-Turing's estimate of the unseen words' probability."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    counts = np.bincount(ids)
    single = np.flatnonzero(counts[ids] == 1)
    pick = np.random.default_rng(seed).random(len(single)) < rate
    out = ids.copy()
    out[single[pick]] = 0
    return out


def batchify(ids: np.ndarray, batch: int) -> np.ndarray:
    """(N,) -> (N // batch, batch): ``batch`` contiguous streams, one per column."""
    n = len(ids) // batch
    return np.ascontiguousarray(ids[:n * batch].reshape(batch, n).T)


# ------------------------------------------------------------------------------------------ model
@dataclass
class Config:
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.4
    lr: float = 2e-3
    clip: float = 0.25
    bptt: int = 35
    batch_size: int = 20
    epochs: int = 12
    dtype: str = "float32"
    min_count: int = 1           # training words seen fewer times become <unk>
    unk_singletons: float = 0.5  # share of the training singletons shown as <unk> in the training stream
    embed_init: str = "normal"   # "normal": N(0, 1) as torch.nn.Embedding; "uniform": U(-0.1, 0.1)
    lr_decay: float = 0.5        # multiply the learning rate by this after an epoch without improvement
    weight_decay: float = 0.0    # Adam's L2 weight decay (torch.optim.Adam's weight_decay)


class WordLM:
    """Embedding (V, H) -> dropout -> rnnfast.nn.LSTM/GRU (layers, dropout between) -> dropout ->
    tied decoder: logits = h E^T + b. ``forward``/``backward`` on (T, B) id arrays; every
    parameter's gradient accumulates into ``p.grad``."""

    def __init__(self, vocab_size: int, cfg: Config, seed: int = 0):
        from .. import nn

        self.cfg = cfg
        self.V, self.H = vocab_size, cfg.hidden
        dt = np.dtype(cfg.dtype)
        self.rng = np.random.default_rng(seed)
        if cfg.embed_init == "normal":  # torch.nn.Embedding's default
            emb = self.rng.standard_normal((vocab_size, cfg.hidden))
        elif cfg.embed_init == "uniform":
            emb = self.rng.uniform(-0.1, 0.1, (vocab_size, cfg.hidden))
        else:
            raise ValueError(f"embed_init must be 'normal' or 'uniform', got {cfg.embed_init!r}")
        self.embedding = nn.Parameter(emb.astype(dt))
        self.decoder_bias = nn.Parameter(np.zeros(vocab_size, dt))
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cfg.cell]
        self.rnn = rnn_cls(cfg.hidden, cfg.hidden, num_layers=cfg.layers, dropout=cfg.dropout, dtype=dt,
                           seed=int(self.rng.integers(2 ** 31)))
        self.training = True
        self._cache = None

    def named_parameters(self):
        yield "embedding.weight", self.embedding
        yield from (("rnn." + n, p) for n, p in self.rnn.named_parameters())
        yield "decoder.bias", self.decoder_bias

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def state_dict(self):
        return {n: p.data.copy() for n, p in self.named_parameters()}

    def train(self, mode: bool = True):
        self.training = mode
        self.rnn.train(mode)

    def _mask(self, shape):
        p = self.cfg.dropout
        if not self.training or p == 0:
            return None
        keep = 1.0 - p
        return (self.rng.random(shape) < keep).astype(self.embedding.data.dtype) / np.float32(keep)

    def init_state(self, batch: int):
        z = np.zeros((self.cfg.layers, batch, self.H), self.embedding.data.dtype)
        return (z, z.copy()) if self.cfg.cell == "lstm" else z

    def forward(self, ids: np.ndarray, state):
        """ids (T, B) -> logits (T*B, V), new state (detached: no gradient flows into it later)."""
        E = self.embedding.data
        x = E[ids]                                      # (T, B, H)
        m_in = self._mask(x.shape)
        if m_in is not None:
            x = x * m_in
        if self.cfg.cell == "lstm":
            y, state = self.rnn(x, state)
        else:
            y, state = self.rnn(x, state)
        m_out = self._mask(y.shape)
        if m_out is not None:
            y = y * m_out
        h = y.reshape(-1, self.H)
        logits = blas_matmul(h, E.T)                   # tied softmax, on the kernels' BLAS pool
        logits += self.decoder_bias.data
        self._cache = (ids, m_in, m_out, h)
        return logits, state

    def backward(self, dlogits: np.ndarray) -> None:
        ids, m_in, m_out, h = self._cache
        E = self.embedding.data
        T, B = ids.shape
        self.decoder_bias.accumulate(dlogits.sum(0))
        dE = blas_matmul(dlogits.T, h)                   # decoder's use of E
        dy = blas_matmul(dlogits, E).reshape(T, B, self.H)
        if m_out is not None:
            dy *= m_out
        if self.cfg.cell == "lstm":
            dx, _ = self.rnn.backward(dy, None)
        else:
            dx, _ = self.rnn.backward(dy, None)
        if m_in is not None:
            dx *= m_in
        scatter_add_rows_(dE, ids, dx)                   # embedding lookup's use of E
        self.embedding.accumulate(dE)


def cross_entropy(logits: np.ndarray, targets: np.ndarray):
    """Mean next-token cross-entropy and its gradient w.r.t. the logits (N, V) (``logits`` is
    kept; the training step uses :func:`rnnfast.nn.loss.softmax_cross_entropy_`, which overwrites it)."""
    return softmax_cross_entropy_(np.array(logits, order="C"), targets)


def _detach(state):
    return tuple(s.copy() for s in state) if isinstance(state, tuple) else state.copy()


def evaluate(model: WordLM, data: np.ndarray, bptt: int) -> float:
    """Perplexity over a batchified (N, B) id array, state carried across chunks."""
    model.train(False)
    state = model.init_state(data.shape[1])
    tot, n = 0.0, 0
    for i in range(0, data.shape[0] - 1, bptt):
        seq = min(bptt, data.shape[0] - 1 - i)
        logits, state = model.forward(data[i:i + seq], state)
        loss, _ = softmax_cross_entropy_(logits, data[i + 1:i + 1 + seq].reshape(-1))
        tot += loss * seq * data.shape[1]
        n += seq * data.shape[1]
    model.train(True)
    return math.exp(tot / n)


def unk_breakdown(model: WordLM, data: np.ndarray, bptt: int) -> dict:
    """Where the validation loss comes from: the share of ``<unk>`` targets, their mean loss and the
    rest's, and the perplexity over the non-``<unk>`` targets alone."""
    model.train(False)
    state = model.init_state(data.shape[1])
    losses, targets = [], []
    for i in range(0, data.shape[0] - 1, bptt):
        seq = min(bptt, data.shape[0] - 1 - i)
        logits, state = model.forward(data[i:i + seq], state)
        t = data[i + 1:i + 1 + seq].reshape(-1)
        z = logits.astype(np.float64)
        z -= z.max(1, keepdims=True)
        losses.append(np.log(np.exp(z).sum(1)) - z[np.arange(len(t)), t])
        targets.append(t)
    model.train(True)
    loss, t = np.concatenate(losses), np.concatenate(targets)
    unk = t == 0
    return {"unk_share": float(unk.mean()), "unk_mean_loss": float(loss[unk].mean()) if unk.any() else None,
            "other_mean_loss": float(loss[~unk].mean()), "ppl_without_unk_targets": math.exp(loss[~unk].mean()),
            "unk_nats_per_token": float(loss[unk].sum() / len(loss))}


def train_epoch(model: WordLM, data: np.ndarray, opt, cfg: Config, progress=None) -> float:
    from .. import optim

    state = model.init_state(data.shape[1])
    tot, n = 0.0, 0
    for i in range(0, data.shape[0] - 1, cfg.bptt):
        seq = min(cfg.bptt, data.shape[0] - 1 - i)
        state = _detach(state)
        for p in model.parameters():
            p.grad = None
        logits, state = model.forward(data[i:i + seq], state)
        loss, d = softmax_cross_entropy_(logits, data[i + 1:i + 1 + seq].reshape(-1))  # d is logits
        model.backward(d)
        if cfg.clip:
            optim.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        tot += loss * seq
        n += seq
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.3f}")
    return tot / n


def sample(model: WordLM, vocab: List[str], n: int = 40, temperature: float = 0.8, seed: int = 0,
           prompt: Optional[List[int]] = None) -> str:
    """Generate ``n`` tokens (starting from ``prompt`` ids or a random token); ``<unk>`` is never
    generated."""
    rng = np.random.default_rng(seed)
    model.train(False)
    state = model.init_state(1)
    ids = list(prompt) if prompt else [int(rng.integers(1, len(vocab)))]
    logits, state = model.forward(np.array(ids, np.int64)[:, None], state)
    out = []
    for _ in range(n):
        z = logits[-1].astype(np.float64) / max(temperature, 1e-6)
        z[0] = -np.inf                                # never generate <unk>
        p = np.exp(z - z.max())
        p /= p.sum()
        nxt = int(rng.choice(len(p), p=p)) if temperature > 0 else int(p.argmax())
        out.append(nxt)
        logits, state = model.forward(np.array([[nxt]], np.int64), state)
    model.train(True)
    words = [vocab[i] for i in (ids + out)]
    return re.sub(r" ([.,;:!?'\")])", r"\1", " ".join(words))


# ------------------------------------------------------------------------------------------ torch
def torch_word_lm(model: WordLM, cfg: Config):
    """The same network in PyTorch (nn.Embedding, dropout, nn.LSTM/GRU with dropout between layers,
    dropout, nn.Linear with its weight tied to the embedding) holding a copy of ``model``'s weights.
    ``forward(ids (T, B), state) -> (logits (T*B, V), state)``."""
    import torch

    dt = getattr(torch, cfg.dtype)
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cfg.cell]

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(model.V, model.H, dtype=dt)
            self.drop = torch.nn.Dropout(cfg.dropout)
            self.rnn = rnn_cls(model.H, model.H, cfg.layers, dropout=cfg.dropout, dtype=dt)
            self.dec = torch.nn.Linear(model.H, model.V, dtype=dt)
            self.dec.weight = self.emb.weight

        def forward(self, x, h):
            y, h = self.rnn(self.drop(self.emb(x)), h)
            return self.dec(self.drop(y)).view(-1, model.V), h

    tm = TorchLM()
    with torch.no_grad():
        tm.emb.weight.copy_(torch.from_numpy(model.embedding.data))
        tm.dec.bias.copy_(torch.from_numpy(model.decoder_bias.data))
        for n, p in model.rnn.named_parameters():
            getattr(tm.rnn, n).copy_(torch.from_numpy(p.data))
    return tm


def run_torch_training(data_path: str, cfg: Config, seed: int = 0, threads: int = 2, out: Optional[str] = None,
                       epochs: Optional[int] = None) -> dict:
    """Train the PyTorch twin (:func:`torch_word_lm`) with this app's pipeline: same corpus, batches,
    initial weights (rnnfast's initialisation, same seed), truncated BPTT with the state carried,
    clipping, Adam, plateau decay and validation; returns (and writes ``results_torch.json``) its
    validation perplexity per epoch. The reference that rnnfast's training is checked against."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    corpus = load_corpus(data_path, min_count=cfg.min_count)
    train = batchify(unk_singletons(corpus.train, cfg.unk_singletons, seed), cfg.batch_size)
    valid = batchify(corpus.valid, 10)
    tm = torch_word_lm(WordLM(len(corpus.vocab), cfg, seed), cfg)
    opt = torch.optim.Adam(tm.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    dt = getattr(torch, cfg.dtype)

    def zero(B):
        z = torch.zeros(cfg.layers, B, cfg.hidden, dtype=dt)
        return (z, z.clone()) if cfg.cell == "lstm" else z

    def detach(h):
        return tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()

    hist = {"epoch": [], "train_loss": [], "valid_ppl": [], "epoch_s": [], "lr": []}
    best = math.inf
    for ep in range(1, (epochs or cfg.epochs) + 1):
        tm.train()
        h, tot, n = zero(train.shape[1]), 0.0, 0
        t0 = time.perf_counter()
        for i in range(0, train.shape[0] - 1, cfg.bptt):
            seq = min(cfg.bptt, train.shape[0] - 1 - i)
            opt.zero_grad()
            logits, h = tm(torch.from_numpy(train[i:i + seq]), detach(h))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(train[i + 1:i + 1 + seq].reshape(-1)))
            loss.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(tm.parameters(), cfg.clip)
            opt.step()
            tot += loss.item() * seq
            n += seq
        secs = time.perf_counter() - t0
        tm.eval()
        h, vt, vn = zero(valid.shape[1]), 0.0, 0
        with torch.no_grad():
            for i in range(0, valid.shape[0] - 1, cfg.bptt):
                seq = min(cfg.bptt, valid.shape[0] - 1 - i)
                logits, h = tm(torch.from_numpy(valid[i:i + seq]), h)
                vt += torch.nn.functional.cross_entropy(
                    logits, torch.from_numpy(valid[i + 1:i + 1 + seq].reshape(-1))).item() * seq * valid.shape[1]
                vn += seq * valid.shape[1]
        ppl = math.exp(vt / vn)
        lr = opt.param_groups[0]["lr"]
        for k, v in (("epoch", ep), ("train_loss", tot / n), ("valid_ppl", ppl), ("epoch_s", secs), ("lr", lr)):
            hist[k].append(v)
        print(f"PyTorch epoch {ep:2d}  train loss {tot / n:.3f}  valid ppl {ppl:7.1f}  lr {lr:.2e}  {secs:6.1f} s",
              flush=True)
        if ppl >= best and cfg.lr_decay < 1:
            for g in opt.param_groups:
                g["lr"] *= cfg.lr_decay
        best = min(best, ppl)
    res = {"data": os.path.abspath(data_path), "config": asdict(cfg), "seed": seed, "threads": threads,
           "vocab": len(corpus.vocab), "history": hist, "best_valid_ppl": best}
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results_torch.json"), "w") as f:
            json.dump(res, f, indent=1)
    return res


def compare_epoch_time(model: WordLM, data: np.ndarray, cfg: Config, threads: int, batches: int = 10,
                       rounds: int = 3) -> dict:
    """Seconds per training epoch of rnnfast and of the same model in PyTorch (weights copied from
    ``model``; same batches, dropout, clipping and Adam; ``threads`` threads each), measured
    interleaved: ``rounds`` times ``batches`` consecutive batches of ours then of PyTorch's, each
    scaled to the epoch's batch count; medians over the rounds. ``model`` itself is not changed."""
    import torch

    from .. import optim

    torch.set_num_threads(threads)
    tm = torch_word_lm(model, cfg)
    topt = torch.optim.Adam(tm.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ours = WordLM(model.V, cfg, seed=1)  # a twin with model's weights (the dropout masks' rng is its own)
    for q, p in zip(ours.parameters(), model.parameters()):
        q.data[...] = p.data
    opt = optim.Adam(ours.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    B = data.shape[1]
    starts = list(range(0, data.shape[0] - 1, cfg.bptt))
    z = torch.zeros(cfg.layers, B, model.H, dtype=getattr(torch, cfg.dtype))
    th = [(z, z.clone()) if cfg.cell == "lstm" else z]
    oh = [ours.init_state(B)]

    def run_ours(chunk):
        for i in chunk:
            seq = min(cfg.bptt, data.shape[0] - 1 - i)
            for p in ours.parameters():
                p.grad = None
            logits, oh[0] = ours.forward(data[i:i + seq], _detach(oh[0]))
            _, d = softmax_cross_entropy_(logits, data[i + 1:i + 1 + seq].reshape(-1))
            ours.backward(d)
            if cfg.clip:
                optim.clip_grad_norm_(ours.parameters(), cfg.clip)
            opt.step()

    def run_torch(chunk):
        for i in chunk:
            seq = min(cfg.bptt, data.shape[0] - 1 - i)
            h = th[0]
            h = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
            topt.zero_grad()
            out, th[0] = tm(torch.from_numpy(data[i:i + seq]), h)
            loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(data[i + 1:i + 1 + seq].reshape(-1)))
            loss.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(tm.parameters(), cfg.clip)
            topt.step()

    batches = max(1, min(batches, len(starts) // (rounds + 1)))
    run_ours(starts[:2])   # warm-up
    run_torch(starts[:2])
    t_ours, t_torch = [], []
    for r in range(rounds):
        chunk = starts[(r + 1) * batches:(r + 2) * batches]
        t0 = time.perf_counter()
        run_ours(chunk)
        t_ours.append((time.perf_counter() - t0) / len(chunk) * len(starts))
        t0 = time.perf_counter()
        run_torch(chunk)
        t_torch.append((time.perf_counter() - t0) / len(chunk) * len(starts))
    res = {"rnnfast_epoch_s": float(np.median(t_ours)), "torch_epoch_s": float(np.median(t_torch)),
           "batches_timed": batches, "rounds": rounds, "threads": threads}
    res["torch_over_rnnfast"] = res["torch_epoch_s"] / res["rnnfast_epoch_s"]
    return res


# ------------------------------------------------------------------------------------------ driver
def run_training(data_path: str, cfg: Config, seed: int = 0, out: Optional[str] = None, progress: bool = True,
                 compare_torch: bool = False, threads: int = 2) -> dict:
    from .. import optim, serialization

    corpus = load_corpus(data_path, min_count=cfg.min_count)
    train = batchify(unk_singletons(corpus.train, cfg.unk_singletons, seed), cfg.batch_size)
    valid = batchify(corpus.valid, 10)
    model = WordLM(len(corpus.vocab), cfg, seed)
    opt = optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = len(range(0, train.shape[0] - 1, cfg.bptt))
    print(f"word-lm: {os.path.basename(data_path)}: {len(corpus.train)} training / {len(corpus.valid)} validation "
          f"tokens, vocabulary {len(corpus.vocab)}; {cfg.layers}-layer {cfg.cell.upper()} hidden {cfg.hidden}, "
          f"tied softmax, {cfg.embed_init} embedding init, min count {cfg.min_count}, <unk> singletons "
          f"{cfg.unk_singletons}, dropout {cfg.dropout}, Adam {cfg.lr} (weight decay "
          f"{cfg.weight_decay}, decay {cfg.lr_decay} on plateau), clip {cfg.clip}, BPTT {cfg.bptt}, batch "
          f"{cfg.batch_size}, {cfg.dtype}")
    history = {"epoch": [], "train_loss": [], "valid_ppl": [], "epoch_s": [], "lr": []}
    best = math.inf
    ckpt = os.path.join(out, "best.npz") if out else None
    if ckpt and os.path.exists(ckpt):  # a previous run's checkpoint is kept, renamed
        os.replace(ckpt, ckpt + time.strftime(".%Y%m%d-%H%M%S.bak"))
    bar_cls = None
    if progress:
        try:
            from tqdm import tqdm as bar_cls
        except ImportError:
            bar_cls = None
    for ep in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        bar = bar_cls(total=n_batches, desc=f"epoch {ep}", leave=False) if bar_cls else None
        tl = train_epoch(model, train, opt, cfg, bar)
        if bar:
            bar.close()
        secs = time.perf_counter() - t0
        ppl = evaluate(model, valid, cfg.bptt)
        history["epoch"].append(ep)
        history["train_loss"].append(tl)
        history["valid_ppl"].append(ppl)
        history["epoch_s"].append(secs)
        lr = opt.param_groups[0]["lr"]
        history["lr"].append(lr)
        print(f"epoch {ep:2d}  train loss {tl:.3f} (ppl {math.exp(tl):7.1f})  valid ppl {ppl:7.1f}  lr {lr:.2e}  "
              f"{secs:6.1f} s", flush=True)
        if ckpt and ppl < best:  # this run's own file from an earlier epoch
            os.makedirs(out, exist_ok=True)
            serialization.save(model.state_dict(), ckpt, overwrite=True)
        if ppl >= best and cfg.lr_decay < 1:  # plateau: smaller steps from here on
            for g in opt.param_groups:
                g["lr"] *= cfg.lr_decay
        best = min(best, ppl)
    res = {"data": os.path.abspath(data_path), "config": asdict(cfg), "seed": seed, "vocab": len(corpus.vocab),
           "history": history, "best_valid_ppl": best,
           "unk_breakdown_last_epoch": unk_breakdown(model, valid, cfg.bptt),
           "median_epoch_s": float(np.median(history["epoch_s"])),
           "samples": {str(t): sample(model, corpus.vocab, 40, t, seed) for t in (0.0, 0.8)}}
    if compare_torch:
        res["speed"] = sp = compare_epoch_time(model, train, cfg, threads)
        print(f"time per epoch (interleaved, {sp['rounds']} x {sp['batches_timed']} batches each, {threads} "
              f"threads): rnnfast {sp['rnnfast_epoch_s']:.1f} s, PyTorch (same model) {sp['torch_epoch_s']:.1f} s "
              f"(PyTorch / rnnfast = {sp['torch_over_rnnfast']:.2f}); rnnfast's median training epoch "
              f"{res['median_epoch_s']:.1f} s")
    if out:
        write_results(res, out)
    return res


def write_results(res: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    h = res["history"]
    lines = ["| epoch | train loss | valid ppl | s/epoch |", "|---:|---:|---:|---:|"]
    lines += [f"| {e} | {l:.3f} | {p:.1f} | {s:.1f} |" for e, l, p, s in
              zip(h["epoch"], h["train_loss"], h["valid_ppl"], h["epoch_s"])]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"best validation perplexity {res['best_valid_ppl']:.1f}\n\n" + "\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        # markers: a one-epoch run is one point per curve, which a bare line would not show
        ax.plot(h["epoch"], [math.exp(x) for x in h["train_loss"]], "o-", ms=3, label="train")
        ax.plot(h["epoch"], h["valid_ppl"], "s-", ms=3, label="validation")
        if len(h["epoch"]) == 1:
            ax.set_xticks(h["epoch"])
        ax.set_xlabel("epoch")
        ax.set_ylabel("perplexity")
        ax.set_yscale("log")
        ax.legend()
        ax.set_title(os.path.basename(res["data"]))
        fig.tight_layout()
        fig.savefig(os.path.join(out, "perplexity.png"), dpi=100)
        plt.close(fig)
    except ImportError:
        pass


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = Config()
    p.add_argument("--data", required=True, help="a UTF-8 text file (e.g. a Project Gutenberg book), or 'sample' for "
                                                 "the bundled sample text")
    p.add_argument("--cell", choices=("lstm", "gru"), default=d.cell)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--clip", type=float, default=d.clip)
    p.add_argument("--bptt", type=int, default=d.bptt)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype)
    p.add_argument("--min-count", type=int, default=d.min_count,
                   help="words seen fewer times in the training part become <unk> (default %(default)s: the full "
                        "training vocabulary)")
    p.add_argument("--unk-singletons", type=float, default=d.unk_singletons,
                   help="share of the words seen once in training shown as <unk> in the training stream, so the "
                        "model learns to predict the validation part's unseen words (vocabulary and validation "
                        "unchanged; default %(default)s)")
    p.add_argument("--embed-init", choices=("normal", "uniform"), default=d.embed_init,
                   help="embedding (= tied decoder) initialisation: N(0, 1) as torch.nn.Embedding (default) or "
                        "U(-0.1, 0.1)")
    p.add_argument("--lr-decay", type=float, default=d.lr_decay,
                   help="multiply the learning rate by this after an epoch whose validation perplexity is not a new "
                        "best (default %(default)s; 1 = off)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="Adam's L2 weight decay")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", choices=("cpp", "numba", "numpy"), default=None)
    p.add_argument("--compare-torch", action="store_true",
                   help="also time training epochs of the same model in PyTorch, interleaved with ours")
    p.add_argument("--train-torch", action="store_true",
                   help="train the same model in PyTorch instead (same corpus, initial weights, batches, clipping, "
                        "Adam, schedule and validation), the reference rnnfast's training is checked against")
    p.add_argument("--speed-only", action="store_true",
                   help="no training: only time epochs of rnnfast and PyTorch (interleaved) from the initial weights")
    p.add_argument("--out", default=None, help="output folder (default runs/word-lm-<book>)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)
    return p


def register(subparsers, name: str = "word-lm"):
    p = subparsers.add_parser(name, help="word-level LSTM/GRU language model on a novel", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(p)


def run(args) -> int:
    import rnnfast

    cfg = Config(cell=args.cell, hidden=args.hidden, layers=args.layers, dropout=args.dropout, lr=args.lr,
                 clip=args.clip, bptt=args.bptt, batch_size=args.batch_size, epochs=args.epochs, dtype=args.dtype,
                 embed_init=args.embed_init, lr_decay=args.lr_decay, weight_decay=args.weight_decay,
                 min_count=args.min_count, unk_singletons=args.unk_singletons)
    if not 0 <= cfg.unk_singletons <= 1:
        print("rnnfast train word-lm: --unk-singletons must be in [0, 1]", file=sys.stderr)
        return 2
    if not 0 < cfg.lr_decay <= 1:
        print("rnnfast train word-lm: --lr-decay must be in (0, 1]", file=sys.stderr)
        return 2
    if cfg.weight_decay < 0:
        print("rnnfast train word-lm: --weight-decay must be >= 0", file=sys.stderr)
        return 2
    for k in ("hidden", "layers", "bptt", "batch_size", "epochs", "min_count"):
        if getattr(cfg, k) < 1:
            print(f"rnnfast train word-lm: --{k.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    args.data = text_path(args.data, "--data")
    select_backend(args.backend)
    if args.compare_torch or args.train_torch or args.speed_only:
        need_torch("--compare-torch" if args.compare_torch else "--train-torch" if args.train_torch else "--speed-only")
    try:
        load_corpus(args.data, min_count=cfg.min_count)  # a text too short for a model fails here, not mid-run
    except ValueError as e:
        raise UserError(f"--data: {e}") from None
    rnnfast.set_num_threads(args.threads)
    np.random.seed(args.seed)
    out = args.out or os.path.join("runs", "word-lm-" + os.path.splitext(os.path.basename(args.data))[0])
    if args.train_torch:
        res = run_torch_training(args.data, cfg, args.seed, args.threads, out)
        print(f"PyTorch: best validation perplexity {res['best_valid_ppl']:.1f}; in {out}/results_torch.json")
        return 0
    if args.speed_only:
        corpus = load_corpus(args.data, min_count=cfg.min_count)
        model = WordLM(len(corpus.vocab), cfg, args.seed)
        sp = compare_epoch_time(model, batchify(corpus.train, cfg.batch_size), cfg, args.threads)
        sp.update(data=os.path.abspath(args.data), config=asdict(cfg), vocab=len(corpus.vocab))
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "speed.json"), "w") as f:
            json.dump(sp, f, indent=1)
        print(f"time per epoch ({args.threads} threads, interleaved, {sp['rounds']} x {sp['batches_timed']} "
              f"batches each): rnnfast {sp['rnnfast_epoch_s']:.1f} s, PyTorch {sp['torch_epoch_s']:.1f} s "
              f"(PyTorch / rnnfast = {sp['torch_over_rnnfast']:.2f}); in {out}/speed.json")
        return 0
    res = run_training(args.data, cfg, args.seed, out, not args.no_progress, args.compare_torch, args.threads)
    print(f"best validation perplexity {res['best_valid_ppl']:.1f}; results in {out}")
    for t, s in res["samples"].items():
        print(f"sample (temperature {t}): {s}")
    return 0


def main(argv=None) -> int:
    p = configure(argparse.ArgumentParser(prog="python -m rnnfast.apps.word_lm", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter))
    return call(run, p.parse_args(argv), "python -m rnnfast.apps.word_lm")


if __name__ == "__main__":
    sys.exit(main())
