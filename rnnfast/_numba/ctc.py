"""CTC loss kernels jitted with numba, mirroring csrc/ctc.cpp function by function (read
csrc/ctc.h for the contract: log-space alpha/beta including the current frame, guard columns,
the gradient formula, what is overwritten). Items run one after another (no parallel loop)."""
import math

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def lse3(a, b, c):
    """log(exp(a) + exp(b) + exp(c)), -inf if all are -inf."""
    m = max(a, max(b, c))
    if m == -np.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m))


@_jit
def _ext(tgt, s, blank):
    return tgt[s >> 1] if s & 1 else blank


@_jit
def _skip(tgt, s):
    return (s & 1) == 1 and s >= 2 and tgt[s >> 1] != tgt[(s >> 1) - 1]


@_jit
def _item(grad_b, has_grad, a, bt, lp, tgt, L, Tb, C, blank, zero_infinity, scale):
    """One batch item (ctc.cpp item): alpha rows a (T, Smax2) with 2 leading guards, beta rows bt
    with guards after; grad_b (T, C) view of the item's gradient. Returns the loss."""
    S = 2 * L + 1
    ninf = -np.inf
    if Tb == 0:
        return 0.0 if (L == 0 or zero_infinity) else np.inf
    for t in range(Tb):  # ---- alpha
        a[t, 0] = ninf
        a[t, 1] = ninf
        if t == 0:
            for s in range(S):
                a[0, 2 + s] = ninf
            a[0, 2] = lp[0, blank]
            if S > 1:
                a[0, 3] = lp[0, _ext(tgt, 1, blank)]
            continue
        for s in range(S):
            a2 = a[t - 1, s] if _skip(tgt, s) else ninf  # a[t-1, 2+s-2]
            a[t, 2 + s] = lse3(a[t - 1, 2 + s], a[t - 1, 1 + s], a2) + lp[t, _ext(tgt, s, blank)]
    ll = lse3(a[Tb - 1, 1 + S], a[Tb - 1, S], ninf) if S > 1 else a[Tb - 1, 1 + S]
    nll = -ll
    if nll == np.inf and zero_infinity:
        if has_grad:
            grad_b[:Tb] = 0
        return 0.0
    if not has_grad:
        return nll
    for t in range(Tb - 1, -1, -1):  # ---- beta
        bt[t, S] = ninf
        bt[t, S + 1] = ninf
        if t == Tb - 1:
            for s in range(S):
                bt[t, s] = ninf
            bt[t, S - 1] = lp[t, blank]
            if S > 1:
                bt[t, S - 2] = lp[t, _ext(tgt, S - 2, blank)]
            continue
        for s in range(S):
            b2 = bt[t + 1, s + 2] if (s + 2 < S and _skip(tgt, s + 2)) else ninf
            bt[t, s] = lse3(bt[t + 1, s], bt[t + 1, s + 1], b2) + lp[t, _ext(tgt, s, blank)]
    for t in range(Tb):  # ---- gradient: posterior per class, then exp(lp) - posterior
        g = grad_b[t]
        g[:] = 0
        for s in range(S):
            k = _ext(tgt, s, blank)
            g[k] += math.exp(a[t, 2 + s] + bt[t, s] + nll - lp[t, k])
        for k in range(C):
            g[k] = (math.exp(lp[t, k]) - g[k]) * scale
    return nll


@_jit
def _ctc_loss(loss, grad, alpha, beta, log_probs, targets, input_lengths, target_lengths, grad_scale, blank,
              zero_infinity, has_grad, has_scale):
    T, B, C = log_probs.shape
    if has_grad:
        grad[:] = 0
    for b in range(B):
        loss[b] = _item(grad[:, b] if has_grad else grad[:, 0], has_grad, alpha[b], beta[b], log_probs[:, b],
                        targets[b], target_lengths[b], input_lengths[b], C, blank, zero_infinity,
                        grad_scale[b] if has_scale else 1.0)


def ctc_loss(loss, grad, alpha, beta, log_probs, targets, input_lengths, target_lengths, grad_scale, blank,
             zero_infinity):
    dt = log_probs.dtype
    _ctc_loss(loss, np.empty((0, 1, log_probs.shape[2]), dt) if grad is None else grad, alpha, beta, log_probs,
              targets, input_lengths, target_lengths, np.empty(0, dt) if grad_scale is None else grad_scale,
              int(blank), bool(zero_infinity), grad is not None, grad_scale is not None)
