"""torch_bridge suite: PyTorch models on torch's layers against the same models converted to rnnfast.torch
(``rnnfast.torch.convert``), same process, same threads, same weights and data.

Cases (``case`` is the first shape value):

* 0 ``gru_ctc``: a training step (forward, backward, Adam step) of a 2-layer bidirectional GRU (I features,
  hidden H) + Linear (29 classes) + log_softmax + CTC loss on (T, B) input, targets of T/5 labels;
* 1 ``lstm_lm``: a training step of a word language model: Embedding(V, H) + 1-layer LSTM (H) +
  Linear(H, V) + cross entropy on (T, B) token ids, SGD;
* 2 ``gru_stream``: streaming inference of a 1-layer GRU, B = 1, one time step per call with the state
  carried, T steps per timed call (``torch.no_grad``); per step = time / T;
* 3 ``overhead``: forward + backward of one GRU layer through the bridge (``rnnfast.torch.GRU``, autograd)
  against the same kernels called directly (``rnnfast.functional.gru_forward`` / ``gru_backward``): the
  bridge's own cost (views, autograd bookkeeping) is the ratio ``cpp / kernel`` - 1.

Contenders: ``torch`` (the baseline), the converted model on each compiled rnnfast backend (``cpp``,
``numba``; the ``numpy`` reference is far too slow for these sizes and is left out), and ``kernel`` (case 3).
The training steps change the weights at every call, so they return no results to compare; the bridge's
correctness is tested in python_tests/test_torch_*.py.
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np

from ..common import Suite, Target

CASES = ("gru_ctc", "lstm_lm", "gru_stream", "overhead")
CLASSES = 29
_COMPILED = ("cpp", "numba")


class TorchBridgeSuite(Suite):
    name = "torch_bridge"
    title = "PyTorch models: torch layers vs rnnfast.torch (convert), training steps, streaming, bridge overhead"
    params = ("case", "T", "B", "I", "H", "V")
    shapes = [  # noqa: RUF012 (the Suite interface's class attributes)
        (0, 200, 16, 80, 256, 0), (1, 35, 20, 256, 256, 10000), (2, 100, 1, 256, 256, 0),
        (3, 100, 16, 64, 128, 0)]
    quick_shapes = [  # noqa: RUF012
        (0, 10, 2, 5, 8, 0), (1, 5, 2, 8, 8, 50), (2, 5, 1, 8, 8, 0), (3, 6, 2, 3, 4, 0)]
    passes = ("step",)
    targets = [  # noqa: RUF012
        Target("cpp", "speedup", ">=", 2, [shapes[0]]), Target("cpp", "speedup", ">=", 1, [shapes[1]]),
        Target("cpp", "speedup", ">=", 5, [shapes[2]]), Target("cpp", "vs:kernel", "<=", 1.10, [shapes[3]])]
    flops_note = "not counted (whole training steps)."

    def label(self, shape) -> str:
        return CASES[shape[0]] + " " + " ".join(f"{p}={v}" for p, v in zip(self.params[1:], shape[1:]) if v)

    def setup(self, shape, dtype, rng):
        import torch

        kind, T, B, I, H, V = shape
        if kind not in range(len(CASES)):
            raise ValueError(f"case {kind}: expected 0..{len(CASES) - 1} ({', '.join(CASES)})")
        tdt = getattr(torch, np.dtype(dtype).name)
        torch.manual_seed(int(rng.integers(1 << 30)))
        g = torch.Generator().manual_seed(int(rng.integers(1 << 30)))
        d = SimpleNamespace(kind=CASES[kind], shape=shape, tdt=tdt)
        if d.kind == "gru_ctc":
            d.model = _GRUCTC(I, H, tdt)
            d.x = torch.randn(T, B, I, generator=g, dtype=tdt)
            S = max(1, T // 5)
            d.targets = torch.randint(1, CLASSES, (B, S), generator=g)
            d.il = torch.full((B,), T, dtype=torch.int64)
            d.tl = torch.full((B,), S, dtype=torch.int64)
        elif d.kind == "lstm_lm":
            d.model = _LSTMLM(V, H, tdt)
            d.tokens = torch.randint(0, V, (T + 1, B), generator=g)
        elif d.kind == "gru_stream":
            d.model = torch.nn.GRU(I, H, dtype=tdt)
            d.x = torch.randn(T, 1, B, I, generator=g, dtype=tdt)  # T steps of (1, B, I)
            d.h0 = torch.zeros(1, B, H, dtype=tdt)
        else:
            d.model = torch.nn.GRU(I, H, dtype=tdt)
            d.x = torch.randn(T, B, I, generator=g, dtype=tdt).requires_grad_(True)
            d.h0 = torch.randn(1, B, H, generator=g, dtype=tdt).requires_grad_(True)
            d.dy = torch.randn(T, B, H, generator=g, dtype=tdt)
            d.dh = torch.randn(1, B, H, generator=g, dtype=tdt)
        return d

    def _impl(self, d, model):
        import torch

        if d.kind == "gru_ctc":
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)

            def step():
                opt.zero_grad()
                model(d.x, d.targets, d.il, d.tl).backward()
                opt.step()
        elif d.kind == "lstm_lm":
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)

            def step():
                opt.zero_grad()
                model(d.tokens[:-1], d.tokens[1:]).backward()
                opt.step()
        elif d.kind == "gru_stream":
            def step():
                h = d.h0
                with torch.no_grad():
                    for xt in d.x:
                        _, h = model(xt, h)
                return {"h": h}
        else:
            params = list(model.parameters())

            def step():
                y, h = model(d.x, d.h0)
                g = torch.autograd.grad((y, h), [d.x, d.h0] + params, (d.dy, d.dh))
                return {"y": y, "h_n": h, "dx": g[0], "dh0": g[1], "dw_ih": g[2], "dw_hh": g[3]}
        return {"step": step}

    def baseline_impl(self, d):
        return self._impl(d, copy.deepcopy(d.model))

    def backend_impl(self, d, backend):
        import rnnfast
        import rnnfast.torch as rt

        inner = self._impl(d, rt.convert(copy.deepcopy(d.model)))["step"]

        def step():
            with rnnfast.use_backend(backend):
                return inner()
        return {"step": step}

    def kernel_impl(self, d):
        """The same GRU forward + backward on the kernels directly (case 3)."""
        from rnnfast import functional as F

        m = d.model
        w = [p.detach().numpy() for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)]
        x, h0 = d.x.detach().numpy(), d.h0.detach().numpy()[0]
        dy, dh = d.dy.numpy(), d.dh.numpy()[0]

        def step():
            y, h_n, cache = F.gru_forward(x, h0, *w)
            g = F.gru_backward(dy, dh, cache)
            return {"y": y, "h_n": h_n[None], "dx": g.dx, "dh0": g.dh0[None], "dw_ih": g.dw_ih, "dw_hh": g.dw_hh}
        return {"step": step}

    def contenders(self, data, backends, unavailable):
        backends = [b for b in backends if b in _COMPILED]
        out = super().contenders(data, backends, unavailable)
        if data.kind == "overhead":
            out["kernel"] = self.kernel_impl(data)
        return out


def _GRUCTC(I, H, dtype):
    import torch

    class GRUCTC(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(I, H, num_layers=2, bidirectional=True, dtype=dtype)
            self.fc = torch.nn.Linear(2 * H, CLASSES, dtype=dtype)
            self.ctc = torch.nn.CTCLoss(zero_infinity=True)

        def forward(self, x, targets, il, tl):
            y, _ = self.rnn(x)
            return self.ctc(self.fc(y).log_softmax(2), targets, il, tl)
    return GRUCTC()


def _LSTMLM(V, H, dtype):
    import torch

    class LSTMLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, H, dtype=dtype)
            self.rnn = torch.nn.LSTM(H, H, dtype=dtype)
            self.fc = torch.nn.Linear(H, V, dtype=dtype)

        def forward(self, tokens, next_tokens):
            y, _ = self.rnn(self.emb(tokens))
            return torch.nn.functional.cross_entropy(self.fc(y).flatten(0, 1), next_tokens.flatten())
    return LSTMLM()


SUITE = TorchBridgeSuite()

if __name__ == "__main__":  # python -m rnnfast.bench.suites.torch_bridge [--quick] [--threads N] [case ...]
    import argparse

    from ..common import Options, run_suite

    ap = argparse.ArgumentParser(description="the torch_bridge suite alone (cpp backend)")
    ap.add_argument("cases", nargs="*", type=int, help=f"case numbers 0..{len(CASES) - 1} (default all)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    run_suite(SUITE, Options(quick=a.quick, backends=["cpp"], threads=a.threads,
                             shapes=[SUITE.shapes[c] for c in a.cases] or None))
