"""An RNN language model with causal self-attention, trained with rnnfast alone (no autograd).

Model: token embedding (E) -> Elman RNN (tanh or relu, hidden D, rnnfast kernels) -> causal
scaled dot-product self-attention over the RNN outputs (W_q, W_k, W_v: D -> dk, dk, dv; W_o:
dv -> D), added to the RNN output -> linear head over the vocabulary. Training: next-token
cross-entropy (the last position has no target), Adam, counted in sequences processed, with a
validation loss every tenth step. Generation runs the step functions incrementally.

    rnnfast train rnn-lm --train_data sample --val_data sample --metrics_out runs/rnn-lm/m.json \\
        --train_losses_out runs/rnn-lm/train.json --val_losses_out runs/rnn-lm/val.json \\
        --vocab_size 300 --seq_len 32 --num_sequences 320 --batch_size 16          # bundled sample, seconds
    rnnfast train rnn-lm --train_data pg1342.txt --val_data pg1342.txt ... \\
        --embed_dim 64 --hidden_dim 128 --dk 64 --dv 64 --num_sequences 20000 --batch_size 16

``sample`` is the few paragraphs of text bundled with rnnfast (a demo); for a real run give a
text file, e.g. a Project Gutenberg book (https://www.gutenberg.org/cache/epub/1342/pg1342.txt).

Data: a JSON list of stories (TinyStories format: strings, or objects with a "story"/"text"
field) or a plain text file (split into chunks; a Gutenberg header/licence is stripped). When the
same file is given as training and validation data, its last 10% is held out for validation.
Tokenizer: a byte-level BPE trained with the ``tokenizers`` package on the training text, or a
given ``tokenizer.json`` (``--tokenizer``).

``--compare-torch`` also trains the same model in PyTorch (:func:`torch_model`: same initial weights,
batches, clipping and Adam), interleaved step by step; both loss curves go to the metrics file and
the plots (with ``--dtype float64`` the losses agree to ~1e-10 relative).
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

from ._cli import UserError, call, need, need_torch, positive, select_backend, text_path

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


# ------------------------------------------------------------------------------------------ torch
def torch_model(model: RNNLanguageModel):
    """The same network in PyTorch (``torch.nn.Embedding``, ``torch.nn.RNN``, the attention written
    with torch ops, ``torch.nn.Linear``) holding a copy of ``model``'s current weights, in its dtype.
    Maps (B, T) int64 token tensors to (B, T, V) logits; its ``named_parameters`` use the same
    names as ``model``'s."""
    import torch

    dt = torch.float64 if model.head.weight.data.dtype == np.float64 else torch.float32
    V, E = model.embedding.weight.data.shape
    D = model.rnn.weight_hh.data.shape[0]
    att = model.attention

    class TorchRNNLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, E, dtype=dt)
            self.rnn = torch.nn.RNN(E, D, nonlinearity=model.rnn.nonlinearity, dtype=dt)
            self.attention = torch.nn.Module()
            for n in ("W_q", "W_k", "W_v", "W_o"):
                self.attention.register_parameter(n, torch.nn.Parameter(torch.empty(getattr(att, n).data.shape,
                                                                                    dtype=dt)))
            self.head = torch.nn.Linear(D, V, dtype=dt)
            names = {"rnn.weight_ih": "rnn.weight_ih_l0", "rnn.weight_hh": "rnn.weight_hh_l0",
                     "rnn.bias_ih": "rnn.bias_ih_l0", "rnn.bias_hh": "rnn.bias_hh_l0"}
            own = dict(self.named_parameters())
            self.ours_to_torch = {n: names.get(n, n) for n, _ in model.named_parameters()}
            with torch.no_grad():
                for n, p in model.named_parameters():
                    own[self.ours_to_torch[n]].copy_(torch.from_numpy(np.array(p.data)))

        def forward(self, tokens):
            h, _ = self.rnn(self.embedding(tokens.T))                     # (T, B, D)
            a = self.attention
            q, k, v = h @ a.W_q.T, h @ a.W_k.T, h @ a.W_v.T
            s = torch.einsum("tbk,ibk->bti", q, k) / math.sqrt(att.dk)
            T = h.shape[0]
            s = s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
            o = torch.einsum("bti,ibv->tbv", torch.softmax(s, -1), v) @ a.W_o.T
            return self.head(h + o).transpose(0, 1)                       # (B, T, V)

    return TorchRNNLM()


def torch_loss(tmodel, tokens):
    """Mean next-token cross-entropy of ``tmodel`` on tokens (B, T) (a torch scalar)."""
    import torch

    t = torch.from_numpy(np.asarray(tokens, np.int64))
    logits = tmodel(t)
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1))


def torch_train_step(tmodel, topt, tokens, clip: float = 1.0) -> float:
    """One training step of the PyTorch twin: loss, backward, gradient-norm clipping, Adam."""
    import torch

    topt.zero_grad()
    loss = torch_loss(tmodel, tokens)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(tmodel.parameters(), clip)
    topt.step()
    return float(loss.item())


def train_step(model: RNNLanguageModel, opt, tokens, clip: float = 1.0) -> float:
    """One training step of the rnnfast model (same order as :func:`torch_train_step`)."""
    from .. import optim

    for p in model.parameters():
        p.grad = None
    loss = model.loss_and_backward(tokens)
    optim.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss


# ------------------------------------------------------------------------------------------ data
def read_texts(path: str) -> List[str]:
    """A JSON list of stories, or a plain text file (Gutenberg header/licence stripped)."""
    with open(path, encoding="utf-8-sig") as f:
        raw = f.read()
    if path.endswith(".json"):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(items, list):
            raise UserError(f"{path}: expected a JSON list of stories")
        return [s if isinstance(s, str) else (s.get("story") or s.get("text") or "") for s in items]
    from .word_lm import strip_gutenberg

    return [strip_gutenberg(raw)]


def make_tokenizer(texts: List[str], path: Optional[str], vocab_size: int):
    tokenizers = need("tokenizers", "rnnfast train rnn-lm (its BPE tokenizer)")
    ByteLevelBPETokenizer, Tokenizer = tokenizers.ByteLevelBPETokenizer, tokenizers.Tokenizer

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
        raise UserError(f"not enough tokens for --seq_len {args.seq_len}: {len(tr_ids)} train, {len(va_ids)} val")
    V = tok.get_vocab_size()
    dtype = np.dtype(getattr(args, "dtype", "float32"))
    model = RNNLanguageModel(V, args.embed_dim, args.hidden_dim, args.dk, args.dv, args.nonlinearity, dtype=dtype,
                             seed=args.seed)
    compare = getattr(args, "compare_torch", False)
    if compare:  # the PyTorch twin starts from the same weights and sees the same batches
        import torch

        torch.set_num_threads(args.threads)
        tmodel = torch_model(model)
        topt = torch.optim.Adam(tmodel.parameters(), lr=args.lr)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    val_batches = [sample_batch(va_ids, args.batch_size, args.seq_len, np.random.default_rng(args.seed + k))
                   for k in range(4)]
    steps = max(1, args.num_sequences // args.batch_size)
    train_losses, val_losses = [], []
    t_train, t_val = [], []  # the PyTorch twin's
    secs = tsecs = 0.0
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=steps * args.batch_size, unit="seq", desc="rnn-lm")
        except ImportError:
            pass
    for step in range(1, steps + 1):
        batch = sample_batch(tr_ids, args.batch_size, args.seq_len, rng)
        t0 = time.perf_counter()
        loss = train_step(model, opt, batch)
        secs += time.perf_counter() - t0
        seen = step * args.batch_size
        train_losses.append({"sequences": seen, "loss": loss})
        validate = step % 10 == 0 or step == steps
        if validate:
            t0 = time.perf_counter()
            vl = float(np.mean([model.loss(b) for b in val_batches]))
            secs += time.perf_counter() - t0
            val_losses.append({"sequences": seen, "loss": vl})
        if compare:  # interleaved with ours, so both see the same machine load
            t0 = time.perf_counter()
            t_train.append({"sequences": seen, "loss": torch_train_step(tmodel, topt, batch)})
            if validate:
                with torch.no_grad():
                    t_val.append({"sequences": seen,
                                  "loss": float(np.mean([torch_loss(tmodel, b).item() for b in val_batches]))})
            tsecs += time.perf_counter() - t0
        if bar:
            bar.update(args.batch_size)
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{val_losses[-1]['loss']:.3f}" if val_losses else "-")
    if bar:
        bar.close()
    prompt = "Once upon a time there was a"
    pids = tok.encode(prompt).ids
    completions = {str(t): prompt + tok.decode(model.generate(pids, 30, t, seed=args.seed)) for t in (0.0, 0.3, 0.8)}
    metrics = {"final_train_loss": float(np.mean([r["loss"] for r in train_losses[-10:]])),
               "final_val_loss": val_losses[-1]["loss"], "final_val_perplexity": math.exp(val_losses[-1]["loss"]),
               "vocab_size": V, "train_tokens": int(len(tr_ids)), "val_tokens": int(len(va_ids)),
               "sequences": steps * args.batch_size, "seconds": secs, "completions": completions,
               "args": {k: v for k, v in vars(args).items() if k != "func"}}
    if compare:
        rel = [abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(train_losses, t_train)]
        metrics["torch"] = {"final_train_loss": float(np.mean([r["loss"] for r in t_train[-10:]])),
                            "final_val_loss": t_val[-1]["loss"],
                            "final_val_perplexity": math.exp(t_val[-1]["loss"]), "seconds": tsecs,
                            "train_losses": t_train, "val_losses": t_val,
                            "max_rel_train_loss_diff_first_100": max(rel[:100]),
                            "max_rel_train_loss_diff": max(rel)}
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

            for name, rows, trows in (("train", train_losses, t_train), ("val", val_losses, t_val)):
                fig, ax = plt.subplots(figsize=(6, 4))
                mk = "o" if len(rows) < 50 else None  # markers while points are few (one point: no line)
                ax.plot([r["sequences"] for r in rows], [r["loss"] for r in rows], marker=mk, ms=3, label="rnnfast")
                if trows:
                    ax.plot([r["sequences"] for r in trows], [r["loss"] for r in trows], "--", marker=mk, ms=3,
                            label="PyTorch")
                    ax.legend()
                ax.set_xlabel("sequences seen")
                ax.set_ylabel(f"{name} loss")
                fig.tight_layout()
                fig.savefig(os.path.splitext(args.plot)[0] + f"_{name}.png", dpi=100)
                plt.close(fig)
        except ImportError:
            pass
    print(f"rnn-lm: {steps * args.batch_size} sequences in {secs:.0f} s; train loss {metrics['final_train_loss']:.3f}, "
          f"val loss {metrics['final_val_loss']:.3f} (perplexity {metrics['final_val_perplexity']:.1f})")
    if compare:
        tm = metrics["torch"]
        print(f"PyTorch (same weights, batches and Adam, {args.threads} threads): {tsecs:.0f} s; train loss "
              f"{tm['final_train_loss']:.3f}, val loss {tm['final_val_loss']:.3f}; largest relative train-loss "
              f"difference {tm['max_rel_train_loss_diff_first_100']:.1e} over the first 100 steps, "
              f"{tm['max_rel_train_loss_diff']:.1e} over all")
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
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--compare-torch", action="store_true",
                   help="also train the same model in PyTorch (same initial weights, batches, Adam, clipping), "
                        "interleaved step by step; both loss curves go to the metrics and plots")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)
    return p


def register(subparsers, name: str = "rnn-lm"):
    return configure(subparsers.add_parser(name, help="RNN language model with self-attention (BPE tokens)",
                                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


def run(args) -> int:
    import rnnfast

    positive(args, ("embed_dim", "hidden_dim", "dk", "dv", "num_sequences", "batch_size", "seq_len", "threads"),
             dash=False)
    for k in ("train_data", "val_data"):
        if not (k == "val_data" and args.val_data == args.train_data):
            setattr(args, k, text_path(getattr(args, k), f"--{k}"))
        else:
            args.val_data = args.train_data
    select_backend(args.backend)
    if args.compare_torch:
        need_torch("--compare-torch")
    need("tokenizers", "rnnfast train rnn-lm (its BPE tokenizer)")
    rnnfast.set_num_threads(args.threads)
    train(args)
    return 0


def main(argv=None) -> int:
    p = configure(argparse.ArgumentParser(prog="python -m rnnfast.apps.rnn_lm", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter))
    return call(run, p.parse_args(argv), "python -m rnnfast.apps.rnn_lm")


if __name__ == "__main__":
    sys.exit(main())
