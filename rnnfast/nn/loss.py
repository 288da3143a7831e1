"""Losses with PyTorch's semantics and explicit backward passes: CrossEntropyLoss (class-index
targets, ignore_index, label_smoothing, class weights), MSELoss, CTCLoss.

``loss = crit(input, target)`` then ``dinput = crit.backward(dloss=1.0)``."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._validate import as_float_array
from ._module import Module
from .layers import log_softmax

__all__ = ["CrossEntropyLoss", "MSELoss", "CTCLoss", "softmax_cross_entropy_"]
_REDUCTIONS = ("none", "sum", "mean")


def softmax_cross_entropy_(logits: np.ndarray, targets: np.ndarray, bias_grad: Optional[np.ndarray] = None,
                           block_rows: int = 32):
    """Mean cross-entropy of class-index ``targets`` under ``softmax(logits)``, and its gradient,
    written over ``logits`` IN PLACE (no temporary of the logits' size).

    Equals ``torch.nn.functional.cross_entropy(logits, targets)`` (reduction "mean") and its
    gradient ``(softmax(logits) - onehot(targets)) / N``. The rows are processed in blocks of
    ``block_rows`` so that the max, exp, sum and scaling passes of a block run while it is in
    cache. The loss is accumulated in float64.

    Parameters
    ----------
    logits : (N, C) float32 or float64, C-contiguous; overwritten by the gradient.
    targets : (N,) integers in [0, C).
    bias_grad : optional (C,) array of the logits' dtype; the gradient's column sums (the
        gradient of a bias added to every row of the logits) are ADDED to it.
    block_rows : rows per cache block.

    Returns
    -------
    loss : float
    grad : the ``logits`` array, now holding d loss / d logits.
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.dtype not in (np.float32, np.float64):
        raise TypeError(f"logits: expected a 2-D float32/float64 array, got "
                        f"{getattr(logits, 'shape', None)} {getattr(logits, 'dtype', type(logits).__name__)}")
    if not logits.flags.c_contiguous:
        raise ValueError("logits: expected a C-contiguous array (it is overwritten by the gradient)")
    N, C = logits.shape
    t = np.asarray(targets)
    if t.dtype.kind not in "iu" or t.shape != (N,):
        raise ValueError(f"targets: expected integers of shape ({N},), got {t.shape} {t.dtype}")
    if N == 0:
        raise ValueError("logits: need at least one row")
    if t.min() < 0 or t.max() >= C:
        raise ValueError(f"targets: class indices must be in [0, {C}), got min {t.min()}, max {t.max()}")
    if bias_grad is not None and (bias_grad.shape != (C,) or bias_grad.dtype != logits.dtype):
        raise ValueError(f"bias_grad: expected shape ({C},) {logits.dtype}, got {bias_grad.shape} {bias_grad.dtype}")
    dt = logits.dtype.type
    inv_n = 1.0 / N
    total = 0.0
    nb = max(1, int(block_rows))
    m = np.empty((nb, 1), logits.dtype)
    s = np.empty((nb, 1), logits.dtype)
    for r0 in range(0, N, nb):
        r1 = min(N, r0 + nb)
        k = r1 - r0
        blk, tb, mb, sb = logits[r0:r1], t[r0:r1], m[:k], s[:k]
        rows = np.arange(k)
        np.max(blk, axis=1, keepdims=True, out=mb)
        blk -= mb
        total -= float(blk[rows, tb].sum(dtype=np.float64))   # - z of the targets
        np.exp(blk, out=blk)
        np.sum(blk, axis=1, keepdims=True, out=sb)
        total += float(np.log(sb.astype(np.float64)).sum())
        np.divide(dt(inv_n), sb, out=sb)                       # softmax / N
        blk *= sb
        blk[rows, tb] -= dt(inv_n)
        if bias_grad is not None:
            bias_grad += blk.sum(0)
    return total * inv_n, logits


def _check_reduction(r):
    if r not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {r!r}")
    return r


class CrossEntropyLoss(Module):
    """``torch.nn.CrossEntropyLoss`` with class-index targets.

    input: logits (N, C), (N, C, d1, ...) or (C,); target: ints (N,), (N, d1, ...) or ().
    ``weight`` (C,) rescales each class; targets equal to ``ignore_index`` contribute nothing;
    ``label_smoothing`` eps mixes the one-hot target with the uniform distribution. "mean"
    divides by the summed weight of the non-ignored targets, as torch.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self._cache = None

    def _flatten(self, x, t):
        x = as_float_array("input", x)
        t = np.asarray(t)
        if t.dtype.kind not in "iu":
            raise TypeError(f"target: expected class indices (integers), got dtype {t.dtype}")
        if x.ndim == 1:  # unbatched (C,)
            x, t = x[None], t.reshape(1)
        if x.ndim < 2 or t.shape != (x.shape[0],) + x.shape[2:]:
            raise ValueError(f"target: expected shape {(x.shape[0],) + x.shape[2:]} for input of shape {x.shape}, "
                             f"got {t.shape}")
        C = x.shape[1]
        x2 = np.moveaxis(x, 1, -1).reshape(-1, C)
        t2 = t.reshape(-1).astype(np.int64)
        valid = t2 != self.ignore_index
        bad = valid & ((t2 < 0) | (t2 >= C))
        if bad.any():
            raise ValueError(f"target: class indices must be in [0, C={C}) (or ignore_index={self.ignore_index}), "
                             f"got {t2[bad][0]}")
        return x, x2, t2, valid

    def forward(self, input, target):
        unbatched = np.ndim(input) == 1
        x, x2, t2, valid = self._flatten(input, target)
        N, C = x2.shape
        dt = x2.dtype
        w = np.ones(C, dt) if self.weight is None else self.weight.astype(dt)
        if w.shape != (C,):
            raise ValueError(f"weight: expected shape ({C},), got {w.shape}")
        logp = log_softmax(x2, -1)
        ts = np.where(valid, t2, 0)
        wy = np.where(valid, w[ts], 0).astype(dt)               # weight of each target (0 if ignored)
        eps = self.label_smoothing
        nll = -logp[np.arange(N), ts]
        smooth = -(logp * w).sum(1)
        per = np.where(valid, (1 - eps) * wy * nll + eps / C * smooth, 0).astype(dt)
        denom = wy.sum() if self.reduction == "mean" else dt.type(1)
        self._cache = (x.shape, logp, ts, valid, wy, w, denom, dt, unbatched)
        if self.reduction == "none":
            per = per.reshape((x.shape[0],) + x.shape[2:])
            return per[0] if unbatched else per
        s = per.sum(dtype=dt)
        return np.asarray(s / denom if self.reduction == "mean" else s, dt)

    def backward(self, dloss=1.0):
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        shape, logp, ts, valid, wy, w, denom, dt, unbatched = self._cache
        N, C = logp.shape
        eps = self.label_smoothing
        p = np.exp(logp)
        g = p * ((1 - eps) * wy + eps / C * w.sum() * valid)[:, None] - eps / C * w[None, :] * valid[:, None]
        g[np.arange(N), ts] -= (1 - eps) * wy
        if self.reduction == "none":
            up = np.broadcast_to(np.asarray(dloss, dt).reshape(-1) if unbatched else np.asarray(dloss, dt),
                                 (N,) if unbatched else (shape[0],) + shape[2:])
            g *= up.reshape(-1)[:, None]
        else:
            g *= dt.type(np.asarray(dloss)) / denom
        g = g.astype(dt, copy=False)
        if len(shape) == 2:
            return g[0] if unbatched else g
        return np.moveaxis(g.reshape((shape[0],) + shape[2:] + (C,)), -1, 1)


class MSELoss(Module):
    """Mean squared error, as ``torch.nn.MSELoss``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self._d = None

    def forward(self, input, target):
        x = as_float_array("input", input)
        t = as_float_array("target", target, None, x.dtype)
        if t.shape != x.shape:
            raise ValueError(f"target: expected shape {x.shape}, got {t.shape}")
        self._d = x - t
        sq = self._d * self._d
        if self.reduction == "none":
            return sq
        s = sq.sum(dtype=x.dtype)
        return np.asarray(s / x.size if self.reduction == "mean" else s, x.dtype)

    def backward(self, dloss=1.0):
        if self._d is None:
            raise RuntimeError("MSELoss.backward called before forward")
        g = 2 * self._d * np.asarray(dloss, self._d.dtype)
        return g / self._d.size if self.reduction == "mean" else g


class CTCLoss(Module):
    """``torch.nn.CTCLoss`` on rnnfast's CTC kernels: ``loss = crit(log_probs, targets,
    input_lengths, target_lengths)``; ``backward(dloss=1.0)`` returns d loss / d log_probs (which
    is also the gradient w.r.t. the logits when log_probs came from log_softmax)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__()
        self.blank = int(blank)
        self.reduction = _check_reduction(reduction)
        self.zero_infinity = bool(zero_infinity)
        self._grad = None

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        from ..ctc import ctc_loss

        loss, self._grad = ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                                    reduction=self.reduction, zero_infinity=self.zero_infinity, return_grad=True)
        return loss

    def backward(self, dloss=1.0):
        if self._grad is None:
            raise RuntimeError("CTCLoss.backward called before forward")
        g = self._grad
        d = np.asarray(dloss, g.dtype)
        if self.reduction == "none" and d.ndim == 1:  # per-item upstream (B,)
            return g * (d[None, :, None] if g.ndim == 3 else d)
        return g * d
