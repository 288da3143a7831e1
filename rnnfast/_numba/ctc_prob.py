"""Probability-space CTC (MyTorch semantics) jitted with numba, mirroring csrc/ctc_prob.cpp function by
function (read csrc/ctc_prob.h for the contract: raw probabilities, beta excluding the current frame,
the loss's row-normalised recursions with a log-space redo on underflow, what is overwritten). Batch items are split over Python threads
calling the nogil kernel, as the C++ parallel_items (``_over_batch``)."""
import math

import numpy as np
from numba import njit

from .ctc import _ext as _ext_of  # shared with the log-space CTC kernels
from .ctc import _over_batch
from .ctc import _skip as _skip_of
from .ctc import lse3

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _alpha_beta(alpha, beta, gamma, has_a, has_b, has_g, y, ext, skip):
    T, S = y.shape[0], ext.shape[0]
    if has_a:
        alpha[0, :] = 0
        alpha[0, 0] = y[0, ext[0]]
        if S > 1:
            alpha[0, 1] = y[0, ext[1]]
        for t in range(1, T):
            for s in range(S):
                v = alpha[t - 1, s]
                if s >= 1:
                    v += alpha[t - 1, s - 1]
                if s >= 2 and skip[s] != 0:
                    v += alpha[t - 1, s - 2]
                alpha[t, s] = v * y[t, ext[s]]
    if has_b:
        beta[T - 1, :] = 0
        beta[T - 1, S - 1] = 1
        if S > 1:
            beta[T - 1, S - 2] = 1
        for t in range(T - 2, -1, -1):
            for s in range(S):
                v = beta[t + 1, s] * y[t + 1, ext[s]]
                if s + 1 < S:
                    v += beta[t + 1, s + 1] * y[t + 1, ext[s + 1]]
                if s + 2 < S and skip[s + 2] != 0:
                    v += beta[t + 1, s + 2] * y[t + 1, ext[s + 2]]
                beta[t, s] = v
    if has_g:
        for t in range(T):
            tot = 0.0
            for s in range(S):
                gamma[t, s] = alpha[t, s] * beta[t, s]
                tot += gamma[t, s]
            for s in range(S):
                gamma[t, s] = gamma[t, s] / tot  # 0 / 0 = NaN on a frame no path reaches (error_model numpy)


def ctc_prob_alpha_beta(alpha, beta, gamma, y, ext, skip):
    dummy = np.empty((1, 1), y.dtype)
    _alpha_beta(dummy if alpha is None else alpha, dummy if beta is None else beta,
                dummy if gamma is None else gamma, alpha is not None, beta is not None, gamma is not None, y, ext, skip)


@_jit
def _scaled_item(grad, has_grad, b, g, wk, y, tgt, L, Tb, blank, tiny):
    """Scaled pass of one item (ctc_prob.cpp scaled_item): probability space, every alpha and beta row
    normalised to sum 1. Returns (ok, loss); ok False on underflow (below ``tiny``) or an
    infeasible-looking item, then the caller runs _log_item."""
    S = 2 * L + 1
    for s in range(S):  # ---- alpha, in the gamma rows
        g[0, s] = 0.0
    g[0, 0] = y[0, b, blank]
    if S > 1:
        g[0, 1] = y[0, b, _ext_of(tgt, 1, blank)]
    tot = g[0, 0] + g[0, 1] if S > 1 else g[0, 0]
    if not tot >= tiny:
        return False, 0.0
    g[0, 0] /= tot
    if S > 1:
        g[0, 1] /= tot
    for t in range(1, Tb):
        tot = 0.0
        for s in range(S):
            v = g[t - 1, s]
            if s >= 1:
                v += g[t - 1, s - 1]
            if _skip_of(tgt, s):
                v += g[t - 1, s - 2]
            g[t, s] = v * y[t, b, _ext_of(tgt, s, blank)]
            tot += g[t, s]
        if not tot >= tiny:
            return False, 0.0
        inv = 1.0 / tot
        for s in range(S):
            g[t, s] *= inv
    fin = g[Tb - 1, S - 1] + g[Tb - 1, S - 2] if S > 1 else g[Tb - 1, S - 1]
    if not fin >= tiny:
        return False, 0.0
    loss = 0.0  # ---- backward sweep: beta row t, gamma row t, loss and gradient
    for t in range(Tb - 1, -1, -1):
        bt = wk[t & 1]
        if t == Tb - 1:
            for s in range(S):
                bt[s] = 0.0
            bt[S - 1] = 1.0
            if S > 1:
                bt[S - 2] = 1.0
        else:
            n = wk[(t + 1) & 1]
            tot = 0.0
            for s in range(S):
                v = n[s] * y[t + 1, b, _ext_of(tgt, s, blank)]
                if s + 1 < S:
                    v += n[s + 1] * y[t + 1, b, _ext_of(tgt, s + 1, blank)]
                if s + 2 < S and _skip_of(tgt, s + 2):
                    v += n[s + 2] * y[t + 1, b, _ext_of(tgt, s + 2, blank)]
                bt[s] = v
                tot += v
            if not tot >= tiny:
                return False, 0.0
            inv = 1.0 / tot
            for s in range(S):
                bt[s] *= inv
        tot = 0.0
        for s in range(S):
            g[t, s] *= bt[s]
            tot += g[t, s]
        if not tot >= tiny:
            return False, 0.0
        inv = 1.0 / tot
        for s in range(S):
            g[t, s] *= inv
            if g[t, s] == 0:
                continue  # unreachable state: 0 log 0 = 0, 0 / 0 = 0
            k = _ext_of(tgt, s, blank)
            loss -= g[t, s] * math.log(y[t, b, k])
            if has_grad:
                grad[t, b, k] -= g[t, s] / y[t, b, k]
    return True, loss


@_jit
def _log_item(grad, has_grad, b, g, wk, y, tgt, L, Tb, C, blank):
    """Log-space pass of one item (ctc_prob.cpp log_item): g (T, Smax) its gamma block, wk (2, Smax)
    its log-beta rows, y (T, B, C) and grad (T, B, C) read/written at column b (grad zero on entry).
    Returns the item's loss."""
    S = 2 * L + 1
    ninf = -np.inf
    # ---- log-alpha in the gamma rows
    for s in range(S):
        g[0, s] = ninf
    g[0, 0] = math.log(y[0, b, blank])
    if S > 1:
        g[0, 1] = math.log(y[0, b, _ext_of(tgt, 1, blank)])
    for t in range(1, Tb):
        for s in range(S):
            a1 = g[t - 1, s - 1] if s >= 1 else ninf
            a2 = g[t - 1, s - 2] if _skip_of(tgt, s) else ninf
            g[t, s] = lse3(g[t - 1, s], a1, a2) + math.log(y[t, b, _ext_of(tgt, s, blank)])
    logp = lse3(g[Tb - 1, S - 1], g[Tb - 1, S - 2] if S > 1 else ninf, ninf)
    if logp == ninf:  # infeasible
        for t in range(Tb):
            for s in range(S):
                g[t, s] = np.nan
            if has_grad:
                for k in range(C):
                    grad[t, b, k] = np.nan
        return np.inf
    # ---- backward sweep: log-beta row t, then gamma row t, loss and gradient
    loss = 0.0
    for t in range(Tb - 1, -1, -1):
        lb = wk[t & 1]
        if t == Tb - 1:
            for s in range(S):
                lb[s] = ninf
            lb[S - 1] = 0.0
            if S > 1:
                lb[S - 2] = 0.0
        else:
            n = wk[(t + 1) & 1]
            for s in range(S):
                x0 = n[s] + math.log(y[t + 1, b, _ext_of(tgt, s, blank)])
                x1 = n[s + 1] + math.log(y[t + 1, b, _ext_of(tgt, s + 1, blank)]) if s + 1 < S else ninf
                x2 = (n[s + 2] + math.log(y[t + 1, b, _ext_of(tgt, s + 2, blank)])
                      if (s + 2 < S and _skip_of(tgt, s + 2)) else ninf)
                lb[s] = lse3(x0, x1, x2)
        m = ninf
        for s in range(S):
            g[t, s] += lb[s]
            m = max(m, g[t, s])
        tot = 0.0
        for s in range(S):
            g[t, s] = math.exp(g[t, s] - m)
            tot += g[t, s]
        inv = 1.0 / tot
        for s in range(S):
            g[t, s] *= inv
            if g[t, s] == 0:
                continue  # unreachable state: 0 log 0 = 0, 0 / 0 = 0
            k = _ext_of(tgt, s, blank)
            loss -= g[t, s] * math.log(y[t, b, k])
            if has_grad:
                grad[t, b, k] -= g[t, s] / y[t, b, k]
    return loss


@_jit
def _loss_item(grad, has_grad, b, g, wk, y, tgt, L, Tb, C, blank, tiny):
    """One item (ctc_prob.cpp loss_item): the scaled pass, else the log-space pass from scratch."""
    if Tb == 0:
        return 0.0 if L == 0 else np.inf
    ok, loss = _scaled_item(grad, has_grad, b, g, wk, y, tgt, L, Tb, blank, tiny)
    if ok:
        return loss
    if has_grad:
        grad[:Tb, b] = 0
    return _log_item(grad, has_grad, b, g, wk, y, tgt, L, Tb, C, blank)


@_jit
def _ctc_prob_loss(loss, grad, gamma, work, y, targets, input_lengths, target_lengths, blank, has_grad, tiny, b0,
                   b1):
    """Items b0 <= b < b1 (the caller splits the batch over threads)."""
    C = y.shape[2]
    for b in range(b0, b1):
        gamma[b] = 0
        if has_grad:
            grad[:, b] = 0
        loss[b] = _loss_item(grad, has_grad, b, gamma[b], work[b], y, targets[b], target_lengths[b],
                             input_lengths[b], C, blank, tiny)


PARALLEL_WORK = 1 << 20  # state-frames below which the batch stays on the calling thread (ctc_prob.cpp)


def ctc_prob_loss(loss, grad, gamma, work, y, targets, input_lengths, target_lengths, blank):
    B = y.shape[1]
    small = int(np.dot(input_lengths, 2 * target_lengths + 1)) < PARALLEL_WORK
    run = (lambda fn, B, *a: fn(*a, 0, B)) if small else _over_batch
    run(_ctc_prob_loss, B, loss, np.empty((1, 1, 1), y.dtype) if grad is None else grad, gamma, work, y, targets,
        input_lengths, target_lengths, int(blank), grad is not None,
        1e-25 if y.dtype == np.float32 else 1e-200)  # underflow threshold, as ctc_prob.cpp kTiny
