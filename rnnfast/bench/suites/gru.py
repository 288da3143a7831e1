"""GRU suite: one-layer unidirectional GRU with biases (PyTorch layout, reset_after), whole sequence.

Contenders: ``torch.nn.GRU`` (CPU; forward under ``torch.no_grad``; forward+backward with autograd,
gradients of x, h0 and every parameter for random upstream gradients of out and h_n), each rnnfast
backend (``rnnfast.functional.gru_forward`` / ``gru_backward``, allocation included), and the GEMM
floor: the same shapes' BLAS products alone, with the BLAS the kernels use.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import GemmFloor, GemmOp, Suite, Target


class GRUSuite(Suite):
    name = "gru"
    title = "GRU, 1 layer, unidirectional, biases, h0 given (x: T,B,I; hidden H)"
    params = ("T", "B", "I", "H")
    shapes = [(100, 1, 32, 64), (100, 16, 64, 128), (200, 32, 128, 256), (100, 64, 256, 512),
              (50, 128, 512, 1024)]
    quick_shapes = [(6, 2, 3, 4), (9, 3, 8, 16)]
    # issue 2, all forward+backward, float32, 2 threads
    targets = [Target("cpp", "speedup", ">=", 8, [shapes[0]], ("fwdbwd",)),
               Target("cpp", "speedup", ">=", 3, [shapes[1]], ("fwdbwd",)),
               Target("cpp", "speedup", ">=", 1.1, [shapes[4]], ("fwdbwd",)),
               Target("cpp", "floor", "<=", 1.2, shapes[2:], ("fwdbwd",)),
               Target("numba", "vs:cpp", "<=", 2, shapes[1:], ("fwdbwd",))]
    flops_note = "forward F = 2*T*B*(I+H)*3H; forward+backward 3F."
    floor_note = ("forward: (T*B,I)x(I,3H) input projection + T steps of (B,H)x(H,3H); backward adds "
                  "T steps of (B,3H)x(3H,H), dW_ih (3H,T*B)x(T*B,I), dx (T*B,3H)x(3H,I), "
                  "dW_hh (3H,T*B)x(T*B,H). SciPy's OpenBLAS (?gemm; ?gemv when B=1), preallocated outputs, "
                  "each product in the "
                  "fastest of its 8 equivalent forms (C or C^T, either operand stored transposed).")

    def flops(self, shape):
        T, B, I, H = shape
        f = 2.0 * T * B * (I + H) * 3 * H
        return {"fwd": f, "fwdbwd": 3 * f}

    def setup(self, shape, dtype, rng):
        T, B, I, H = shape
        k = 1 / np.sqrt(H)  # PyTorch's init range
        u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
        n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        return SimpleNamespace(shape=shape, dtype=dtype, x=n(T, B, I), h0=n(B, H), w_ih=u(3 * H, I),
                               w_hh=u(3 * H, H), b_ih=u(3 * H), b_hh=u(3 * H), dy=n(T, B, H), dh_n=n(B, H))

    def baseline_impl(self, d):
        import torch

        T, B, I, H = d.shape
        gru = torch.nn.GRU(I, H, dtype=getattr(torch, d.dtype.name))
        with torch.no_grad():
            for p, a in zip((gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0),
                            (d.w_ih, d.w_hh, d.b_ih, d.b_hh)):
                p.copy_(torch.from_numpy(a))
        x, h0 = torch.from_numpy(d.x), torch.from_numpy(d.h0)[None]
        xg, h0g = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
        dy, dh_n = torch.from_numpy(d.dy), torch.from_numpy(d.dh_n)[None]
        params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]

        def fwd():
            with torch.no_grad():
                y, h_n = gru(x, h0)
            return {"y": y, "h_n": h_n[0]}

        def fwdbwd():
            y, h_n = gru(xg, h0g)
            g = torch.autograd.grad((y, h_n), [xg, h0g] + params, (dy, dh_n))
            return {"y": y, "h_n": h_n[0], "dx": g[0], "dh0": g[1][0], "dw_ih": g[2], "dw_hh": g[3],
                    "db_ih": g[4], "db_hh": g[5]}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast import functional as F

        args = (d.x, d.h0, d.w_ih, d.w_hh, d.b_ih, d.b_hh)

        def fwd():
            with rnnfast.use_backend(backend):
                y, h_n, _ = F.gru_forward(*args)
            return {"y": y, "h_n": h_n}

        def fwdbwd():
            with rnnfast.use_backend(backend):
                y, h_n, cache = F.gru_forward(*args)
                g = F.gru_backward(d.dy, d.dh_n, cache)
            return {"y": y, "h_n": h_n, "dx": g.dx, "dh0": g.dh0, "dw_ih": g.dw_ih, "dw_hh": g.dw_hh,
                    "db_ih": g.db_ih, "db_hh": g.db_hh}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def floor_impl(self, d):
        T, B, I, H = d.shape
        G, N = 3 * H, T * B
        # Row-major products as the brief states them; GemmFloor times each in its fastest form.
        fwd = [GemmOp(1, N, G, I, trans_b=True),      # gates = x W_ih^T
               GemmOp(T, B, G, H, trans_b=True)]      # gh = h_t W_hh^T, per step
        bwd = [GemmOp(T, B, H, G),                    # dh += dgh_t W_hh, per step
               GemmOp(1, G, I, N, trans_a=True),      # dW_ih = dgx^T x
               GemmOp(1, N, I, G),                    # dx = dgx W_ih
               GemmOp(1, G, H, N, trans_a=True)]      # dW_hh = dgh^T h
        rng = np.random.default_rng(1)
        return {"fwd": GemmFloor(fwd, d.dtype, rng), "fwdbwd": GemmFloor(fwd + bwd, d.dtype, rng)}


SUITE = GRUSuite()
