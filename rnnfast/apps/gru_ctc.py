"""A real CTC task on synthetic data, learned by a stacked bidirectional GRU + Linear trained with
rnnfast's CTC loss and Adam (no autograd), decoded greedily and with the prefix beam search.

Data: random label sequences (labels 1..K, blank 0), each label rendered as a noisy copy of its
prototype feature vector for a random number of frames, with short noisy "silence" segments in
between (always one between two equal labels, so that repeats stay distinguishable). The model
must learn to segment and label; the metric is the label error rate (edit distance over the
reference length) on held-out sequences.

    rnnfast train gru-ctc --out runs/gru-ctc [--compare-torch]
    torchrun --standalone --nproc_per_node 2 -m rnnfast.cli train gru-ctc --torch   (rnnfast.torch, data parallel)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from ._cli import call, need_torch, select_backend


# ------------------------------------------------------------------------------------------ data
@dataclass
class Task:
    num_labels: int = 10
    features: int = 16
    min_len: int = 4
    max_len: int = 8
    min_dur: int = 2
    max_dur: int = 5
    noise: float = 0.6


@dataclass
class Batch:
    x: np.ndarray          # (T, B, F)
    lengths: np.ndarray    # (B,)
    targets: np.ndarray    # (B, S) padded with 0
    target_lengths: np.ndarray


def make_dataset(n: int, task: Task, rng: np.random.Generator, prototypes: np.ndarray) -> list:
    """n (features (T_i, F), labels) pairs."""
    out = []
    for _ in range(n):
        L = int(rng.integers(task.min_len, task.max_len + 1))
        labels = rng.integers(1, task.num_labels + 1, L)
        frames = []
        for i, lab in enumerate(labels):
            gap = int(rng.integers(0, 3))
            if i > 0 and labels[i - 1] == lab:
                gap = max(gap, 1)
            frames += [0] * gap + [int(lab)] * int(rng.integers(task.min_dur, task.max_dur + 1))
        frames += [0] * int(rng.integers(0, 3))
        f = np.array(frames)
        x = prototypes[f] + task.noise * rng.standard_normal((len(f), task.features))
        out.append((x.astype(np.float32), labels.astype(np.int64)))
    return out


def collate(items) -> Batch:
    B = len(items)
    T = max(len(x) for x, _ in items)
    S = max(len(y) for _, y in items)
    F = items[0][0].shape[1]
    x = np.zeros((T, B, F), np.float32)
    tg = np.zeros((B, S), np.int64)
    for b, (xi, yi) in enumerate(items):
        x[:len(xi), b] = xi
        tg[b, :len(yi)] = yi
    return Batch(x, np.array([len(xi) for xi, _ in items]), tg, np.array([len(y) for _, y in items]))


def edit_distance(a: List[int], b: List[int]) -> int:
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[-1]


def label_error_rate(hyps, refs) -> float:
    return sum(edit_distance(h, list(r)) for h, r in zip(hyps, refs)) / max(1, sum(len(r) for r in refs))


# ------------------------------------------------------------------------------------------ model
class CTCModel:
    """rnnfast.nn.GRU (bidirectional, stacked) -> Linear -> log_softmax, trained with CTC."""

    def __init__(self, features: int, hidden: int, layers: int, classes: int, seed: int = 0, dtype=np.float32):
        from .. import nn

        self.gru = nn.GRU(features, hidden, num_layers=layers, bidirectional=True, dtype=dtype, seed=seed)
        self.fc = nn.Linear(2 * hidden, classes, dtype=dtype, seed=seed + 1)

    def parameters(self):
        return self.gru.parameters() + self.fc.parameters()

    def named_parameters(self):
        yield from (("gru." + n, p) for n, p in self.gru.named_parameters())
        yield from (("fc." + n, p) for n, p in self.fc.named_parameters())

    def logits(self, batch: Batch) -> np.ndarray:
        y, _ = self.gru(batch.x, lengths=batch.lengths)
        return self.fc(y)

    def loss_and_backward(self, batch: Batch) -> float:
        from ..ctc import ctc_loss_from_logits

        z = self.logits(batch)
        loss, dz = ctc_loss_from_logits(z, batch.targets, batch.lengths, batch.target_lengths, reduction="mean",
                                        zero_infinity=True, return_grad=True)
        self.gru.backward(self.fc.backward(dz))
        return float(loss)

    def decode(self, batch: Batch, beam: int = 0) -> list:
        from ..ctc import beam_search, greedy_decode, log_softmax

        lp = log_softmax(self.logits(batch))
        if beam > 1:
            return [h[0][0] for h in beam_search(lp, batch.lengths, beam_width=beam)]
        return greedy_decode(lp, batch.lengths)


def evaluate(model: CTCModel, data: list, batch_size: int, beam: int = 0) -> float:
    model.gru.eval()
    hyps, refs = [], []
    for i in range(0, len(data), batch_size):
        items = data[i:i + batch_size]
        hyps += model.decode(collate(items), beam)
        refs += [y for _, y in items]
    model.gru.train()
    return label_error_rate(hyps, refs)


# ------------------------------------------------------------------------------------------ torch
def torch_run(model: CTCModel, train: list, valid: list, cfg, order: list) -> dict:
    """The same architecture in PyTorch from the same initial weights, same batches and optimiser."""
    import torch

    torch.set_num_threads(cfg.threads)
    gru = torch.nn.GRU(cfg.task.features, cfg.hidden, cfg.layers, bidirectional=True)
    fc = torch.nn.Linear(2 * cfg.hidden, cfg.task.num_labels + 1)
    gru.load_state_dict({k: torch.from_numpy(v) for k, v in model.gru.state_dict().items()})
    fc.load_state_dict({k: torch.from_numpy(v) for k, v in model.fc.state_dict().items()})
    params = list(gru.parameters()) + list(fc.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    losses, times = [], []
    for ep_order in order:
        t0, tot, n = time.perf_counter(), 0.0, 0
        for idx in ep_order:
            b = collate([train[i] for i in idx])
            packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(b.x), torch.from_numpy(b.lengths),
                                                             enforce_sorted=False)
            y, _ = gru(packed)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=b.x.shape[0])
            lp = torch.log_softmax(fc(y), 2)
            loss = torch.nn.functional.ctc_loss(lp, torch.from_numpy(b.targets), torch.from_numpy(b.lengths),
                                                torch.from_numpy(b.target_lengths), zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            opt.step()
            tot += float(loss.detach())
            n += 1
        times.append(time.perf_counter() - t0)
        losses.append(tot / n)
    hyps, refs = [], []
    with torch.no_grad():
        for i in range(0, len(valid), cfg.batch_size):
            items = valid[i:i + cfg.batch_size]
            b = collate(items)
            y, _ = gru(torch.from_numpy(b.x))
            best = fc(y).argmax(2).numpy()
            for k, (_, ref) in enumerate(items):
                p = best[:b.lengths[k], k]
                keep = np.r_[True, p[1:] != p[:-1]]
                hyps.append([int(c) for c in p[keep] if c != 0])
                refs.append(ref)
    return {"train_loss": losses, "epoch_s": times, "valid_ler": label_error_rate(hyps, refs)}


# ------------------------------------------------------------------------------------------ driver
@dataclass
class Config:
    task: Task
    n_train: int = 3000
    n_valid: int = 300
    hidden: int = 64
    layers: int = 2
    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-3
    clip: float = 5.0
    beam: int = 8
    seed: int = 0
    threads: int = 2


def run(cfg: Config, out: Optional[str], progress: bool = True, compare_torch: bool = False) -> dict:
    from .. import optim

    rng = np.random.default_rng(cfg.seed)
    prototypes = rng.standard_normal((cfg.task.num_labels + 1, cfg.task.features)).astype(np.float32)
    train = make_dataset(cfg.n_train, cfg.task, rng, prototypes)
    valid = make_dataset(cfg.n_valid, cfg.task, rng, prototypes)
    model = CTCModel(cfg.task.features, cfg.hidden, cfg.layers, cfg.task.num_labels + 1, seed=cfg.seed)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    n_batches = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    order = [[list(p[i:i + cfg.batch_size]) for i in range(0, len(p), cfg.batch_size)]
             for p in (rng.permutation(len(train)) for _ in range(cfg.epochs))]
    bar_cls = None
    if progress:
        try:
            from tqdm import tqdm as bar_cls
        except ImportError:
            pass
    hist = {"epoch": [], "train_loss": [], "valid_ler": [], "epoch_s": []}
    t_start = time.perf_counter()
    print(f"gru-ctc: {cfg.n_train} training / {cfg.n_valid} validation sequences of {cfg.task.min_len}-"
          f"{cfg.task.max_len} labels ({cfg.task.num_labels} classes + blank); 2x{cfg.layers}-layer bidirectional GRU "
          f"{cfg.hidden} + Linear, CTC, Adam {cfg.lr}, batch {cfg.batch_size}", flush=True)
    for ep, ep_order in enumerate(order, 1):
        t0, tot = time.perf_counter(), 0.0
        bar = bar_cls(total=n_batches, desc=f"epoch {ep}", leave=False) if bar_cls else None
        for idx in ep_order:
            for p in model.parameters():
                p.grad = None
            tot += model.loss_and_backward(collate([train[i] for i in idx]))
            optim.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            if bar:
                bar.update(1)
        if bar:
            bar.close()
        secs = time.perf_counter() - t0
        ler = evaluate(model, valid, cfg.batch_size)
        for k, v in (("epoch", ep), ("train_loss", tot / len(ep_order)), ("valid_ler", ler), ("epoch_s", secs)):
            hist[k].append(v)
        print(f"epoch {ep:2d}  loss {tot / len(ep_order):7.4f}  greedy LER {100 * ler:5.2f}%  {secs:5.1f} s",
              flush=True)
    res = {"config": asdict(cfg), "history": hist, "train_s": time.perf_counter() - t_start,
           "greedy_ler": hist["valid_ler"][-1], "beam_ler": evaluate(model, valid, cfg.batch_size, cfg.beam)}
    print(f"final: greedy LER {100 * res['greedy_ler']:.2f}%, beam (width {cfg.beam}) LER "
          f"{100 * res['beam_ler']:.2f}%, training {res['train_s']:.0f} s")
    if compare_torch:
        t = torch_run(CTCModel(cfg.task.features, cfg.hidden, cfg.layers, cfg.task.num_labels + 1, seed=cfg.seed),
                      train, valid, cfg, order)
        res["torch"] = t
        print(f"PyTorch, same weights/data/batches: final loss {t['train_loss'][-1]:.4f} (rnnfast "
              f"{hist['train_loss'][-1]:.4f}), greedy LER {100 * t['valid_ler']:.2f}% (rnnfast "
              f"{100 * res['greedy_ler']:.2f}%), s/epoch {np.median(t['epoch_s']):.1f} (rnnfast "
              f"{np.median(hist['epoch_s']):.1f})")
    if out:
        write_results(res, out)
    return res


def write_results(res: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    h = res["history"]
    rows = ["| epoch | loss | greedy LER | s |", "|---:|---:|---:|---:|"]
    rows += [f"| {e} | {l:.4f} | {100 * r:.2f}% | {s:.1f} |" for e, l, r, s in
             zip(h["epoch"], h["train_loss"], h["valid_ler"], h["epoch_s"])]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"greedy LER {100 * res['greedy_ler']:.2f}%, beam LER {100 * res['beam_ler']:.2f}%\n\n"
                + "\n".join(rows) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(h["epoch"], h["train_loss"], "o-", ms=3, label="rnnfast")  # markers: one epoch is one point
        if "torch" in res:
            ax.plot(h["epoch"], res["torch"]["train_loss"], "s--", ms=3, label="PyTorch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("CTC loss (mean)")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "loss.png"), dpi=100)
        plt.close(fig)
    except ImportError:
        pass


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = Config(Task())
    for name, v in (("n-train", d.n_train), ("n-valid", d.n_valid), ("hidden", d.hidden), ("layers", d.layers),
                    ("epochs", d.epochs), ("batch-size", d.batch_size), ("beam", d.beam), ("seed", d.seed),
                    ("threads", d.threads), ("labels", d.task.num_labels)):
        p.add_argument(f"--{name}", type=int, default=v)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--noise", type=float, default=d.task.noise)
    p.add_argument("--backend", choices=("cpp", "numba", "numpy"), default=None)
    p.add_argument("--compare-torch", action="store_true")
    p.add_argument("--torch", action="store_true",
                   help="train a torch module with rnnfast.torch layers; runs data parallel under torchrun "
                        "(--threads is then the total per machine)")
    p.add_argument("--out", default=None, help="output folder (default runs/gru-ctc)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main_args)
    return p


def register(subparsers, name: str = "gru-ctc"):
    return configure(subparsers.add_parser(name, help="GRU + CTC on synthetic sequences (label error rate)",
                                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


def main_args(args) -> int:
    import rnnfast

    for k in ("n_train", "n_valid", "hidden", "layers", "epochs", "batch_size", "threads", "labels"):
        if getattr(args, k) < 1:
            print(f"rnnfast train gru-ctc: --{k.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    select_backend(args.backend)
    if args.compare_torch:
        need_torch("--compare-torch")
    rnnfast.set_num_threads(args.threads)
    cfg = Config(Task(num_labels=args.labels, noise=args.noise), args.n_train, args.n_valid, args.hidden, args.layers,
                 args.epochs, args.batch_size, args.lr, 5.0, args.beam, args.seed, args.threads)
    if getattr(args, "torch", False):
        from .gru_ctc_torch import run_torch

        run_torch(cfg, args.out or os.path.join("runs", "gru-ctc"), not args.no_progress)
        return 0
    run(cfg, args.out or os.path.join("runs", "gru-ctc"), not args.no_progress, args.compare_torch)
    return 0


def main(argv=None) -> int:
    p = configure(argparse.ArgumentParser(prog="python -m rnnfast.apps.gru_ctc", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter))
    return call(main_args, p.parse_args(argv), "python -m rnnfast.apps.gru_ctc")


if __name__ == "__main__":
    sys.exit(main())
