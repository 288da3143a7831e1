"""CTC reference kernels in NumPy (loss, prefix beam search). Same contract as csrc/ctc.h (shapes, what is
overwritten, float64 arithmetic inside for float32 inputs); the loss in log space (alpha/beta including the
current frame's emission), written for clarity, vectorised over the extended-label states s only."""
import math
from collections import defaultdict

import numpy as np

from . import _check


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
    """log(sum(exp(x))) elementwise as torch's CTC computes it: m + log(sum(exp(x - m))) with the max m
    (0 where every term is -inf), so a +inf term gives NaN (inf - inf), as in torch and the other backends."""
    m = xs[0]
    for x in xs[1:]:
        m = np.maximum(m, x)
    m = np.where(m == -np.inf, 0.0, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return m + np.log(sum(np.exp(x - m) for x in xs))


def _item(grad_b, lp, tgt, L, Tb, blank, zero_infinity, scale):
    """One batch item, in float64: fills the gradient (T, C) view; returns the loss."""
    lp = lp.astype(np.float64)
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
    nll = -(_lse(al[-1, -1], al[-1, -2]) if S > 1 else al[-1, -1])
    if nll == np.inf and zero_infinity:  # torch zeroes an infinite loss only (not -inf, not NaN)
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
    lpe = lp[:Tb, ext]
    with np.errstate(invalid="ignore", over="ignore"):
        # (Tb, S) posterior of each state; an emission of probability 0 (log_probs -inf) carries no
        # path: posterior 0, not -inf - (-inf) = NaN (csrc/ctc.h: finite gradients, unlike torch)
        post = np.where(lpe == -np.inf, 0.0, np.exp(al + be + nll - lpe))
    g = np.zeros((Tb, lp.shape[1]), dt)
    for s in range(S):                                       # sum the states of each class
        g[:, ext[s]] += post[:, s]
    grad_b[:Tb] = (np.exp(lp[:Tb]) - g) * scale
    return nll


def ctc_loss(loss, grad, log_probs, targets, input_lengths, target_lengths, grad_scale, blank, zero_infinity):
    _check.check_ctc_loss(**locals())  # as the bindings check: never out of bounds
    T, B, C = log_probs.shape
    if grad is not None:
        grad[...] = 0
    for b in range(B):
        with np.errstate(invalid="ignore"):  # NaN/+inf log-probs propagate, as in torch
            loss[b] = _item(None if grad is None else grad[:, b], log_probs[:, b], targets[b],
                            int(target_lengths[b]), int(input_lengths[b]), blank, zero_infinity,
                            1 if grad_scale is None else grad_scale[b])


# ---------------------------------------------------------------------------------- beam search
def _lse2(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def beam_search_item(lp, Tb, blank, W, lm_fn=None, alpha=0.0, beta=0.0):
    """Prefix beam search of one item, lp (T, C): a list of (labels, log score), best first.
    Prefixes are tuples in a dict (equal prefixes merge); ``lm_fn(prefix, c)`` adds
    ``alpha * lm + beta`` per appended label (its running sum is part of the ranking score)."""
    C = lp.shape[1]
    beams = {(): (0.0, -math.inf, 0.0)}  # prefix -> (log p ending in blank, ending in a label, LM score)
    for t in range(Tb):
        row = [float(v) for v in lp[t]]
        nxt = defaultdict(lambda: [-math.inf, -math.inf, 0.0])
        for prefix, (pb, pnb, lms) in beams.items():
            total = _lse2(pb, pnb)
            e = nxt[prefix]  # stay: a blank, or the last label repeated (collapses)
            e[0] = _lse2(e[0], total + row[blank])
            e[2] = lms
            if prefix:
                e[1] = _lse2(e[1], pnb + row[prefix[-1]])
            for c in range(C):
                if c == blank:
                    continue
                e2 = nxt[prefix + (c,)]
                e2[2] = lms + (alpha * lm_fn(prefix, c) + beta if lm_fn is not None else 0.0)
                src = pb if prefix and c == prefix[-1] else total  # a repeat needs a blank in between
                e2[1] = _lse2(e2[1], src + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: -(_lse2(kv[1][0], kv[1][1]) + kv[1][2]))
        beams = {k: tuple(v) for k, v in ranked[:W]}
    return sorted(((list(k), _lse2(v[0], v[1]) + v[2]) for k, v in beams.items()), key=lambda kv: -kv[1])


# Beam-search scratch bound, shared by the three backends (csrc/ctc_decode.h has the derivation).
BEAM_MAX_SCRATCH = 1 << 30  # bytes per thread (csrc/ctc_decode.h kBeamMaxScratch)


def beam_effective_width(T, beam_width, C):
    """min(beam_width, 1 + (C-1) + ... + (C-1)**T): the beam never holds more distinct prefixes."""
    W, C = int(beam_width), int(C)
    if W <= 1 or C <= 1:
        return 1
    total, power = 1, 1
    for _ in range(int(T)):
        if total >= W:
            break
        power = min(W, power * (C - 1))
        total = min(W, total + power)
    return min(W, total)


def beam_scratch_bytes(T, W, C):
    """Scratch bytes per thread of the compiled beam search for effective width W (ctc_decode.h):
    16 N + 12 P + 32 W C + 20 W, N = T W + 1 trie nodes, P = the power of two >= 2 N."""
    nodes = int(T) * int(W) + 1
    table = 1 << max(0, (2 * nodes - 1).bit_length())
    return 16 * nodes + 12 * table + 32 * int(W) * int(C) + 20 * int(W)


def check_beam_memory(T, beam_width, C):
    """The effective width, or MemoryError (same message and limit as the cpp backend's)."""
    W = beam_effective_width(T, beam_width, C)
    need = beam_scratch_bytes(T, W, C)
    if need > BEAM_MAX_SCRATCH:
        raise MemoryError(f"beam_search: beam_width={beam_width} over T={T} frames and C={C} classes needs "
                          f"{need >> 20} MiB of scratch per thread (about 64*T*W + 32*W*C bytes, W = min(beam_width, "
                          f"distinct prefixes)), above the limit of {BEAM_MAX_SCRATCH >> 20} MiB: use a smaller "
                          "beam_width")
    return W


def ctc_beam_search(labels, lengths, scores, log_probs, input_lengths, blank, beam_width, top_k):
    _check.check_ctc_beam_search(**locals())  # as the bindings check: never out of bounds
    T, B, C = log_probs.shape
    beam_width = check_beam_memory(T, beam_width, C)
    labels[...] = -1
    lengths[...] = -1
    scores[...] = -np.inf
    for b in range(B):
        for j, (lab, sc) in enumerate(beam_search_item(log_probs[:, b], int(input_lengths[b]), blank, beam_width)[:top_k]):
            labels[b, j, :len(lab)] = lab
            lengths[b, j] = len(lab)
            scores[b, j] = sc


ctc_beam_search_item = beam_search_item  # the kernel's contract name
