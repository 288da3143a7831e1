"""Elman RNN suite: one-layer unidirectional tanh RNN with biases (PyTorch layout), whole sequence.

Contenders: ``torch.nn.RNN`` (CPU; forward under ``torch.no_grad``; forward+backward with autograd,
gradients of x, h0 and every parameter for random upstream gradients of out and h_n), each rnnfast
backend (``rnnfast.functional.rnn_forward`` / ``rnn_backward``, allocation included), and the GEMM
floor: the same shapes' BLAS products alone, with the BLAS the kernels use.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import GemmFloor, GemmOp, Suite, Target


class RNNSuite(Suite):
    name = "rnn"
    title = "Elman RNN (tanh), 1 layer, unidirectional, biases, h0 given (x: T,B,I; hidden H)"
    params = ("T", "B", "I", "H")
    shapes = [(100, 1, 32, 64), (100, 16, 64, 128), (200, 32, 128, 256), (100, 64, 256, 512),
              (50, 128, 512, 1024)]
    quick_shapes = [(6, 2, 3, 4), (9, 3, 8, 16)]
    # issue 3: forward+backward, float32, 2 threads
    targets = [Target("cpp", "speedup", ">=", 8, [shapes[0]], ("fwdbwd",)),
               Target("cpp", "speedup", ">=", 2.5, [shapes[1]], ("fwdbwd",)),
               Target("cpp", "speedup", ">=", 1, shapes, ("fwdbwd",)),
               Target("numba", "vs:cpp", "<=", 2, shapes[1:], ("fwdbwd",))]
    flops_note = "forward F = 2*T*B*(I+H)*H; forward+backward 3F."
    floor_note = ("forward: (T*B,I)x(I,H) input projection + T steps of (B,H)x(H,H); backward adds "
                  "T steps of (B,H)x(H,H), dW_ih (H,T*B)x(T*B,I), dx (T*B,H)x(H,I), "
                  "dW_hh (H,T*B)x(T*B,H). SciPy's OpenBLAS ?gemm, preallocated outputs, each product in the "
                  "fastest of its 8 equivalent forms (C or C^T, either operand stored transposed).")
    nonlinearity = "tanh"

    def flops(self, shape):
        T, B, I, H = shape
        f = 2.0 * T * B * (I + H) * H
        return {"fwd": f, "fwdbwd": 3 * f}

    def setup(self, shape, dtype, rng):
        T, B, I, H = shape
        k = 1 / np.sqrt(H)  # PyTorch's init range
        u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
        n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        return SimpleNamespace(shape=shape, dtype=dtype, x=n(T, B, I), h0=n(B, H), w_ih=u(H, I), w_hh=u(H, H),
                               b_ih=u(H), b_hh=u(H), dy=n(T, B, H), dh_n=n(B, H))

    def baseline_impl(self, d):
        import torch

        T, B, I, H = d.shape
        rnn = torch.nn.RNN(I, H, nonlinearity=self.nonlinearity, dtype=getattr(torch, d.dtype.name))
        params = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]
        with torch.no_grad():
            for p, a in zip(params, (d.w_ih, d.w_hh, d.b_ih, d.b_hh)):
                p.copy_(torch.from_numpy(a))
        x, h0 = torch.from_numpy(d.x), torch.from_numpy(d.h0)[None]
        xg, h0g = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
        dy, dh_n = torch.from_numpy(d.dy), torch.from_numpy(d.dh_n)[None]

        def fwd():
            with torch.no_grad():
                y, h_n = rnn(x, h0)
            return {"y": y, "h_n": h_n[0]}

        def fwdbwd():
            y, h_n = rnn(xg, h0g)
            g = torch.autograd.grad((y, h_n), [xg, h0g] + params, (dy, dh_n))
            return {"y": y, "h_n": h_n[0], "dx": g[0], "dh0": g[1][0], "dw_ih": g[2], "dw_hh": g[3],
                    "db_ih": g[4], "db_hh": g[5]}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast import functional as F

        args = (d.x, d.h0, d.w_ih, d.w_hh, d.b_ih, d.b_hh)
        nl = self.nonlinearity

        def fwd():
            with rnnfast.use_backend(backend):
                y, h_n, _ = F.rnn_forward(*args, nonlinearity=nl)
            return {"y": y, "h_n": h_n}

        def fwdbwd():
            with rnnfast.use_backend(backend):
                y, h_n, cache = F.rnn_forward(*args, nonlinearity=nl)
                g = F.rnn_backward(d.dy, d.dh_n, cache)
            return {"y": y, "h_n": h_n, "dx": g.dx, "dh0": g.dh0, "dw_ih": g.dw_ih, "dw_hh": g.dw_hh,
                    "db_ih": g.db_ih, "db_hh": g.db_hh}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def floor_impl(self, d):
        T, B, I, H = d.shape
        N = T * B
        fwd = [GemmOp(1, N, H, I, trans_b=True),      # a = x W_ih^T
               GemmOp(T, B, H, H, trans_b=True)]      # a += h_t W_hh^T, per step
        bwd = [GemmOp(T, B, H, H),                    # dh = dg_t W_hh, per step
               GemmOp(1, H, I, N, trans_a=True),      # dW_ih = dg^T x
               GemmOp(1, N, I, H),                    # dx = dg W_ih
               GemmOp(1, H, H, N, trans_a=True)]      # dW_hh = dg^T h
        rng = np.random.default_rng(1)
        return {"fwd": GemmFloor(fwd, d.dtype, rng), "fwdbwd": GemmFloor(fwd + bwd, d.dtype, rng)}


SUITE = RNNSuite()
