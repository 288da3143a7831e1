"""LSTM suite: one-layer unidirectional LSTM with biases (PyTorch layout, gates i, f, g, o), whole sequence.

Contenders: ``torch.nn.LSTM`` (CPU; its float32 path is oneDNN's fused LSTM, forward and backward;
forward under ``torch.no_grad``; forward+backward with autograd, gradients of x, h0, c0 and every
parameter for random upstream gradients of out, h_n and c_n), each rnnfast backend
(``rnnfast.functional.lstm_forward`` / ``lstm_backward``, allocation included), and the GEMM floor:
the same shapes' BLAS products alone, with the BLAS the kernels use.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import GemmFloor, GemmOp, Suite, Target


class LSTMSuite(Suite):
    name = "lstm"
    title = "LSTM, 1 layer, unidirectional, biases, h0 and c0 given (x: T,B,I; hidden H)"
    params = ("T", "B", "I", "H")
    shapes = [(100, 1, 32, 64), (100, 16, 64, 128), (200, 32, 128, 256), (100, 64, 256, 512),
              (50, 128, 512, 1024)]
    quick_shapes = [(6, 2, 3, 4), (9, 3, 8, 16)]
    # issue 3: forward+backward, float32, 2 threads
    targets = [Target("cpp", "speedup", ">=", 2, [shapes[0]], ("fwdbwd",)),
               Target("cpp", "speedup", ">=", 1, shapes[1:], ("fwdbwd",)),
               Target("numba", "vs:cpp", "<=", 2, shapes[1:], ("fwdbwd",))]
    flops_note = "forward F = 2*T*B*(I+H)*4H; forward+backward 3F."
    floor_note = ("forward: (T*B,I)x(I,4H) input projection + T steps of (B,H)x(H,4H); backward adds "
                  "T steps of (B,4H)x(4H,H), dW_ih (4H,T*B)x(T*B,I), dx (T*B,4H)x(4H,I), "
                  "dW_hh (4H,T*B)x(T*B,H). SciPy's OpenBLAS ?gemm, preallocated outputs, each product in the "
                  "fastest of its 8 equivalent forms (C or C^T, either operand stored transposed).")

    def flops(self, shape):
        T, B, I, H = shape
        f = 2.0 * T * B * (I + H) * 4 * H
        return {"fwd": f, "fwdbwd": 3 * f}

    def setup(self, shape, dtype, rng):
        T, B, I, H = shape
        k = 1 / np.sqrt(H)  # PyTorch's init range
        u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
        n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        return SimpleNamespace(shape=shape, dtype=dtype, x=n(T, B, I), h0=n(B, H), c0=n(B, H), w_ih=u(4 * H, I),
                               w_hh=u(4 * H, H), b_ih=u(4 * H), b_hh=u(4 * H), dy=n(T, B, H), dh_n=n(B, H),
                               dc_n=n(B, H))

    def baseline_impl(self, d):
        import torch

        T, B, I, H = d.shape
        lstm = torch.nn.LSTM(I, H, dtype=getattr(torch, d.dtype.name))
        params = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
        with torch.no_grad():
            for p, a in zip(params, (d.w_ih, d.w_hh, d.b_ih, d.b_hh)):
                p.copy_(torch.from_numpy(a))
        x, h0, c0 = torch.from_numpy(d.x), torch.from_numpy(d.h0)[None], torch.from_numpy(d.c0)[None]
        xg, h0g, c0g = (a.clone().requires_grad_(True) for a in (x, h0, c0))
        dy, dh_n, dc_n = torch.from_numpy(d.dy), torch.from_numpy(d.dh_n)[None], torch.from_numpy(d.dc_n)[None]

        def fwd():
            with torch.no_grad():
                y, (h_n, c_n) = lstm(x, (h0, c0))
            return {"y": y, "h_n": h_n[0], "c_n": c_n[0]}

        def fwdbwd():
            y, (h_n, c_n) = lstm(xg, (h0g, c0g))
            g = torch.autograd.grad((y, h_n, c_n), [xg, h0g, c0g] + params, (dy, dh_n, dc_n))
            return {"y": y, "h_n": h_n[0], "c_n": c_n[0], "dx": g[0], "dh0": g[1][0], "dc0": g[2][0],
                    "dw_ih": g[3], "dw_hh": g[4], "db_ih": g[5], "db_hh": g[6]}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast import functional as F

        args = (d.x, d.h0, d.c0, d.w_ih, d.w_hh, d.b_ih, d.b_hh)

        def fwd():
            with rnnfast.use_backend(backend):
                y, h_n, c_n, _ = F.lstm_forward(*args)
            return {"y": y, "h_n": h_n, "c_n": c_n}

        def fwdbwd():
            with rnnfast.use_backend(backend):
                y, h_n, c_n, cache = F.lstm_forward(*args)
                g = F.lstm_backward(d.dy, d.dh_n, d.dc_n, cache)
            return {"y": y, "h_n": h_n, "c_n": c_n, "dx": g.dx, "dh0": g.dh0, "dc0": g.dc0, "dw_ih": g.dw_ih,
                    "dw_hh": g.dw_hh, "db_ih": g.db_ih, "db_hh": g.db_hh}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def floor_impl(self, d):
        T, B, I, H = d.shape
        G, N = 4 * H, T * B
        fwd = [GemmOp(1, N, G, I, trans_b=True),      # gates = x W_ih^T
               GemmOp(T, B, G, H, trans_b=True)]      # gates += h_t W_hh^T, per step
        bwd = [GemmOp(T, B, H, G),                    # dh = dg_t W_hh, per step
               GemmOp(1, G, I, N, trans_a=True),      # dW_ih = dg^T x
               GemmOp(1, N, I, G),                    # dx = dg W_ih
               GemmOp(1, G, H, N, trans_a=True)]      # dW_hh = dg^T h
        rng = np.random.default_rng(1)
        return {"fwd": GemmFloor(fwd, d.dtype, rng), "fwdbwd": GemmFloor(fwd + bwd, d.dtype, rng)}


SUITE = LSTMSuite()
