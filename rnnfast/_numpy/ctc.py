"""CTC reference kernels in NumPy. Same contract as csrc/ctc.h (shapes, log-space alpha/beta
including the current frame's emission, guard columns, what is overwritten); written for
clarity, vectorised over the extended-label states s only."""
import numpy as np


def _ext(tgt, L, blank):
    """Extended labels (S,) and the mask of states that may be entered from s-2."""
    S = 2 * L + 1
    ext = np.full(S, blank, np.int64)
    ext[1::2] = tgt[:L]
    skip = np.zeros(S, bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    return ext, skip


def _shift(v, k, fill):
    """v moved k places right (k > 0: out[s] = v[s-k]) or left (k < 0), padded with fill."""
    out = np.full_like(v, fill)
    if k > 0:
        out[k:] = v[:-k] if k < len(v) else v[:0]
    elif k < 0:
        out[:k] = v[-k:] if -k < len(v) else v[:0]
    return out


def _lse(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = np.logaddexp(out, x)
    return out


def _item(grad_b, a, bt, lp, tgt, L, Tb, blank, zero_infinity, scale):
    """One batch item: fills alpha rows a (T, Smax2), beta rows bt, the gradient (T, C) view;
    returns the loss."""
    dt = lp.dtype
    ninf = dt.type(-np.inf)
    if Tb == 0:
        return dt.type(0) if (L == 0 or zero_infinity) else dt.type(np.inf)
    ext, skip = _ext(tgt, L, blank)
    S = 2 * L + 1
    al = np.full((Tb, S), ninf, dt)
    al[0, 0] = lp[0, blank]
    if S > 1:
        al[0, 1] = lp[0, ext[1]]
    for t in range(1, Tb):
        p = al[t - 1]
        p1 = _shift(p, 1, ninf)
        p2 = np.where(skip, _shift(p, 2, ninf), ninf)
        al[t] = _lse(p, p1, p2) + lp[t, ext]
    a[:Tb, 2:2 + S] = al
    nll = -(_lse(al[-1, -1], al[-1, -2]) if S > 1 else al[-1, -1])
    if np.isinf(nll) and zero_infinity:
        if grad_b is not None:
            grad_b[:Tb] = 0
        return dt.type(0)
    if grad_b is None:
        return nll
    be = np.full((Tb, S), ninf, dt)
    be[-1, -1] = lp[Tb - 1, blank]
    if S > 1:
        be[-1, -2] = lp[Tb - 1, ext[-2]]
    skip_next = _shift(skip, -2, False)  # may s+2 be entered from s?
    for t in range(Tb - 2, -1, -1):
        n = be[t + 1]
        n1 = _shift(n, -1, ninf)
        n2 = np.where(skip_next, _shift(n, -2, ninf), ninf)
        be[t] = _lse(n, n1, n2) + lp[t, ext]
    bt[:Tb, :S] = be
    with np.errstate(invalid="ignore", over="ignore"):
        post = np.exp(al + be + nll - lp[:Tb, ext])          # (Tb, S) posterior of each state
    g = np.zeros((Tb, lp.shape[1]), dt)
    for s in range(S):                                       # sum the states of each class
        g[:, ext[s]] += post[:, s]
    grad_b[:Tb] = (np.exp(lp[:Tb]) - g) * scale
    return nll


def ctc_loss(loss, grad, alpha, beta, log_probs, targets, input_lengths, target_lengths, grad_scale, blank,
             zero_infinity):
    T, B, C = log_probs.shape
    if grad is not None:
        grad[...] = 0
    for b in range(B):
        loss[b] = _item(None if grad is None else grad[:, b], alpha[b], beta[b], log_probs[:, b], targets[b],
                        int(target_lengths[b]), int(input_lengths[b]), blank, zero_infinity,
                        1 if grad_scale is None else grad_scale[b])
