"""CTC suite: loss (forward) and loss+gradient (forward+backward), reduction "mean", against
``torch.nn.functional.ctc_loss`` on CPU (forward under ``torch.no_grad``; forward+backward with
autograd for log_probs). log_probs are log_softmax of random logits; targets random non-blank
labels of length S; input lengths T; no GEMM floor (there are no matrix products).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from ..suite import Suite, Target


class CTCSuite(Suite):
    name = "ctc"
    title = "CTC loss, reduction mean (log_probs: T,B,C; targets: B,S)"
    params = ("T", "B", "C", "S")
    shapes: ClassVar[list] = [(50, 1, 28, 10), (200, 16, 29, 40), (500, 32, 41, 100), (1000, 8, 100, 200)]
    default_shapes: ClassVar[list] = [shapes[0], shapes[2]]  # latency-bound (B=1) and a large batch
    quick_shapes: ClassVar[list] = [(12, 2, 5, 3), (20, 3, 6, 5)]
    targets: ClassVar[list] = [Target("cpp", "speedup", ">=", 1.5, [shapes[0]], ("fwdbwd",)),
                               Target("cpp", "speedup", ">=", 3, shapes[1:], ("fwdbwd",)),
                               Target("numba", "vs:cpp", "<=", 2, shapes, ("fwdbwd",))]
    err_tol: ClassVar[dict] = {"float32": 1e-3, "float64": 1e-9}

    def setup(self, shape, dtype, rng):
        T, B, C, S = shape
        x = rng.standard_normal((T, B, C)).astype(dtype)
        lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
        return SimpleNamespace(shape=shape, dtype=dtype, lp=lp, targets=rng.integers(1, C, (B, S)),
                               il=np.full(B, T, np.int64), tl=np.full(B, S, np.int64))

    def baseline_impl(self, d):
        import torch

        lp = torch.from_numpy(d.lp)
        tg, il, tl = (torch.from_numpy(a) for a in (d.targets, d.il, d.tl))
        f = torch.nn.functional.ctc_loss

        def fwd():
            with torch.no_grad():
                return {"loss": f(lp, tg, il, tl)}

        def fwdbwd():
            lpg = lp.clone().requires_grad_(True)
            loss = f(lpg, tg, il, tl)
            (g,) = torch.autograd.grad(loss, [lpg])
            return {"loss": loss, "grad": g}

        return {"fwd": fwd, "fwdbwd": fwdbwd}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast.ctc import ctc_loss

        def fwd():
            with rnnfast.use_backend(backend):
                return {"loss": ctc_loss(d.lp, d.targets, d.il, d.tl)}

        def fwdbwd():
            with rnnfast.use_backend(backend):
                loss, g = ctc_loss(d.lp, d.targets, d.il, d.tl, return_grad=True)
            return {"loss": loss, "grad": g}

        return {"fwd": fwd, "fwdbwd": fwdbwd}


SUITE = CTCSuite()


class CTCBeamSuite(Suite):
    """Prefix beam search (no LM), top 1, against the readable Python/NumPy reference (the
    ``numpy`` backend's kernel): T=200, C=29, beam 10, B=16."""
    name = "ctc_beam"
    title = "CTC prefix beam search, beam 10, top 1 (log_probs: T,B,C)"
    params = ("T", "B", "C", "W")
    shapes: ClassVar[list] = [(200, 16, 29, 10)]
    default_shapes = shapes
    quick_shapes: ClassVar[list] = [(12, 2, 5, 3)]
    passes = ("decode",)
    baseline = "reference"
    targets: ClassVar[list] = [Target("cpp", "speedup", ">=", 50, shapes)]
    err_tol: ClassVar[dict] = {"float32": 1e-5, "float64": 1e-12}

    def setup(self, shape, dtype, rng):
        T, B, C, W = shape
        x = rng.standard_normal((T, B, C)).astype(dtype) * 3
        lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
        return SimpleNamespace(shape=shape, lp=lp, il=np.full(B, T, np.int64), W=W)

    @staticmethod
    def _run(d, backend):
        import rnnfast
        from rnnfast.ctc import beam_search

        with rnnfast.use_backend(backend):
            out = beam_search(d.lp, d.il, beam_width=d.W)
        return {"score": np.array([o[0][1] for o in out]),
                "labels": np.array([sum(o[0][0]) + len(o[0][0]) for o in out], np.float64)}

    def baseline_impl(self, d):
        return {"decode": lambda: self._run(d, "numpy")}

    def backend_impl(self, d, backend):
        return {"decode": lambda: self._run(d, backend)}

    def contenders(self, data, backends, unavailable):
        # the numpy backend IS the reference: time it once, as the baseline
        return super().contenders(data, [b for b in backends if b != "numpy"], unavailable)


BEAM_SUITE = CTCBeamSuite()
