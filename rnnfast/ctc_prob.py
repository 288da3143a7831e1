"""CTC in probability space with MyTorch semantics (CMU 11-785 HW3P1 ``CTC`` / ``CTCLoss``), on
rnnfast's kernels (``csrc/ctc_prob.h``; numba and NumPy versions alongside).

These are not PyTorch's CTC (for that, :func:`rnnfast.ctc.ctc_loss`): the inputs are RAW
probabilities (never logged or renormalised), beta EXCLUDES the current frame, and the loss is the
lecture's expected divergence ``-sum_t sum_s gamma[t, s] log y[t, ext_s]``, whose companion
gradient (the ``dY`` MyTorch's ``CTCLoss.backward`` returns) is ``-sum_{s: ext_s = c} gamma[t, s] / y[t, c]``,
the gradient of the negative log-likelihood with respect to the probabilities.

    alpha, beta, gamma = rnnfast.ctc_prob.prob_alpha_beta(y, ext, skip)
    loss, dY = rnnfast.ctc_prob.prob_ctc_loss(y, targets, input_lengths, target_lengths)
"""
from __future__ import annotations

import numpy as np

from . import _backend, _contract
from ._validate import as_float_array, as_int_array, as_int_scalar


def _int_array(name, a, ndim=None):
    """Integers; whole-number floats accepted (MyTorch's course code passes float lengths)."""
    return as_int_array(name, a, ndim, integral_floats=True)

__all__ = ["prob_alpha_beta", "prob_ctc_loss", "extend_target_with_blank"]

_OUTPUTS = ("alpha", "beta", "gamma")


def _check_probabilities(name, y):
    if y.size and not (np.isfinite(y).all() and y.min() >= 0):
        bad = np.argwhere(~(np.isfinite(y) & (y >= 0)))[0]
        raise ValueError(f"{name}: probabilities must be finite and >= 0, got {name}[{', '.join(map(str, bad))}] = "
                         f"{y[tuple(bad)]} (array of shape {y.shape})")


def extend_target_with_blank(target, blank: int = 0):
    """``target`` (L,) -> (ext (2L+1,), skip (2L+1,)) int64: ``[blank, t1, blank, ..., tL, blank]`` and
    ``skip[s] = 1`` iff ``s >= 2``, ``ext[s] != blank`` and ``ext[s] != ext[s-2]``."""
    tg = _int_array("target", np.asarray(target).reshape(-1), 1)
    blank = as_int_scalar("blank", blank, 0, np.iinfo(np.int64).max)
    ext = np.full(2 * len(tg) + 1, blank, np.int64)
    ext[1::2] = tg
    skip = np.zeros(len(ext), np.int64)
    if len(ext) > 2:
        skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return ext, skip


def prob_alpha_beta(y, ext, skip, *, compute=_OUTPUTS):
    """Forward, backward and posterior probabilities of one sequence, exactly as the MyTorch spec
    defines them (raw probabilities, no rescaling: like the spec's, they underflow to 0 for long
    sequences; :func:`prob_ctc_loss` rescales every row, falling back to log space, and does not).

    Parameters
    ----------
    y : (T, C) float32/float64 probabilities, T >= 1
    ext : (S,) ints in [0, C), the extended target (see :func:`extend_target_with_blank`)
    skip : (S,) 0/1 (ints or bools): state s may be entered from s-2; skip[0] and skip[1] must be 0
    compute : which of "alpha", "beta", "gamma" to compute (gamma needs the other two)

    Returns
    -------
    (alpha, beta, gamma), each (T, S) in y's dtype, or None when not in ``compute``:
    ``alpha[t, s] = (alpha[t-1, s] + alpha[t-1, s-1] + skip[s] alpha[t-1, s-2]) y[t, ext s]``;
    ``beta[T-1, S-1] = beta[T-1, S-2] = 1``,
    ``beta[t, s] = sum_{s' in {s, s+1, s+2 if skip[s+2]}} beta[t+1, s'] y[t+1, ext s']`` (excluding frame t);
    ``gamma = alpha * beta / sum_s(alpha * beta)`` per frame (NaN on a frame no path reaches).
    """
    y = as_float_array("y", y, 2)
    T, C = y.shape
    if T < 1 or C < 1:
        raise ValueError(f"y: expected at least one frame and one class, got shape {y.shape}")
    _check_probabilities("y", y)
    e = _int_array("ext", ext, 1)
    S = e.shape[0]
    if S < 1:
        raise ValueError("ext: expected at least one state, got an empty array")
    if e.min() < 0 or e.max() >= C:
        i = int(np.argmax((e < 0) | (e >= C)))
        raise ValueError(f"ext[{i}] = {e[i]} is outside [0, C={C}) for y of shape {y.shape}")
    sk = np.asarray(skip)
    sk = _int_array("skip", sk.astype(np.int64) if sk.dtype == bool else sk, 1)
    if sk.shape != (S,):
        raise ValueError(f"skip: expected shape ({S},) (one per state of ext {e.shape}), got {sk.shape}")
    if S and not np.isin(sk, (0, 1)).all():
        raise ValueError(f"skip: entries must be 0 or 1, got {np.unique(sk).tolist()}")
    if sk[:2].any():
        raise ValueError(f"skip[0] and skip[1] must be 0 (no state before s-2), got {sk[:2].tolist()}")
    if isinstance(compute, str):
        compute = (compute,)
    elif isinstance(compute, (tuple, list, set, frozenset)) and all(isinstance(c, str) for c in compute):
        compute = tuple(compute)
    else:
        raise TypeError(f"compute must be one of {_OUTPUTS} or a sequence of them, got {compute!r}")
    unknown = set(compute) - set(_OUTPUTS)
    if unknown:
        raise ValueError(f"compute: unknown outputs {sorted(unknown)}; choose from {_OUTPUTS}")
    want_g = "gamma" in compute
    alpha, beta, gamma = _contract.allocate("ctc_prob_alpha_beta", y.dtype, T=T, S=S,
                                           alpha="alpha" in compute or want_g,
                                           beta="beta" in compute or want_g, gamma=want_g)
    _backend.kernel("ctc_prob_alpha_beta")[1](alpha, beta, gamma, y, e, sk)
    return (alpha if "alpha" in compute else None, beta if "beta" in compute else None, gamma)


def _prepare(y, targets, input_lengths, target_lengths, blank):
    y = as_float_array("y", y, 3)
    T, B, C = y.shape
    blank = as_int_scalar("blank", blank)
    if not 0 <= blank < C:
        raise ValueError(f"blank = {blank} is outside [0, C={C}) for y of shape {y.shape}")
    _check_probabilities("y", y)
    tg = _int_array("targets", targets, 2)
    if tg.shape[0] != B:
        raise ValueError(f"targets: expected {B} rows (one per batch item of y {y.shape}), got shape {tg.shape}")
    il = _int_array("input_lengths", input_lengths, 1)
    tl = _int_array("target_lengths", target_lengths, 1)
    for name, a in (("input_lengths", il), ("target_lengths", tl)):
        if a.shape != (B,):
            raise ValueError(f"{name}: expected shape ({B},) (one per batch item of y {y.shape}), got {a.shape}")
    if B and (il.min() < 0 or il.max() > T):
        raise ValueError(f"input_lengths: every length must be in [0, T={T}], got min {il.min()}, max {il.max()}")
    if B and (tl.min() < 0 or tl.max() > tg.shape[1]):
        raise ValueError(f"target_lengths: every length must be in [0, {tg.shape[1]}] (targets of shape "
                         f"{tg.shape}), got min {tl.min()}, max {tl.max()}")
    used = np.arange(tg.shape[1])[None, :] < tl[:, None]
    bad = used & ((tg < 0) | (tg >= C) | (tg == blank))
    if bad.any():
        b, i = map(int, np.argwhere(bad)[0])
        raise ValueError(f"targets[{b}, {i}] = {tg[b, i]}: labels must be in [0, C={C}) and differ from "
                         f"blank={blank}")
    return y, tg, il, tl, blank


def prob_ctc_loss(y, targets, input_lengths, target_lengths, blank: int = 0, *, return_gamma: bool = False):
    """MyTorch ``CTCLoss`` per item, with its gradient, in one pass of the active backend's kernel.

    Parameters
    ----------
    y : (T, B, C) float32/float64 probabilities (e.g. softmax outputs), time-major
    targets : (B, Lpad) int labels, padded; item b uses ``targets[b, :target_lengths[b]]``
    input_lengths : (B,) ints in [0, T]
    target_lengths : (B,) ints in [0, Lpad]
    blank : index of the blank class
    return_gamma : also return the posteriors

    Returns
    -------
    loss : (B,) expected divergence of each item, ``-sum_{t < T_b} sum_s gamma[t, s] log y[t, b, ext_s]``
        (MyTorch's ``CTCLoss.forward`` is its mean); +inf for an item no alignment fits.
    dY : (T, B, C) ``dY[t, b, c] = -sum_{s: ext_s = c} gamma[t, s] / y[t, b, c]`` for t < T_b, 0 beyond
        (not divided by B; NaN rows for an infeasible item).
    gamma : (B, T, Smax) with Smax = 2 max(target_lengths) + 1, item b's posteriors in
        ``gamma[b, :T_b, :2 L_b + 1]``, zeros elsewhere (only with ``return_gamma``).

    The recursions are rescaled per frame (and redone in log space where a row underflows), so long
    sequences do not underflow; gamma is normalised per
    frame as the spec defines it, and states with gamma = 0 contribute 0 to the loss and gradient.
    """
    y, tg, il, tl, blank = _prepare(y, targets, input_lengths, target_lengths, blank)
    T, B, C = y.shape
    Smax = 2 * (int(tl.max()) if B else 0) + 1
    loss, grad, gamma, work = _contract.allocate("ctc_prob_loss", y.dtype, T=T, B=B, C=C, W=Smax)
    _backend.kernel("ctc_prob_loss")[1](loss, grad, gamma, work, y, tg, il, tl, blank)
    return (loss, grad, gamma) if return_gamma else (loss, grad)
