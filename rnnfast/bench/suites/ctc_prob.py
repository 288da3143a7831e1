"""Probability-space CTC with MyTorch semantics (``rnnfast.ctc_prob.prob_ctc_loss``: expected-divergence
loss and dY in one pass) against a plain NumPy implementation of MyTorch's ``CTCLoss`` (the handout's
per-item loop: raw alpha and beta recursions vectorised over the extended-label states, posteriors,
loss, then the dY scatter), float64 as MyTorch. Probabilities are softmax of random logits; targets
random non-blank labels of length S; input lengths T. The first shape is the HW3P1 bonus's
(train_end2end: T=15, B=3, 5 symbols)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from ..suite import Suite


def _plain_ctc_loss(y, targets, il, tl, blank=0):
    """MyTorch CTCLoss forward + backward, written plainly with NumPy: (mean loss, dY)."""
    B = y.shape[1]
    dY = np.zeros_like(y)
    total = 0.0
    for b in range(B):
        tgt = targets[b, :tl[b]]
        ext = np.full(2 * len(tgt) + 1, blank)
        ext[1::2] = tgt
        S = len(ext)
        skip = np.zeros(S, bool)
        skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
        ye = y[:il[b], b][:, ext]
        Tb = ye.shape[0]
        alpha, beta = np.zeros((Tb, S)), np.zeros((Tb, S))
        alpha[0, :2] = ye[0, :2]
        for t in range(1, Tb):
            a = alpha[t - 1].copy()
            a[1:] += alpha[t - 1, :-1]
            a[2:] += np.where(skip[2:], alpha[t - 1, :-2], 0)
            alpha[t] = a * ye[t]
        beta[-1, -2:] = 1
        for t in range(Tb - 2, -1, -1):
            n = beta[t + 1] * ye[t + 1]
            v = n.copy()
            v[:-1] += n[1:]
            v[:-2] += np.where(skip[2:], n[2:], 0)
            beta[t] = v
        ab = alpha * beta
        gamma = ab / ab.sum(axis=1, keepdims=True)
        total -= (gamma * np.log(ye)).sum()
        contrib = gamma / ye
        for s, k in enumerate(ext):
            dY[:Tb, b, k] -= contrib[:, s]
    return total / B, dY


class CTCProbSuite(Suite):
    name = "ctc_prob"
    title = "MyTorch CTCLoss (probability space, expected divergence) loss + dY, float64 (y: T,B,C; targets: B,S)"
    params = ("T", "B", "C", "S")
    shapes: ClassVar[list] = [(15, 3, 5, 7), (50, 8, 28, 10), (150, 16, 29, 40)]
    default_shapes: ClassVar[list] = [shapes[0], shapes[2]]  # the HW3P1 bonus's size and a larger batch
    quick_shapes: ClassVar[list] = [(12, 2, 5, 3)]
    passes = ("fwdbwd",)
    baseline = "numpy-plain"
    err_tol: ClassVar[dict] = {"float32": 1e-9, "float64": 1e-9}

    def setup(self, shape, dtype, rng):
        T, B, C, S = shape
        x = rng.standard_normal((T, B, C))
        e = np.exp(x - x.max(-1, keepdims=True))
        return SimpleNamespace(y=e / e.sum(-1, keepdims=True), targets=rng.integers(1, C, (B, S)),
                               il=np.full(B, T, np.int64), tl=np.full(B, S, np.int64))

    def baseline_impl(self, d):
        def run():
            loss, dY = _plain_ctc_loss(d.y, d.targets, d.il, d.tl)
            return {"loss": np.array(loss), "dY": dY}
        return {"fwdbwd": run}

    def backend_impl(self, d, backend):
        import rnnfast
        from rnnfast.ctc_prob import prob_ctc_loss

        def run():
            with rnnfast.use_backend(backend):
                loss, dY = prob_ctc_loss(d.y, d.targets, d.il, d.tl)
            return {"loss": np.array(loss.mean()), "dY": dY}
        return {"fwdbwd": run}


SUITE = CTCProbSuite()
