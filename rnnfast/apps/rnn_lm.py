"""An RNN language model with causal self-attention, trained with rnnfast alone (no autograd).

Model: token embedding (E) -> Elman RNN (tanh or relu, hidden D, rnnfast kernels) -> causal
scaled dot-product self-attention over the RNN outputs (W_q, W_k, W_v: D -> dk, dk, dv; W_o:
dv -> D), added to the RNN output -> linear head over the vocabulary. Training: next-token
cross-entropy (the last position has no target), Adam, counted in sequences processed, with a
validation loss every tenth step. Generation runs the step functions incrementally.

    rnnfast train rnn-lm --train_data ../shared/data/pg1342.txt --val_data ../shared/data/pg1342.txt \\
        --metrics_out m.json --train_losses_out train.json --val_losses_out val.json \\
        --embed_dim 64 --hidden_dim 128 --dk 64 --dv 64 --num_sequences 20000 --batch_size 16

Data: a JSON list of stories (TinyStories format: strings, or objects with a "story"/"text"
field) or a plain text file (split into chunks; a Gutenberg header/licence is stripped). When the
same file is given as training and validation data, its last 10% is held out for validation.
Tokenizer: a byte-level BPE trained with the ``tokenizers`` package on the training text, or a
given ``tokenizer.json`` (``--tokenizer``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List, Optional

import numpy as np

from .. import functional as F
from ..nn import CrossEntropyLoss, Embedding, Linear, Module, Parameter
from ..nn.attention import CausalSelfAttention


# ------------------------------------------------------------------------------------------ model
class RNNLayer(Module):
    """Elman RNN layer (torch parameter names) with ``forward`` over (T, B, E), ``backward``, and
    ``step`` for one time step."""

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", dtype=np.float32, seed=None):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        rng = np.random.default_rng(seed)
        k = 1 / math.sqrt(hidden_size)
        u = lambda *s: Parameter(rng.uniform(-k, k, s).astype(dtype))  # noqa: E731
        self.weight_ih, self.weight_hh = u(hidden_size, input_size), u(hidden_size, hidden_size)
        self.bias_ih, self.bias_hh = u(hidden_size), u(hidden_size)
        self._cache = None

    def _w(self):
        return self.weight_ih.data, self.weight_hh.data, self.bias_ih.data, self.bias_hh.data

    def forward(self, x, h0=None):
        y, h_n, self._cache = F.rnn_forward(x, h0, *self._w(), nonlinearity=self.nonlinearity)
        return y, h_n

    def backward(self, dy):
        g = F.rnn_backward(dy, None, self._cache)
        for p, d in ((self.weight_ih, g.dw_ih), (self.weight_hh, g.dw_hh), (self.bias_ih, g.db_ih),
                     (self.bias_hh, g.db_hh)):
            p.accumulate(d)
        return g.dx

    def step(self, x_t, h):
        h_new, _ = F.rnn_cell_forward(x_t, h, *self._w(), nonlinearity=self.nonlinearity)
        return h_new


class RNNLanguageModel(Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, dk, dv, nonlinearity="tanh", dtype=np.float32, seed=0):
        super().__init__()
        ss = np.random.SeedSequence(seed).spawn(4)
        self.embedding = Embedding(vocab_size, embed_dim, dtype=dtype, seed=ss[0])
        self.rnn = RNNLayer(embed_dim, hidden_dim, nonlinearity, dtype, seed=ss[1])
        self.attention = CausalSelfAttention(hidden_dim, dk, dv, dtype, seed=ss[2])
        self.head = Linear(hidden_dim, vocab_size, dtype=dtype, seed=ss[3])
        self.vocab_size = vocab_size
        self.criterion = CrossEntropyLoss()

    def forward(self, tokens):
        """tokens (B, T) ints -> logits (B, T, V)."""
        x = self.embedding(np.ascontiguousarray(np.asarray(tokens).T))      # (T, B, E)
        h, _ = self.rnn(x)
        z = h + self.attention(h)
        return np.ascontiguousarray(self.head(z).transpose(1, 0, 2))

    def backward(self, dlogits):
        dz = self.head.backward(np.ascontiguousarray(dlogits.transpose(1, 0, 2)))
        dh = dz + self.attention.backward(dz)
        self.embedding.backward(self.rnn.backward(dh))

    def loss(self, tokens):
        """Mean next-token cross-entropy of tokens (B, T); the last position has no target."""
        logits = self.forward(tokens)
        B, T, V = logits.shape
        return float(self.criterion(logits[:, :-1].reshape(-1, V), np.asarray(tokens)[:, 1:].reshape(-1)))

    def loss_and_backward(self, tokens) -> float:
        loss = self.loss(tokens)
        B, T = np.shape(tokens)
        d = np.zeros((B, T, self.vocab_size), self.head.dtype)
        d[:, :-1] = self.criterion.backward().reshape(B, T - 1, -1)
        self.backward(d)
        return loss

    # ------------------------------------------------------------------------- generation
    def step(self, token, state):
        """One token per row (B,) -> next-token logits (B, V); ``state`` (a dict, {} to start)
        holds the RNN state and the attention's keys and values."""
        x = self.embedding.weight.data[np.asarray(token)]
        h = self.rnn.step(x, state.get("h"))
        state["h"] = h
        z = h + self.attention.step(h, state.setdefault("attn", {}))
        return z @ self.head.weight.data.T + self.head.bias.data

    @staticmethod
    def select_token(logits, temperature: float = 0.0, rng=None) -> int:
        """Greedy (temperature 0) or sampling from softmax(logits / temperature)."""
        logits = np.asarray(logits, np.float64)
        if temperature <= 0:
            return int(np.argmax(logits))
        z = logits / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        rng = rng if rng is not None else np.random.default_rng()
        return int(rng.choice(len(p), p=p))

    def generate(self, prefix: List[int], max_tokens: int, temperature: float = 0.0, seed=None) -> List[int]:
        """Continue ``prefix`` (token ids) by ``max_tokens`` tokens, one step at a time."""
        if not prefix:
            raise ValueError("prefix must contain at least one token")
        rng = np.random.default_rng(seed)
        state, logits = {}, None
        for t in prefix:
            logits = self.step(np.array([t]), state)[0]
        out = []
        for _ in range(max_tokens):
            nxt = self.select_token(logits, temperature, rng)
            out.append(nxt)
            logits = self.step(np.array([nxt]), state)[0]
        return out


# ------------------------------------------------------------------------------------------ data
def read_texts(path: str) -> List[str]:
    """A JSON list of stories, or a plain text file (Gutenberg header/licence stripped)."""
    with open(path, encoding="utf-8-sig") as f:
        raw = f.read()
    if path.endswith(".json"):
        items = json.loads(raw)
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list of stories")
        return [s if isinstance(s, str) else (s.get("story") or s.get("text") or "") for s in items]
    from .word_lm import strip_gutenberg

    return [strip_gutenberg(raw)]


def make_tokenizer(texts: List[str], path: Optional[str], vocab_size: int):
    from tokenizers import ByteLevelBPETokenizer, Tokenizer

    if path:
        return Tokenizer.from_file(path)
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, show_progress=False)
    return tok


def encode(tok, texts: List[str]) -> np.ndarray:
    return np.concatenate([np.array(e.ids, np.int64) for e in tok.encode_batch(texts)] or [np.zeros(0, np.int64)])


def sample_batch(ids: np.ndarray, batch: int, seq_len: int, rng) -> np.ndarray:
    starts = rng.integers(0, len(ids) - seq_len, batch)
    return np.stack([ids[s:s + seq_len] for s in starts])


# ------------------------------------------------------------------------------------------ driver
def train(args) -> dict:
    from .. import optim

    rng = np.random.default_rng(args.seed)
    tr_texts = read_texts(args.train_data)
    same = os.path.abspath(args.train_data) == os.path.abspath(args.val_data)
    if same:  # hold out the last 10% of the text
        joined = "\n".join(tr_texts)
        cut = int(len(joined) * 0.9)
        tr_texts, va_texts = [joined[:cut]], [joined[cut:]]
    else:
        va_texts = read_texts(args.val_data)
    tok = make_tokenizer(tr_texts, args.tokenizer, args.vocab_size)
    tr_ids, va_ids = encode(tok, tr_texts), encode(tok, va_texts)
    if min(len(tr_ids), len(va_ids)) <= args.seq_len:
        raise ValueError(f"not enough tokens for --seq_len {args.seq_len}: {len(tr_ids)} train, {len(va_ids)} val")
    V = tok.get_vocab_size()
    model = RNNLanguageModel(V, args.embed_dim, args.hidden_dim, args.dk, args.dv, args.nonlinearity, seed=args.seed)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    val_batches = [sample_batch(va_ids, args.batch_size, args.seq_len, np.random.default_rng(args.seed + k))
                   for k in range(4)]
    steps = max(1, args.num_sequences // args.batch_size)
    train_losses, val_losses = [], []
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=steps * args.batch_size, unit="seq", desc="rnn-lm")
        except ImportError:
            pass
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        for p in model.parameters():
            p.grad = None
        loss = model.loss_and_backward(sample_batch(tr_ids, args.batch_size, args.seq_len, rng))
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen = step * args.batch_size
        train_losses.append({"sequences": seen, "loss": loss})
        if step % 10 == 0 or step == steps:
            vl = float(np.mean([model.loss(b) for b in val_batches]))
            val_losses.append({"sequences": seen, "loss": vl})
        if bar:
            bar.update(args.batch_size)
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{val_losses[-1]['loss']:.3f}" if val_losses else "-")
    if bar:
        bar.close()
    secs = time.perf_counter() - t0
    prompt = "Once upon a time there was a"
    pids = tok.encode(prompt).ids
    completions = {str(t): prompt + tok.decode(model.generate(pids, 30, t, seed=args.seed)) for t in (0.0, 0.3, 0.8)}
    metrics = {"final_train_loss": float(np.mean([r["loss"] for r in train_losses[-10:]])),
               "final_val_loss": val_losses[-1]["loss"], "final_val_perplexity": math.exp(val_losses[-1]["loss"]),
               "vocab_size": V, "train_tokens": int(len(tr_ids)), "val_tokens": int(len(va_ids)),
               "sequences": steps * args.batch_size, "seconds": secs, "completions": completions,
               "args": {k: v for k, v in vars(args).items() if k != "func"}}
    for path, obj in ((args.metrics_out, metrics), (args.train_losses_out, train_losses),
                      (args.val_losses_out, val_losses)):
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            for name, rows in (("train", train_losses), ("val", val_losses)):
                fig, ax = plt.subplots(figsize=(6, 4))
                ax.plot([r["sequences"] for r in rows], [r["loss"] for r in rows])
                ax.set_xlabel("sequences seen")
                ax.set_ylabel(f"{name} loss")
                fig.tight_layout()
                fig.savefig(os.path.splitext(args.plot)[0] + f"_{name}.png", dpi=100)
                plt.close(fig)
        except ImportError:
            pass
    print(f"rnn-lm: {steps * args.batch_size} sequences in {secs:.0f} s; train loss {metrics['final_train_loss']:.3f}, "
          f"val loss {metrics['final_val_loss']:.3f} (perplexity {metrics['final_val_perplexity']:.1f})")
    for t, c in completions.items():
        print(f"temperature {t}: {c!r}")
    return metrics


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for name in ("train_data", "val_data", "metrics_out", "train_losses_out", "val_losses_out"):
        p.add_argument(f"--{name}", required=True)
    for name, v in (("embed_dim", 64), ("hidden_dim", 128), ("dk", 64), ("dv", 64), ("num_sequences", 10000),
                    ("batch_size", 16), ("seq_len", 64), ("vocab_size", 2000), ("seed", 0), ("threads", 2)):
        p.add_argument(f"--{name}", type=int, default=v)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh")
    p.add_argument("--tokenizer", default=None, help="a tokenizer.json to use instead of training a byte-level BPE")
    p.add_argument("--plot", default=None, help="PNG path prefix for the loss plots (<prefix>_train.png, _val.png)")
    p.add_argument("--backend", choices=("cpp", "numba", "numpy"), default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)
    return p


def register(subparsers, name: str = "rnn-lm"):
    return configure(subparsers.add_parser(name, help="RNN language model with self-attention (BPE tokens)",
                                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


def run(args) -> int:
    import rnnfast

    for k in ("embed_dim", "hidden_dim", "dk", "dv", "num_sequences", "batch_size", "seq_len", "threads"):
        if getattr(args, k) < 1:
            print(f"rnnfast train rnn-lm: --{k} must be >= 1", file=sys.stderr)
            return 2
    for k in ("train_data", "val_data"):
        if not os.path.isfile(getattr(args, k)):
            print(f"rnnfast train rnn-lm: --{k}: no such file {getattr(args, k)}", file=sys.stderr)
            return 2
    if args.backend:
        rnnfast.set_backend(args.backend)
    rnnfast.set_num_threads(args.threads)
    train(args)
    return 0


def main(argv=None) -> int:
    p = configure(argparse.ArgumentParser(prog="python -m rnnfast.apps.rnn_lm", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
