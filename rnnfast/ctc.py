"""Connectionist temporal classification: loss and gradient (PyTorch semantics) on rnnfast's
kernels, and decoding (greedy, prefix beam search).

    loss, grad = rnnfast.ctc.ctc_loss(log_probs, targets, input_lengths, target_lengths,
                                      reduction="mean", return_grad=True)

``grad`` is what ``torch.nn.functional.ctc_loss(...).backward()`` leaves in ``log_probs.grad``:
``exp(log_probs) - posterior``, scaled by the reduction. When ``log_probs`` came from
``log_softmax(logits)`` it is also the gradient with respect to ``logits``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _backend, _contract
from ._validate import as_batch_lengths, as_float_array, as_int_array, as_int_scalar

__all__ = ["ctc_loss", "ctc_loss_from_logits", "log_softmax", "greedy_decode", "beam_search"]

_REDUCTIONS = ("none", "sum", "mean")
_INT32_MAX = 2**31 - 1  # top_k sizes the output arrays (B, top_k, T)
_INT64_MAX = 2**63 - 1  # beam_width: any width; the kernels cap it by the distinct prefixes
_alloc_ctc_loss = _contract.allocator("ctc_loss")
_alloc_beam = _contract.allocator("ctc_beam_search")


def _int_array(name, a, ndim=None):
    """Integer labels (whole-number floats accepted, as torch casts targets)."""
    return as_int_array(name, a, ndim, integral_floats=True)


def _prepare(log_probs, targets, input_lengths, target_lengths, blank):
    """Validated (log_probs (T,B,C), padded targets (B,Smax), input_lengths, target_lengths, unbatched)."""
    lp = as_float_array("log_probs", log_probs, (2, 3))
    if lp.size == 0:  # as torch: "log_probs tensor must not be empty"
        raise ValueError(f"log_probs must not be empty, got shape {lp.shape}")
    unbatched = lp.ndim == 2
    if unbatched:  # (T, C) with targets (S,), as torch accepts
        lp = lp[:, None, :]
    T, B, C = lp.shape
    blank = as_int_scalar("blank", blank)
    if not 0 <= blank < C:
        raise ValueError(f"blank = {blank} is outside [0, C={C}) for log_probs of shape {lp.shape}")
    what = f"(one per batch item of log_probs {lp.shape})"
    il = as_batch_lengths("input_lengths", input_lengths, B, upper=T, what=what)
    tl = as_batch_lengths("target_lengths", target_lengths, B, what=what)
    tg = _int_array("targets", targets, (1, 2))
    if unbatched and tg.ndim == 1:
        tg = tg[None, :]
    if tg.ndim == 1:  # concatenated targets
        if tg.shape[0] != tl.sum():
            raise ValueError(f"targets: 1-D (concatenated) targets must have sum(target_lengths) = {tl.sum()} "
                             f"entries, got {tg.shape[0]}")
        Smax = int(tl.max()) if B else 0
        padded = np.full((B, Smax), blank, np.int64)
        off = np.concatenate([[0], np.cumsum(tl)])
        for b in range(B):
            padded[b, :tl[b]] = tg[off[b]:off[b + 1]]
        tg = padded
    else:
        if tg.shape[0] != B:
            raise ValueError(f"targets: expected {B} rows (one per batch item), got shape {tg.shape}")
        if tl.size and tl.max() > tg.shape[1]:
            raise ValueError(f"target_lengths: max {tl.max()} exceeds the padded target length "
                             f"{tg.shape[1]} (targets of shape {tg.shape})")
    used = np.arange(tg.shape[1])[None, :] < tl[:, None]
    bad = used & ((tg < 0) | (tg >= C) | (tg == blank))
    if bad.any():
        b, i = map(int, np.argwhere(bad)[0])
        raise ValueError(f"targets[{b}, {i}] = {tg[b, i]}: labels must be in [0, C={C}) and differ from "
                         f"blank={blank}")
    return np.ascontiguousarray(lp), np.ascontiguousarray(tg), il, tl, unbatched


def ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False, return_grad: bool = False):
    """CTC negative log-likelihood, as ``torch.nn.functional.ctc_loss``.

    Parameters
    ----------
    log_probs : (T, B, C) float32/float64 log-probabilities (e.g. log_softmax outputs); (T, C) unbatched
    targets : (B, S) padded int labels, or 1-D concatenated (sum(target_lengths),)
    input_lengths, target_lengths : (B,) ints; 0 <= input_lengths <= T
    blank : index of the blank class
    reduction : "none" (per item, (B,)), "sum", or "mean" (each loss divided by its target length
        (at least 1), then averaged over the batch)
    zero_infinity : infeasible items (no alignment fits in their input length) get loss 0 and a
        zero gradient instead of inf
    return_grad : also return the gradient (T, B, C), computed in the same pass

    Returns
    -------
    loss (a 0-d array for "sum"/"mean", (B,) for "none"), and ``grad`` if ``return_grad``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    lp, tg, il, tl, unbatched = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    T, B, C = lp.shape
    dt = lp.dtype
    _, fn = _backend.kernel("ctc_loss")
    with np.errstate(invalid="ignore"):
        total = np.add.reduce(lp, axis=None)  # one pass, no temporary
    if total != total or total == np.inf:  # a NaN, or a +inf (alone, or meeting a -inf)
        # NaN/+inf log-probs: the NumPy reference kernel carries them through every lattice state, as
        # torch does (the compiled kernels skip states no path reaches, so a NaN there never shows)
        _, fn = _backend.kernel("ctc_loss", "numpy")
    loss, grad = _alloc_ctc_loss(dt, T=T, B=B, C=C, return_grad=return_grad)
    if reduction == "mean":
        scale = (1.0 / (np.maximum(tl, 1) * max(B, 1))).astype(dt)
    else:
        scale = np.ones(B, dt)
    fn(loss, grad, lp, tg, il, tl, scale, int(blank), bool(zero_infinity))
    if reduction == "none":
        out = loss[0] if unbatched else loss
    elif reduction == "sum":
        out = loss.sum(dtype=dt)
    else:
        # sum / B is what .mean does, without its Python-level overhead (~3 us of a 20 us call)
        out = (loss / np.maximum(tl, 1).astype(dt)).sum(dtype=dt) / dt.type(B) if B else dt.type(np.nan)
    out = np.asarray(out, dt)
    if not return_grad:
        return out
    return out, (grad[:, 0] if unbatched else grad)


def log_softmax(x, axis: int = -1):
    """Numerically stable log-softmax of ``x`` (any shape, float32/float64) along ``axis``, in x's dtype
    (an empty array gives an empty array, as torch.log_softmax does)."""
    x = as_float_array("x", x)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape}")
    if x.size == 0 or x.ndim == 0:
        return np.zeros_like(x) if x.ndim == 0 else x.copy()
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def ctc_loss_from_logits(logits, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
                         zero_infinity: bool = False, return_grad: bool = False):
    """:func:`ctc_loss` on unnormalised activations (T, B, C): the softmax is done inside (as
    warp-ctc does); the returned gradient is with respect to ``logits``."""
    logits = as_float_array("logits", logits, (2, 3))  # named here: ctc_loss would name its own log_probs
    if logits.size == 0:
        raise ValueError(f"logits must not be empty, got shape {logits.shape}")
    return ctc_loss(log_softmax(logits), targets, input_lengths, target_lengths, blank=blank, reduction=reduction,
                    zero_infinity=zero_infinity, return_grad=return_grad)


# ---------------------------------------------------------------------------------------- decoding
def _decode_inputs(log_probs, input_lengths, blank):
    """(log_probs (T,B,C), input_lengths (B,), blank); a scalar input_lengths is accepted for unbatched
    (T, C) input or a batch of one, as :func:`ctc_loss` accepts it."""
    lp = as_float_array("log_probs", log_probs, (2, 3))
    if lp.ndim == 2:
        lp = lp[:, None, :]
    T, B, C = lp.shape
    il = as_batch_lengths("input_lengths", np.full(B, T) if input_lengths is None else input_lengths, B, upper=T)
    blank = as_int_scalar("blank", blank)
    if not 0 <= blank < C:
        raise ValueError(f"blank = {blank} is outside [0, C={C})")
    return lp, il, blank


def greedy_decode(log_probs, input_lengths=None, *, blank: int = 0) -> list:
    """Best path per item: the most probable class of each frame (within the input length),
    repeats collapsed, blanks removed. Returns a list of B label lists."""
    lp, il, blank = _decode_inputs(log_probs, input_lengths, blank)
    best = lp.argmax(axis=2)  # (T, B)
    out = []
    for b in range(lp.shape[1]):
        path = best[:il[b], b]
        keep = np.ones(path.shape, bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([int(c) for c in path[keep] if c != blank])
    return out


def beam_search(log_probs, input_lengths=None, *, beam_width: int = 10, blank: int = 0, top_k: int = 1,
                lm: Optional[Union[dict, Callable]] = None, alpha: float = 0.0, beta: float = 0.0) -> list:
    """CTC prefix beam search (Hannun et al. 2014), in log space, batched.

    Each prefix keeps two scores, ending in blank and ending in a non-blank; extending a prefix
    by the label it ends with only continues it from its blank-ending paths; equal prefixes are
    merged. After each frame the ``beam_width`` best prefixes are kept.

    Optional language-model fusion: ``lm`` is a dict ``{(context tuple, label): log prob}`` or a
    callable ``lm(prefix_tuple, label) -> log prob``; each label appended adds
    ``alpha * lm + beta`` (insertion bonus) to the prefix score.

    Returns, per batch item, a list of ``top_k`` ``(labels, log_score)`` pairs, best first (the
    score includes the LM terms when an LM is given). Without an LM this runs the active backend's
    kernel (``csrc/ctc_decode.h``); LM fusion runs the registered ``ctc_beam_search_item`` kernel, which
    only the NumPy backend has (Python callbacks), whatever the active backend.
    """
    beam_width = as_int_scalar("beam_width", beam_width, 1, _INT64_MAX)
    top_k = as_int_scalar("top_k", top_k, 1, _INT32_MAX)
    lp, il, blank = _decode_inputs(log_probs, input_lengths, blank)
    T, B, C = lp.shape
    # a NaN has no rank among the candidates, and +inf - +inf is NaN: the kept beam would depend on the
    # kernel's order of operations
    bad = (np.isnan(lp) | (lp == np.inf)) & (np.arange(T)[:, None] < il[None, :])[:, :, None]
    if bad.any():
        t, b, c = np.argwhere(bad)[0]
        raise ValueError(f"log_probs[{t}, {b}, {c}] is {lp[t, b, c]} (within input_lengths[{b}] = {il[b]}): beam "
                         "search needs finite or -inf scores")
    if lm is None:  # the kernel of the active backend
        K = top_k
        labels, lengths, scores = _alloc_beam(lp.dtype, B=B, K=K, T=T)
        _backend.kernel("ctc_beam_search")[1](labels, lengths, scores, lp, il, blank, beam_width, K)
        return [[(labels[b, j, :lengths[b, j]].tolist(), float(scores[b, j])) for j in range(K) if lengths[b, j] >= 0]
                for b in range(B)]
    if callable(lm):
        lm_fn = lm
    elif isinstance(lm, dict):
        lm_fn = lambda prefix, c: lm.get((prefix, c), lm.get(((), c), -math.inf))  # noqa: E731
    else:
        raise TypeError("lm must be a dict {(prefix, label): log_prob} or a callable(prefix, label)")
    _, item = _backend.kernel("ctc_beam_search_item")  # LM fusion: Python callbacks, the NumPy backend's
    return [item(np.ascontiguousarray(lp[:, b]), int(il[b]), blank, beam_width, lm_fn, alpha, beta)[:top_k]
            for b in range(B)]
