"""The adding problem (Hochreiter & Schmidhuber, 1997): an Elman RNN, an LSTM and a two-clock-rate
RNN (AlarmworkNet) trained with rnnfast alone; ``rnnfast train adding``.

Task. A sequence of length L of 2-d inputs: channel 0 is uniform in [-0.25, 0.25]; channel 1 is
zero except for two ones, one at a position drawn uniformly from [0, L//2] and one from
[L//2 + 1, L - 1] (both ends included). The target is the sum of the two marked channel-0 values
(so it lies in [-0.5, 0.5]). A prediction y succeeds when |y - t| < 0.1; accuracy is the share of
successes. Predicting 0 always scores about 36%.

Models (all weight matrices Xavier/Glorot uniform via :mod:`rnnfast.init`, all biases zero; each
reads x of shape (L, B, 2) and predicts one number per sequence from its final state through a
linear output layer):

* ``SimpleRNN``: Elman tanh RNN on :func:`rnnfast.functional.rnn_forward` / ``rnn_backward``.
* ``LSTM``: on :func:`rnnfast.functional.lstm_forward` / ``lstm_backward`` (gate order i, f, g, o).
* ``AlarmworkNet``: two tanh RNN layers of ``hidden`` units each reading the input in parallel, the
  second updating only at even steps and carrying its state otherwise; both final states feed the
  output layer. It is :class:`rnnfast.nn.ClockworkRNN` with periods (1, 2) and connect="none".

Training: mean squared error, mini-batches reshuffled every epoch, an rnnfast optimiser, optional
global gradient-norm clipping. Everything is reproducible from one seed. ``torch_model`` builds the
same network in PyTorch with the same weights (for the equivalence test and the speed comparison).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Dict, List, Optional

import numpy as np

from .. import functional as F
from .. import init as _init
from .. import set_num_threads
from ..nn.clockwork import ClockworkRNN, Module, Parameter
from ._cli import UserError, call, need_torch, progress_bar, pyplot, select_backend

SUCCESS_TOL = 0.1
MODEL_NAMES = ("simple_rnn", "lstm", "alarmwork")
DISPLAY = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "alarmwork": "AlarmworkNet"}


# ============================================================================================ data
@dataclass
class AddingData:
    """One adding-problem data set.

    Attributes
    ----------
    x : (n, L, 2) inputs (channel 0 values, channel 1 markers)
    t : (n,) targets
    positions : (n, 2) int64, the two marked positions
    seed : the generator seed (None when unseeded)
    """
    x: np.ndarray
    t: np.ndarray
    positions: np.ndarray
    seed: Optional[int] = None

    @property
    def length(self) -> int:
        return self.x.shape[1]

    def __len__(self) -> int:
        return self.x.shape[0]

    def save(self, path) -> str:
        """Write to ``path`` (``.npz``, no pickle)."""
        path = os.fspath(path)
        np.savez(path, x=self.x, t=self.t, positions=self.positions,
                 seed=np.array(-1 if self.seed is None else self.seed, np.int64))
        return path if path.endswith(".npz") else path + ".npz"

    @classmethod
    def load(cls, path) -> "AddingData":
        with np.load(os.fspath(path), allow_pickle=False) as z:
            missing = {"x", "t", "positions", "seed"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not an adding-problem file (missing {sorted(missing)})")
            seed = int(z["seed"])
            d = cls(z["x"], z["t"], z["positions"], None if seed < 0 else seed)
        if d.x.ndim != 3 or d.x.shape[2] != 2 or d.t.shape != (d.x.shape[0],):
            raise ValueError(f"{path}: inconsistent shapes x {d.x.shape}, t {d.t.shape}")
        return d

    def batch(self, idx) -> tuple:
        """Time-major inputs (L, B, 2) and targets (B,) of the sequences ``idx``."""
        return np.ascontiguousarray(self.x[idx].transpose(1, 0, 2)), self.t[idx]


def make_adding_data(n: int, length: int, seed: Optional[int] = None, dtype=np.float64) -> AddingData:
    """Generate ``n`` adding-problem sequences of length ``length`` (>= 3) from ``seed``."""
    n, length = int(n), int(length)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if length < 3:
        raise ValueError(f"length must be >= 3 (one marker in [0, L//2], one in [L//2+1, L-1]), got {length}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(-0.25, 0.25, size=(n, length))
    half = length // 2
    p0 = rng.integers(0, half + 1, size=n)            # [0, L//2]
    p1 = rng.integers(half + 1, length, size=n)       # [L//2 + 1, L - 1]
    x = np.zeros((n, length, 2), np.float64)
    x[:, :, 0] = values
    rows = np.arange(n)
    x[rows, p0, 1] = 1.0
    x[rows, p1, 1] = 1.0
    t = values[rows, p0] + values[rows, p1]
    return AddingData(x.astype(dtype), t.astype(dtype), np.stack([p0, p1], 1).astype(np.int64), seed)


def accuracy(y, t, tol: float = SUCCESS_TOL) -> float:
    """Share of predictions with |y - t| < tol."""
    y, t = np.asarray(y).reshape(-1), np.asarray(t).reshape(-1)
    if y.shape != t.shape:
        raise ValueError(f"predictions {y.shape} and targets {t.shape} differ in size")
    return float(np.mean(np.abs(y - t) < tol))


def mse_loss(y: np.ndarray, t: np.ndarray):
    """Mean squared error over the batch and its gradient w.r.t. y (as torch's MSELoss, mean)."""
    d = y - t
    return float(np.mean(d * d)), (2.0 / d.size) * d


# ========================================================================================== models


def _param(shape, dtype) -> "Parameter":
    return Parameter(np.zeros(shape, dtype))


def _accumulate(p, g) -> None:
    """p.grad += g (allocating it on first use), as PyTorch accumulates gradients."""
    if p.grad is None:
        p.grad = np.array(g, dtype=p.data.dtype, copy=True)
    else:
        p.grad += g


class OutputLayer(Module):
    """Linear map of the final state to one number, ``y = h w^T + b``, in vector form (one GEMV)
    or scalar form (explicit Python loops over the batch and the features, as the course's
    assignment first asks for); both give the same values and gradients.

    Parameters: weight (1, H) Xavier uniform, bias (1,) zero.
    """

    def __init__(self, in_features: int, dtype=np.float64, form: str = "vector", rng=None):
        super().__init__()
        if form not in ("vector", "scalar"):
            raise ValueError(f"form must be 'vector' or 'scalar', got {form!r}")
        self.form = form
        self.weight = _param((1, in_features), dtype)
        self.bias = _param((1,), dtype)
        _init.xavier_uniform_(self.weight, rng=rng)
        self._h = None

    def forward(self, h: np.ndarray) -> np.ndarray:
        """h (B, H) -> y (B,)."""
        self._h = h
        w, b = self.weight.data, self.bias.data
        if self.form == "vector":
            return h @ w[0] + b[0]
        B, H = h.shape
        y = np.empty(B, h.dtype)
        for i in range(B):
            s = b[0]
            for j in range(H):
                s += w[0, j] * h[i, j]
            y[i] = s
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (B,) -> dh (B, H); accumulates weight.grad and bias.grad."""
        h, w = self._h, self.weight.data
        if self.form == "vector":
            _accumulate(self.weight, (dy @ h)[None, :])
            _accumulate(self.bias, np.array([dy.sum()], h.dtype))
            return np.multiply.outer(dy, w[0])
        B, H = h.shape
        dw = np.zeros((1, H), h.dtype)
        dh = np.empty((B, H), h.dtype)
        db = h.dtype.type(0)
        for i in range(B):
            db += dy[i]
            for j in range(H):
                dw[0, j] += dy[i] * h[i, j]
                dh[i, j] = dy[i] * w[0, j]
        _accumulate(self.weight, dw)
        _accumulate(self.bias, np.array([db], h.dtype))
        return dh


class _AddingModel(Module):
    """Base: ``forward(x (L, B, I)) -> y (B,)``, ``backward(dy (B,))`` accumulates every .grad."""

    display_name = ""

    def predict(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """Predictions for (L, n, I) inputs, in chunks of ``batch`` sequences."""
        return np.concatenate([self.forward(x[:, i:i + batch]) for i in range(0, x.shape[1], batch)])


class SimpleRNN(_AddingModel):
    """Elman tanh RNN (PyTorch layout: weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H,))
    and a linear output on the final state."""

    display_name = "SimpleRNN"

    def __init__(self, input_size: int = 2, hidden: int = 50, dtype=np.float64, seed=None, output_form="vector"):
        super().__init__()
        rng = np.random.default_rng(seed)
        H = hidden
        self.weight_ih = _param((H, input_size), dtype)
        self.weight_hh = _param((H, H), dtype)
        self.bias_ih = _param((H,), dtype)
        self.bias_hh = _param((H,), dtype)
        _init.xavier_uniform_(self.weight_ih, rng=rng)
        _init.xavier_uniform_(self.weight_hh, rng=rng)
        self.out = OutputLayer(H, dtype, output_form, rng=rng)
        self._cache = None

    def forward(self, x):
        _, h_n, self._cache = F.rnn_forward(x, None, self.weight_ih.data, self.weight_hh.data, self.bias_ih.data,
                                            self.bias_hh.data, nonlinearity="tanh")
        return self.out.forward(h_n)

    def backward(self, dy):
        g = F.rnn_backward(None, self.out.backward(dy), self._cache)
        for p, d in ((self.weight_ih, g.dw_ih), (self.weight_hh, g.dw_hh), (self.bias_ih, g.db_ih),
                     (self.bias_hh, g.db_hh)):
            _accumulate(p, d)


class LSTM(_AddingModel):
    """LSTM (PyTorch layout and gate order i, f, g, o; weight_ih (4H, I), weight_hh (4H, H), biases
    (4H,)) and a linear output on the final hidden state. Xavier is applied to each stacked
    weight matrix as a whole (as ``torch.nn.init.xavier_uniform_(lstm.weight_ih_l0)`` does)."""

    display_name = "LSTM"

    def __init__(self, input_size: int = 2, hidden: int = 50, dtype=np.float64, seed=None, output_form="vector"):
        super().__init__()
        rng = np.random.default_rng(seed)
        H = hidden
        self.weight_ih = _param((4 * H, input_size), dtype)
        self.weight_hh = _param((4 * H, H), dtype)
        self.bias_ih = _param((4 * H,), dtype)
        self.bias_hh = _param((4 * H,), dtype)
        _init.xavier_uniform_(self.weight_ih, rng=rng)
        _init.xavier_uniform_(self.weight_hh, rng=rng)
        self.out = OutputLayer(H, dtype, output_form, rng=rng)
        self._cache = None

    def forward(self, x):
        _, h_n, _, self._cache = F.lstm_forward(x, None, None, self.weight_ih.data, self.weight_hh.data,
                                                self.bias_ih.data, self.bias_hh.data)
        return self.out.forward(h_n)

    def backward(self, dy):
        g = F.lstm_backward(None, self.out.backward(dy), None, self._cache)
        for p, d in ((self.weight_ih, g.dw_ih), (self.weight_hh, g.dw_hh), (self.bias_ih, g.db_ih),
                     (self.bias_hh, g.db_hh)):
            _accumulate(p, d)


class AlarmworkNet(_AddingModel):
    """Two tanh RNN layers of ``hidden`` units reading the input in parallel, the second updating
    only at even steps (carrying its state otherwise), both final states -> linear output.
    ``ClockworkRNN(input_size, (hidden, hidden), (1, 2), connect="none")``."""

    display_name = "AlarmworkNet"

    def __init__(self, input_size: int = 2, hidden: int = 50, dtype=np.float64, seed=None, output_form="vector",
                 periods=(1, 2), impl="auto"):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.rnn = ClockworkRNN(input_size, (hidden,) * len(periods), tuple(periods), connect="none", dtype=dtype,
                                seed=rng, impl=impl)
        self.out = OutputLayer(hidden * len(periods), dtype, output_form, rng=rng)

    def forward(self, x):
        _, h_n = self.rnn.forward(x)
        return self.out.forward(h_n)

    def backward(self, dy):
        self.rnn.backward(None, self.out.backward(dy))


MODELS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "alarmwork": AlarmworkNet}


def build_model(name: str, hidden: int = 50, dtype=np.float64, seed=None, output_form: str = "vector"):
    """A fresh model by name (``simple_rnn``, ``lstm``, ``alarmwork``) with seeded initial weights."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}")
    return MODELS[name](2, hidden, dtype, seed, output_form)


# ======================================================================================== PyTorch
def torch_model(model: _AddingModel):
    """The same network in PyTorch (same dtype, weights copied), for comparisons.

    Returns a ``torch.nn.Module`` mapping a (L, B, I) tensor to (B,). SimpleRNN and LSTM use
    ``torch.nn.RNN`` / ``torch.nn.LSTM``; AlarmworkNet runs one ``torch.nn.RNN`` per module on the
    strided input ``x[::period]`` (an independent formulation of the clock), with ``bias_hh`` fixed
    at zero (not trained) because ClockworkRNN has a single bias.
    """
    import torch

    dt = torch.float64 if model.out.weight.data.dtype == np.float64 else torch.float32
    t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731

    class TorchAdding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if isinstance(model, (SimpleRNN, LSTM)):
                I, H = model.weight_ih.data.shape[1], model.weight_hh.data.shape[1]
                cls = torch.nn.RNN if isinstance(model, SimpleRNN) else torch.nn.LSTM
                self.rnns = torch.nn.ModuleList([cls(I, H, dtype=dt)])
                self.periods = (1,)
                with torch.no_grad():
                    r = self.rnns[0]
                    for nm in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(r, nm + "_l0").copy_(t(getattr(model, nm).data))
            elif isinstance(model, AlarmworkNet):
                cw = model.rnn
                if cw.connect != "none":
                    raise ValueError("torch_model supports AlarmworkNet (connect='none') only")
                self.periods = cw.periods
                self.rnns = torch.nn.ModuleList()
                with torch.no_grad():
                    for sl in _slices(cw.module_sizes):
                        r = torch.nn.RNN(cw.input_size, sl.stop - sl.start, dtype=dt)
                        r.weight_ih_l0.copy_(t(cw.weight_ih.data[sl]))
                        r.weight_hh_l0.copy_(t(cw.weight_hh.data[sl, sl]))
                        r.bias_ih_l0.copy_(t(cw.bias.data[sl]))
                        r.bias_hh_l0.zero_()
                        r.bias_hh_l0.requires_grad_(False)
                        self.rnns.append(r)
            else:
                raise TypeError(f"no PyTorch counterpart for {type(model).__name__}")
            H = model.out.weight.data.shape[1]
            self.out = torch.nn.Linear(H, 1, dtype=dt)
            with torch.no_grad():
                self.out.weight.copy_(t(model.out.weight.data))
                self.out.bias.copy_(t(model.out.bias.data))

        def forward(self, x):
            finals = []
            for r, p in zip(self.rnns, self.periods):
                _, h = r(x[::p])
                finals.append((h[0] if isinstance(h, tuple) else h)[0])
            return self.out(torch.cat(finals, 1))[:, 0]

    return TorchAdding()


def _slices(sizes):
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [slice(int(off[i]), int(off[i + 1])) for i in range(len(sizes))]


# ======================================================================================= training
@dataclass
class Protocol:
    """A training protocol. ``optimizer`` is "sgd" (with ``momentum``) or "adam"; ``clip`` is a
    global gradient-norm bound or None."""
    name: str
    epochs: int
    batch_size: int
    hidden: int
    optimizer: str
    lr: float
    momentum: float = 0.0
    clip: Optional[float] = None
    n_train: int = 10000
    n_test: int = 1000
    lengths: tuple = (10, 50, 70, 100)
    models: tuple = MODEL_NAMES
    dtype: str = "float32"

    def describe(self) -> str:
        opt = (f"SGD lr {self.lr} momentum {self.momentum}" if self.optimizer == "sgd"
               else f"Adam lr {self.lr}")
        clip = f", grad-norm clip {self.clip}" if self.clip else ""
        return (f"{self.epochs} epochs, batch {self.batch_size}, hidden {self.hidden}, {opt}{clip}, "
                f"{self.n_train} train / {self.n_test} test sequences, {self.dtype}")


PROTOCOLS = {
    # The assignment's protocol.
    "reference": Protocol("reference", epochs=50, batch_size=20, hidden=50, optimizer="sgd", lr=0.01, momentum=0.9),
    # Adam with clipping and more data per epoch: the LSTM reaches >= 99% at L = 100.
    "strong": Protocol("strong", epochs=30, batch_size=50, hidden=50, optimizer="adam", lr=2e-3, clip=1.0,
                       n_train=20000, n_test=1000),
}


def make_optimizer(params, protocol: Protocol):
    from .. import optim

    if protocol.optimizer == "sgd":
        return optim.SGD(params, lr=protocol.lr, momentum=protocol.momentum)
    if protocol.optimizer == "adam":
        return optim.Adam(params, lr=protocol.lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {protocol.optimizer!r}")


def make_torch_optimizer(params, protocol: Protocol):
    import torch

    if protocol.optimizer == "sgd":
        return torch.optim.SGD(params, lr=protocol.lr, momentum=protocol.momentum)
    if protocol.optimizer == "adam":
        return torch.optim.Adam(params, lr=protocol.lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {protocol.optimizer!r}")


def train_step(model: _AddingModel, opt, params: list, x: np.ndarray, t: np.ndarray, clip=None) -> float:
    """One optimisation step on a batch (x (L, B, I), t (B,)); returns the batch loss before it."""
    from .. import optim

    for p in params:
        p.grad = None
    y = model.forward(x)
    loss, dy = mse_loss(y, t)
    model.backward(dy)
    if clip:
        optim.clip_grad_norm_(params, clip)
    opt.step()
    return loss


def torch_train_step(tmodel, topt, x, t, clip=None) -> float:
    import torch

    topt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(tmodel(x), t)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_([p for p in tmodel.parameters() if p.requires_grad], clip)
    topt.step()
    return loss.item()


def evaluate(model: _AddingModel, data: AddingData) -> tuple:
    """(accuracy, mean squared error) on a data set."""
    x, t = data.batch(np.arange(len(data)))
    y = model.predict(x)
    return accuracy(y, t), float(np.mean((y - t) ** 2))


def train_model(model: _AddingModel, train: AddingData, test: AddingData, protocol: Protocol, seed=None,
                progress: bool = True, desc: str = "") -> dict:
    """Train for ``protocol.epochs`` epochs; returns the history (per epoch: mean training loss,
    test accuracy and MSE, seconds of training) and the final test accuracy/MSE."""
    params = [p for _, p in model.named_parameters()]
    opt = make_optimizer(params, protocol)
    rng = np.random.default_rng(seed)
    n, bs = len(train), protocol.batch_size
    steps = -(-n // bs)
    hist: Dict[str, list] = {"train_loss": [], "test_acc": [], "test_mse": [], "epoch_time": []}
    with progress_bar(total=protocol.epochs * steps, enabled=progress, desc=desc, leave=False, unit="step",
                      mininterval=0.5) as bar:
        for epoch in range(protocol.epochs):
            perm = rng.permutation(n)
            total = 0.0
            t0 = time.perf_counter()
            for s in range(0, n, bs):
                xb, tb = train.batch(perm[s:s + bs])
                total += train_step(model, opt, params, xb, tb, protocol.clip) * len(tb)
                bar.update(1)
            hist["epoch_time"].append(time.perf_counter() - t0)
            hist["train_loss"].append(total / n)
            acc, mse = evaluate(model, test)
            hist["test_acc"].append(acc)
            hist["test_mse"].append(mse)
            bar.set_postfix(loss=f"{total / n:.4f}", acc=f"{acc:.3f}")
    hist["final_acc"], hist["final_mse"] = hist["test_acc"][-1], hist["test_mse"][-1]
    return hist


# ===================================================================================== experiment
def _seed(*parts) -> int:
    """A 32-bit seed derived from integers (independent streams per length, split and model)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def load_or_make(path: Optional[str], n: int, length: int, seed: int, dtype) -> AddingData:
    """The data set saved at ``path`` if it matches (size, length, seed), else a new one saved there."""
    if path and os.path.exists(path):
        d = AddingData.load(path)
        if len(d) == n and d.length == length and d.seed == seed:
            return replace(d, x=d.x.astype(dtype, copy=False), t=d.t.astype(dtype, copy=False))
    d = make_adding_data(n, length, seed, dtype)
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        d.save(path)
    return d


def run_experiment(protocol: Protocol, seed: int = 0, out: Optional[str] = None, progress: bool = True,
                   output_form: str = "vector", log=print) -> dict:
    """Train every model of ``protocol`` at every length; write results under ``out``.

    Returns ``{"protocol": ..., "results": [row, ...], "history": {model: {L: history}}}``; each row
    has model, length, test accuracy and MSE, training seconds and seconds per epoch.
    """
    dtype = np.dtype(protocol.dtype)
    rows, history = [], {}
    data_dir = os.path.join(out, "data") if out else None
    for L in protocol.lengths:
        tr = load_or_make(data_dir and os.path.join(data_dir, f"train_L{L}.npz"), protocol.n_train, L,
                          _seed(seed, L, 0), dtype)
        te = load_or_make(data_dir and os.path.join(data_dir, f"test_L{L}.npz"), protocol.n_test, L,
                          _seed(seed, L, 1), dtype)
        for k, name in enumerate(protocol.models):
            model = build_model(name, protocol.hidden, dtype, _seed(seed, L, 2, k), output_form)
            t0 = time.perf_counter()
            h = train_model(model, tr, te, protocol, _seed(seed, L, 3, k), progress,
                            desc=f"{DISPLAY[name]} L={L}")
            wall = time.perf_counter() - t0
            history.setdefault(name, {})[L] = h
            row = {"model": DISPLAY[name], "L": L, "test_acc": h["final_acc"], "test_mse": h["final_mse"],
                   "best_test_acc": max(h["test_acc"]), "train_s": sum(h["epoch_time"]),
                   "s_per_epoch": float(np.median(h["epoch_time"])), "wall_s": wall}
            rows.append(row)
            log(f"{DISPLAY[name]:>12s}  L={L:<4d} test acc {100 * row['test_acc']:6.2f}%  mse {row['test_mse']:.5f}  "
                f"{row['s_per_epoch']:.2f} s/epoch  ({wall:.0f} s)")
            if out:  # final weights: model.load_state_dict(rnnfast.load(path))
                from .. import serialization

                os.makedirs(os.path.join(out, "models"), exist_ok=True)
                serialization.save(model, os.path.join(out, "models", f"{name}_L{L}.npz"), overwrite=True)
    res = {"protocol": asdict(protocol), "seed": seed, "results": rows, "history": history}
    if out:
        write_results(res, out)
    return res


def accuracy_table(rows: List[dict], fmt: str = "markdown") -> str:
    """Test accuracy (%) per model (rows) and length (columns), as Markdown or plain text."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    lengths = sorted({r["L"] for r in rows})
    acc = {(r["model"], r["L"]): r["test_acc"] for r in rows}
    head = ["model"] + [f"L={L}" for L in lengths]
    body = [[m] + [f"{100 * acc[m, L]:.1f}%" if (m, L) in acc else "-" for L in lengths] for m in models]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(lengths)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in [head] + body)


def write_results(res: dict, out: str) -> dict:
    """results.csv, results.md, history.json and curves.png in ``out``; returns their paths."""
    os.makedirs(out, exist_ok=True)
    rows = res["results"]
    paths = {k: os.path.join(out, f) for k, f in (("csv", "results.csv"), ("md", "results.md"),
                                                  ("history", "history.json"), ("plot", "curves.png"))}
    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    p = Protocol(**{**res["protocol"], "lengths": tuple(res["protocol"]["lengths"]),
                    "models": tuple(res["protocol"]["models"])})
    with open(paths["md"], "w") as f:
        f.write(f"# Adding problem, protocol '{p.name}'\n\n{p.describe()}; seed {res['seed']}.\n\n"
                f"Test accuracy (|y - t| < {SUCCESS_TOL}) after the last epoch:\n\n{accuracy_table(rows)}\n\n"
                "| model | L | test acc | best epoch acc | test MSE | s/epoch (median) | training s |\n"
                "|---|---:|---:|---:|---:|---:|---:|\n")
        for r in rows:
            f.write(f"| {r['model']} | {r['L']} | {100 * r['test_acc']:.1f}% | {100 * r['best_test_acc']:.1f}% | "
                    f"{r['test_mse']:.5f} | {r['s_per_epoch']:.2f} | {r['train_s']:.0f} |\n")
    with open(paths["history"], "w") as f:
        json.dump({"protocol": res["protocol"], "seed": res["seed"],
                   "history": {m: {str(L): h for L, h in d.items()} for m, d in res["history"].items()}}, f)
    plot_curves(res["history"], paths["plot"], title=f"Adding problem, protocol '{p.name}'")
    return paths


def plot_curves(history: dict, path: str, title: str = "") -> str:
    """Training loss (log scale) and test accuracy per epoch, one column per sequence length."""
    plt = pyplot()
    if plt is None:
        return None
    lengths = sorted({int(L) for d in history.values() for L in d})
    fig, axes = plt.subplots(2, len(lengths), figsize=(4 * len(lengths), 6.5), squeeze=False, sharex=True)
    for j, L in enumerate(lengths):
        for name, d in history.items():
            h = d.get(L, d.get(str(L)))
            if h is None:
                continue
            ep = np.arange(1, len(h["train_loss"]) + 1)
            mk = "o" if len(ep) < 30 else None  # markers while epochs are few (one epoch: one point, no line)
            axes[0, j].semilogy(ep, h["train_loss"], marker=mk, ms=3, label=DISPLAY.get(name, name))
            axes[1, j].plot(ep, 100 * np.asarray(h["test_acc"]), marker=mk, ms=3, label=DISPLAY.get(name, name))
        axes[0, j].set_title(f"L = {L}")
        axes[1, j].set_xlabel("epoch")
        axes[1, j].set_ylim(0, 101)
        axes[1, j].axhline(99, color="grey", lw=0.5, ls=":")
    axes[0, 0].set_ylabel("training MSE")
    axes[1, 0].set_ylabel("test accuracy (%)")
    axes[0, 0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ========================================================================================== speed
def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def time_output_layer(batch: int = 20, hidden: int = 50, dtype=np.float32, repeats: int = 200, seed: int = 0) -> dict:
    """Seconds per forward+backward of the output layer in scalar (Python loops) and vector form."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, hidden)).astype(dtype)
    dy = rng.standard_normal(batch).astype(dtype)
    res = {}
    for form in ("scalar", "vector"):
        layer = OutputLayer(hidden, dtype, form, rng=np.random.default_rng(seed))

        def call():
            layer.forward(h)
            layer.backward(dy)
            layer.weight.grad = layer.bias.grad = None
        call()
        res[form] = _median_time(call, repeats)
    res["speedup"] = res["scalar"] / res["vector"]
    return res


def time_epochs(protocol: Protocol, threads: int, repeats: int = 3, seed: int = 0, progress: bool = True,
                log=print) -> dict:
    """Median seconds per training epoch (``protocol.n_train`` sequences, its batch size and
    optimiser) of every model at every length, rnnfast against the same model in PyTorch (same
    data, weights, dtype and thread count; the two are interleaved). Also one SimpleRNN epoch at
    the shortest length with the scalar and with the vector output layer."""
    import torch

    set_num_threads(threads)
    torch.set_num_threads(threads)
    dtype = np.dtype(protocol.dtype)
    rows = []
    jobs = [(L, name) for L in protocol.lengths for name in protocol.models]
    bs = protocol.batch_size
    for L, name in progress_bar(jobs, enabled=progress, desc="epoch timing", leave=False):
        data = make_adding_data(protocol.n_train, L, _seed(seed, L, 9), dtype)
        batches = [data.batch(np.arange(s, min(s + bs, len(data)))) for s in range(0, len(data), bs)]
        tbatches = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in batches]
        model = build_model(name, protocol.hidden, dtype, _seed(seed, L, 2))
        tmodel = torch_model(model)
        params = [p for _, p in model.named_parameters()]
        opt = make_optimizer(params, protocol)
        topt = make_torch_optimizer([p for p in tmodel.parameters() if p.requires_grad], protocol)

        def ours():
            for x, t in batches:
                train_step(model, opt, params, x, t, protocol.clip)

        def theirs():
            for x, t in tbatches:
                torch_train_step(tmodel, topt, x, t, protocol.clip)
        ours()
        theirs()   # warm-up
        to, tt = [], []
        for _ in range(repeats):
            to.append(_median_time(ours, 1))
            tt.append(_median_time(theirs, 1))
        row = {"model": DISPLAY[name], "L": L, "rnnfast_s": float(np.median(to)), "torch_s": float(np.median(tt))}
        row["speedup"] = row["torch_s"] / row["rnnfast_s"]
        rows.append(row)
        log(f"{row['model']:>12s}  L={L:<4d} rnnfast {row['rnnfast_s']:.3f} s/epoch  torch {row['torch_s']:.3f} "
            f"s/epoch  ({row['speedup']:.2f}x)")
    # The output layer's form inside a whole training epoch (SimpleRNN, shortest length).
    L = min(protocol.lengths)
    data = make_adding_data(protocol.n_train, L, _seed(seed, L, 9), dtype)
    batches = [data.batch(np.arange(s, min(s + bs, len(data)))) for s in range(0, len(data), bs)]
    form_epoch = {}
    for form in ("vector", "scalar"):
        model = build_model("simple_rnn", protocol.hidden, dtype, _seed(seed, L, 2), output_form=form)
        params = [p for _, p in model.named_parameters()]
        opt = make_optimizer(params, protocol)
        form_epoch[form] = _median_time(lambda: [train_step(model, opt, params, x, t, protocol.clip)
                                                 for x, t in batches], repeats)
    layer = time_output_layer(bs, protocol.hidden, dtype, seed=seed)
    log(f"output layer (B={bs}, H={protocol.hidden}) forward+backward: scalar {1e6 * layer['scalar']:.1f} us, "
        f"vector {1e6 * layer['vector']:.1f} us ({layer['speedup']:.0f}x); SimpleRNN epoch at L={L}: scalar "
        f"{form_epoch['scalar']:.2f} s, vector {form_epoch['vector']:.2f} s")
    return {"threads": threads, "dtype": protocol.dtype, "n_train": protocol.n_train, "batch_size": bs,
            "repeats": repeats, "epochs": rows, "output_layer": layer,
            "output_layer_epoch": {"model": "SimpleRNN", "L": L, **form_epoch}}


def write_speed(speed: dict, out: str) -> str:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "speed.json"), "w") as f:
        json.dump(speed, f, indent=1)
    path = os.path.join(out, "speed.md")
    ol, oe = speed["output_layer"], speed["output_layer_epoch"]
    with open(path, "w") as f:
        f.write(f"# Adding problem: speed ({speed['threads']} threads, {speed['dtype']}, epochs of "
                f"{speed['n_train']} sequences in batches of {speed['batch_size']}, median of {speed['repeats']})\n\n"
                "| model | L | rnnfast s/epoch | PyTorch s/epoch | PyTorch / rnnfast |\n|---|---:|---:|---:|---:|\n")
        for r in speed["epochs"]:
            f.write(f"| {r['model']} | {r['L']} | {r['rnnfast_s']:.3f} | {r['torch_s']:.3f} | {r['speedup']:.2f} |\n")
        f.write(f"\nOutput layer, one forward + backward (B={speed['batch_size']}): scalar form "
                f"{1e6 * ol['scalar']:.1f} us, vector form {1e6 * ol['vector']:.1f} us ({ol['speedup']:.0f}x).\n"
                f"SimpleRNN training epoch at L={oe['L']}: scalar output layer {oe['scalar']:.2f} s, vector "
                f"{oe['vector']:.2f} s.\n")
    return path


# ============================================================================================ CLI
def _ints(s: str) -> tuple:
    try:
        v = tuple(int(a) for a in s.split(",") if a.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}")
    if not v:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return v


def _models(s: str) -> tuple:
    v = tuple(a.strip() for a in s.split(",") if a.strip())
    bad = [a for a in v if a not in MODEL_NAMES]
    if bad or not v:
        raise argparse.ArgumentTypeError(f"unknown model(s) {bad}; choose from {','.join(MODEL_NAMES)}")
    return v


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="reference",
                   help="reference: the assignment's (50 epochs, batch 20, hidden 50, SGD lr 0.01 momentum 0.9); "
                        "strong: Adam + clipping (see docs/results.md)")
    p.add_argument("--mode", choices=("train", "speed", "all"), default="train",
                   help="train the models; time epochs against PyTorch and the output layer's forms; or both")
    p.add_argument("--lengths", type=_ints, default=None, help="sequence lengths, e.g. 10,50,70,100")
    p.add_argument("--models", type=_models, default=None, help=f"subset of {','.join(MODEL_NAMES)}")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None, help="units per recurrent layer (AlarmworkNet: per module)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--clip", type=float, default=None, help="global gradient-norm bound (0: none)")
    p.add_argument("--n-train", type=int, default=None, help="training sequences per length")
    p.add_argument("--n-test", type=int, default=None, help="test sequences per length")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None)
    p.add_argument("--output-layer", choices=("vector", "scalar"), default="vector",
                   help="form of the output layer used in training (default vector)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, weights and batch order (default 0)")
    p.add_argument("--backend", choices=("cpp", "numba", "numpy"), default=None,
                   help="rnnfast kernel backend (default: the library default)")
    p.add_argument("--threads", type=int, default=2, help="threads for rnnfast (and PyTorch in --mode speed)")
    p.add_argument("--speed-repeats", type=int, default=3, help="timed epochs per contender (median)")
    p.add_argument("--out", default=None, help="output folder (default runs/adding-<protocol>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def register(subparsers, name: str = "adding"):
    """rnnfast.cli hook: add the ``adding`` subcommand."""
    p = subparsers.add_parser(name, help="adding problem: SimpleRNN vs LSTM vs AlarmworkNet (two clock rates)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(p)


def protocol_from_args(args) -> Protocol:
    p = PROTOCOLS[args.protocol]
    over = {"lengths": args.lengths, "models": args.models, "epochs": args.epochs, "batch_size": args.batch_size,
            "hidden": args.hidden, "lr": args.lr, "n_train": args.n_train, "n_test": args.n_test, "dtype": args.dtype}
    p = replace(p, **{k: v for k, v in over.items() if v is not None})
    if args.clip is not None:
        p = replace(p, clip=args.clip or None)
    for k in ("epochs", "batch_size", "hidden", "n_train", "n_test"):
        if getattr(p, k) < 1:
            raise ValueError(f"--{k.replace('_', '-')} must be >= 1, got {getattr(p, k)}")
    if min(p.lengths) < 3:
        raise ValueError(f"--lengths must all be >= 3, got {p.lengths}")
    if p.lr <= 0:
        raise ValueError(f"--lr must be > 0, got {p.lr}")
    return p


def run(args) -> int:
    import rnnfast

    try:
        protocol = protocol_from_args(args)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")
    select_backend(args.backend)  # before the output folder exists
    if args.mode in ("speed", "all"):
        need_torch(f"--mode {args.mode}")
    rnnfast.set_num_threads(args.threads)
    out = args.out or os.path.join("runs", f"adding-{protocol.name}")
    os.makedirs(out, exist_ok=True)
    progress = not args.no_progress
    info = {"protocol": asdict(protocol), "seed": args.seed, "backend": rnnfast.get_backend(),
            "threads": args.threads, "output_layer": args.output_layer, "argv": sys.argv[1:]}
    print(f"adding problem, protocol '{protocol.name}': {protocol.describe()}; lengths {list(protocol.lengths)}; "
          f"backend {info['backend']}, {args.threads} thread(s), seed {args.seed}; output in {out}")
    if args.mode in ("train", "all"):
        t0 = time.perf_counter()
        res = run_experiment(protocol, args.seed, out, progress, args.output_layer)
        info["train_wall_s"] = time.perf_counter() - t0
        print("\nTest accuracy (|y - t| < 0.1):\n" + accuracy_table(res["results"], "text"))
        print(f"total training time {info['train_wall_s']:.0f} s; results in {out}/results.md, results.csv, "
              f"curves.png")
    if args.mode in ("speed", "all"):
        speed = time_epochs(protocol, args.threads, args.speed_repeats, args.seed, progress)
        print(f"speed results in {write_speed(speed, out)}")
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(info, f, indent=1)
    return 0


def main(argv=None) -> int:
    p = configure(argparse.ArgumentParser(prog="python -m rnnfast.apps.adding", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter))
    args = p.parse_args(argv)
    return call(args.func, args, "python -m rnnfast.apps.adding")


if __name__ == "__main__":
    sys.exit(main())
