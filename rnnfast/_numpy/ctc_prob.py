"""Probability-space CTC with MyTorch semantics: reference kernels in NumPy, same signatures and
contract as csrc/ctc_prob.h (raw probabilities, beta excluding the current frame, expected-divergence
loss, what is overwritten). Written for clarity, vectorised over the extended-label states only."""
import numpy as np


def _shift(v, k, fill):
    """v moved k places right (out[s] = v[s-k], k > 0) or left (k < 0), padded with fill."""
    out = np.full_like(v, fill)
    if k > 0:
        out[k:] = v[:-k] if k < len(v) else v[:0]
    elif k < 0:
        out[:k] = v[-k:] if -k < len(v) else v[:0]
    return out


def ctc_prob_alpha_beta(alpha, beta, gamma, y, ext, skip):
    """alpha, beta, gamma (T, S) overwritten (each may be None; gamma needs alpha and beta);
    y (T, C) probabilities; ext, skip (S,) int64."""
    T, S = y.shape[0], ext.shape[0]
    ye = y[:, ext]  # (T, S): y[t, ext s]
    sk = np.asarray(skip, bool).copy()
    sk[:2] = False  # skip[s] is not read for s < 2
    if alpha is not None:
        alpha[0] = 0
        alpha[0, 0] = ye[0, 0]
        if S > 1:
            alpha[0, 1] = ye[0, 1]
        for t in range(1, T):
            p = alpha[t - 1]
            alpha[t] = (p + _shift(p, 1, 0) + np.where(sk, _shift(p, 2, 0), 0)) * ye[t]
    if beta is not None:
        beta[T - 1] = 0
        beta[T - 1, S - 1] = 1
        if S > 1:
            beta[T - 1, S - 2] = 1
        nsk = _shift(sk, -2, False)  # nsk[s] = skip[s + 2]
        for t in range(T - 2, -1, -1):
            n = beta[t + 1] * ye[t + 1]
            beta[t] = n + _shift(n, -1, 0) + np.where(nsk, _shift(n, -2, 0), 0)
    if gamma is not None:
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 = NaN on a frame no path reaches
            ab = alpha * beta
            gamma[...] = ab / ab.sum(axis=1, keepdims=True)


def _ext_skip(tgt, L, blank):
    S = 2 * L + 1
    ext = np.full(S, blank, np.int64)
    ext[1::2] = tgt[:L]
    skip = np.zeros(S, bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    return ext, skip


def _lse(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = np.logaddexp(out, x)
    return out


def _item(grad_b, g, y, tgt, L, Tb, blank):
    """One item: gamma block g (T, Smax) (zeroed by the caller), grad view grad_b (T, C) or None.
    Log-space recursions; returns the expected divergence."""
    dt = y.dtype
    if Tb == 0:
        return dt.type(0) if L == 0 else dt.type(np.inf)
    ext, skip = _ext_skip(tgt, L, blank)
    S = 2 * L + 1
    ninf = dt.type(-np.inf)
    with np.errstate(divide="ignore"):
        ly = np.log(y[:Tb][:, ext])  # (Tb, S); log 0 = -inf
    la = np.full((Tb, S), ninf, dt)
    la[0, 0] = ly[0, 0]
    if S > 1:
        la[0, 1] = ly[0, 1]
    for t in range(1, Tb):
        p = la[t - 1]
        la[t] = _lse(p, _shift(p, 1, ninf), np.where(skip, _shift(p, 2, ninf), ninf)) + ly[t]
    logp = _lse(la[-1, -1], la[-1, -2]) if S > 1 else la[-1, -1]
    if logp == -np.inf:  # infeasible
        g[:Tb, :S] = np.nan
        if grad_b is not None:
            grad_b[:Tb] = np.nan
        return dt.type(np.inf)
    lb = np.full((Tb, S), ninf, dt)  # log beta, excluding the current frame
    lb[-1, -1] = 0
    if S > 1:
        lb[-1, -2] = 0
    nskip = _shift(skip, -2, False)
    for t in range(Tb - 2, -1, -1):
        n = lb[t + 1] + ly[t + 1]
        lb[t] = _lse(n, _shift(n, -1, ninf), np.where(nskip, _shift(n, -2, ninf), ninf))
    v = la + lb
    e = np.exp(v - v.max(axis=1, keepdims=True))
    gam = e / e.sum(axis=1, keepdims=True)
    g[:Tb, :S] = gam
    live = gam > 0  # unreachable states contribute 0 (0 log 0 = 0, 0 / 0 = 0)
    loss = -np.sum(gam[live] * ly[live], dtype=dt)
    if grad_b is not None:
        contrib = np.zeros_like(gam)
        ye = y[:Tb][:, ext]
        contrib[live] = gam[live] / ye[live]
        for s in range(S):
            grad_b[:Tb, ext[s]] -= contrib[:, s]
    return loss


def ctc_prob_loss(loss, grad, gamma, work, y, targets, input_lengths, target_lengths, blank):
    """loss (B,), grad (T, B, C) or None, gamma (B, T, Smax) overwritten; work (B, 2, Smax) unused
    here (the compiled kernels keep two log-beta rows in it)."""
    T, B, C = y.shape
    if grad is not None:
        grad[...] = 0
    gamma[...] = 0
    for b in range(B):
        loss[b] = _item(None if grad is None else grad[:, b], gamma[b], y[:, b], targets[b], int(target_lengths[b]),
                        int(input_lengths[b]), int(blank))
