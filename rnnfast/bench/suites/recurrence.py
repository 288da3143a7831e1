"""Recurrence suites (gru, lstm, rnn): one layer, unidirectional, with biases (PyTorch layout), whole
sequence, from one parametrised :class:`RecurrenceSuite`.

Contenders: ``torch.nn.GRU`` / ``LSTM`` / ``RNN`` (CPU; forward under ``torch.no_grad``;
forward+backward with autograd, gradients of x, the initial states and every parameter for random
upstream gradients of out and the final states; torch's float32 LSTM is oneDNN's fused kernel), each
rnnfast backend (``rnnfast.functional.<cell>_forward`` / ``<cell>_backward``, allocation included),
and the GEMM floor: the same shapes' BLAS products alone, with the BLAS the kernels use.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..floor import GemmFloor, GemmOp
from ..suite import Suite, Target

SHAPES = [(100, 1, 32, 64), (100, 16, 64, 128), (200, 32, 128, 256), (100, 64, 256, 512), (50, 128, 512, 1024)]
# the default run: latency-bound (B=1), mid-size, and the first shape where the products dominate
DEFAULT_SHAPES = SHAPES[:3]
QUICK_SHAPES = [(6, 2, 3, 4), (9, 3, 8, 16)]


class RecurrenceSuite(Suite):
    """A recurrence of ``gates`` gate blocks (GRU 3, LSTM 4, Elman RNN 1) with hidden states
    ``states`` (("h",) or ("h", "c")); ``cell`` names the torch module (GRU, LSTM, RNN) and the
    functional pair (gru_forward / gru_backward, ...)."""
    params = ("T", "B", "I", "H")
    shapes = SHAPES
    default_shapes = DEFAULT_SHAPES
    quick_shapes = QUICK_SHAPES

    def __init__(self, name, cell, gates, states, title, targets, nonlinearity=None):
        self.name, self.cell, self.gates, self.states = name, cell, gates, tuple(states)
        self.title, self.targets, self.nonlinearity = title, targets, nonlinearity
        g = f"{gates}H" if gates > 1 else "H"
        self.flops_note = f"forward F = 2*T*B*(I+H)*{g}; forward+backward 3F."
        self.floor_note = (f"forward: (T*B,I)x(I,{g}) input projection + T steps of (B,H)x(H,{g}); backward adds "
                           f"T steps of (B,{g})x({g},H), dW_ih ({g},T*B)x(T*B,I), dx (T*B,{g})x({g},I), "
                           f"dW_hh ({g},T*B)x(T*B,H). SciPy's OpenBLAS (?gemm; ?gemv when B=1), preallocated "
                           "outputs, each product in the fastest of its 8 equivalent forms (C or C^T, either "
                           "operand stored transposed).")

    def flops(self, shape):
        T, B, I, H = shape
        f = 2.0 * T * B * (I + H) * self.gates * H
        return {"fwd": f, "fwdbwd": 3 * f}

    def setup(self, shape, dtype, rng):
        T, B, I, H = shape
        G = self.gates * H
        k = 1 / np.sqrt(H)  # PyTorch's init range

        def u(*s):
            return rng.uniform(-k, k, s).astype(dtype)

        def n(*s):
            return rng.standard_normal(s).astype(dtype)

        d = SimpleNamespace(shape=shape, dtype=dtype, x=n(T, B, I))
        d.init = [n(B, H) for _ in self.states]            # h0 (, c0)
        d.w_ih, d.w_hh, d.b_ih, d.b_hh = u(G, I), u(G, H), u(G), u(G)
        d.dy = n(T, B, H)
        d.dfinal = [n(B, H) for _ in self.states]          # dh_n (, dc_n)
        return d

    def _named(self, y, final, grads=None):
        """The results by name: y, h_n (, c_n) and, with grads (dx, dstate0..., dw_ih, dw_hh, db_ih,
        db_hh), dx, dh0 (, dc0), dw_ih, dw_hh, db_ih, db_hh."""
        out = {"y": y}
        out.update({f"{s}_n": v for s, v in zip(self.states, final)})
        if grads is not None:
            dx, d0, dw = grads[0], grads[1:1 + len(self.states)], grads[1 + len(self.states):]
            out["dx"] = dx
            out.update({f"d{s}0": v for s, v in zip(self.states, d0)})
            out.update(dict(zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), dw)))
        return out

    def baseline_impl(self, d):
        import torch

        I, H = d.shape[2:]
        kw = {"nonlinearity": self.nonlinearity} if self.nonlinearity else {}
        mod = getattr(torch.nn, self.cell)(I, H, dtype=getattr(torch, d.dtype.name), **kw)
        params = [mod.weight_ih_l0, mod.weight_hh_l0, mod.bias_ih_l0, mod.bias_hh_l0]
        with torch.no_grad():
            for p, a in zip(params, (d.w_ih, d.w_hh, d.b_ih, d.b_hh)):
                p.copy_(torch.from_numpy(a))
        x = torch.from_numpy(d.x)
        init = [torch.from_numpy(a)[None] for a in d.init]
        xg = x.clone().requires_grad_(True)
        initg = [a.clone().requires_grad_(True) for a in init]
        dy, dfinal = torch.from_numpy(d.dy), [torch.from_numpy(a)[None] for a in d.dfinal]
        pack = (lambda s: tuple(s)) if len(self.states) > 1 else (lambda s: s[0])
        unpack = (lambda s: list(s)) if len(self.states) > 1 else (lambda s: [s])

        def fwd():
            with torch.no_grad():
                y, fin = mod(x, pack(init))
            return self._named(y, [f[0] for f in unpack(fin)])

        def fwdbwd():
            y, fin = mod(xg, pack(initg))
            fin = unpack(fin)
            g = torch.autograd.grad([y] + fin, [xg] + initg + params, [dy] + dfinal)
            grads = [g[0]] + [v[0] for v in g[1:1 + len(init)]] + list(g[1 + len(init):])
            return self._named(y, [f[0] for f in fin], grads)

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast import functional as F

        c = self.cell.lower()
        forward, backward = getattr(F, f"{c}_forward"), getattr(F, f"{c}_backward")
        args = (d.x, *d.init, d.w_ih, d.w_hh, d.b_ih, d.b_hh)
        kw = {"nonlinearity": self.nonlinearity} if self.nonlinearity else {}

        def fwd():
            with rnnfast.use_backend(backend):
                y, *final, _ = forward(*args, **kw)
            return self._named(y, final)

        def fwdbwd():
            with rnnfast.use_backend(backend):
                y, *final, cache = forward(*args, **kw)
                g = backward(d.dy, *d.dfinal, cache)
            grads = [g.dx] + [getattr(g, f"d{s}0") for s in self.states] + [g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]
            return self._named(y, final, grads)

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def floor_impl(self, d):
        T, B, I, H = d.shape
        G, N = self.gates * H, T * B
        # Row-major products as the kernels state them; GemmFloor times each in its fastest form.
        fwd = [GemmOp(1, N, G, I, trans_b=True),      # gates = x W_ih^T
               GemmOp(T, B, G, H, trans_b=True)]      # gates += h_t W_hh^T, per step
        bwd = [GemmOp(T, B, H, G),                    # dh += dg_t W_hh, per step
               GemmOp(1, G, I, N, trans_a=True),      # dW_ih = dg^T x
               GemmOp(1, N, I, G),                    # dx = dg W_ih
               GemmOp(1, G, H, N, trans_a=True)]      # dW_hh = dg^T h
        rng = np.random.default_rng(1)
        return {"fwd": GemmFloor(fwd, d.dtype, rng), "fwdbwd": GemmFloor(fwd + bwd, d.dtype, rng)}


# Targets: forward+backward, float32, at 1 and at 2 threads (torch and rnnfast on the same count). The
# per-step-product goals: speed-ups against torch at the small and mid shapes, and at the largest shape
# a rate of at least 70% of the large SGEMM's measured in the same run; the numba backend within 2x of
# the compiled one from (100,16,64,128) up.
_LARGE = [SHAPES[4]]


def _common(*targets):
    return [*targets, Target("cpp", "sgemm", ">=", 0.7, _LARGE, ("fwdbwd",)),
            Target("numba", "vs:cpp", "<=", 2, SHAPES[1:], ("fwdbwd",))]


GRU = RecurrenceSuite(
    "gru", "GRU", 3, ("h",), "GRU, 1 layer, unidirectional, biases, h0 given (x: T,B,I; hidden H)",
    _common(Target("cpp", "speedup", ">=", 8, [SHAPES[0]], ("fwdbwd",)),
            Target("cpp", "speedup", ">=", 4, [SHAPES[1]], ("fwdbwd",)),
            Target("cpp", "speedup", ">=", 1.3, SHAPES[2:], ("fwdbwd",)),
            Target("cpp", "floor", "<=", 1.2, SHAPES[2:], ("fwdbwd",))))
LSTM = RecurrenceSuite(
    "lstm", "LSTM", 4, ("h", "c"),
    "LSTM, 1 layer, unidirectional, biases, h0 and c0 given (x: T,B,I; hidden H)",
    _common(Target("cpp", "speedup", ">=", 3, [SHAPES[0]], ("fwdbwd",)),
            Target("cpp", "speedup", ">=", 1, SHAPES[1:], ("fwdbwd",))))
RNN = RecurrenceSuite(
    "rnn", "RNN", 1, ("h",),
    "Elman RNN (tanh), 1 layer, unidirectional, biases, h0 given (x: T,B,I; hidden H)",
    _common(Target("cpp", "speedup", ">=", 8, [SHAPES[0]], ("fwdbwd",)),
            Target("cpp", "speedup", ">=", 3, [SHAPES[1]], ("fwdbwd",)),
            Target("cpp", "speedup", ">=", 1.1, SHAPES[2:], ("fwdbwd",))),
    nonlinearity="tanh")
