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
              zero_infinity, has_grad, has_scale, b0, b1):
    """Items b0 <= b < b1 (the caller splits the batch over threads, as ctc.cpp's OpenMP loop)."""
    T, B, C = log_probs.shape
    for b in range(b0, b1):
        if has_grad:
            grad[:, b] = 0
        loss[b] = _item(grad[:, b] if has_grad else grad[:, 0], has_grad, alpha[b], beta[b], log_probs[:, b],
                        targets[b], target_lengths[b], input_lengths[b], C, blank, zero_infinity,
                        grad_scale[b] if has_scale else 1.0)


def _over_batch(fn, B, *args):
    """fn(*args, b0, b1) on contiguous blocks of the batch, one per kernel thread: the jitted
    functions release the GIL (nogil), so Python threads run them in parallel (no numba threading
    layer is started; see rnnfast/_threads.py)."""
    from .._threads import get_num_threads

    nt = max(1, min(get_num_threads(), B))
    if nt == 1:
        fn(*args, 0, B)
        return
    from concurrent.futures import ThreadPoolExecutor

    bounds = [B * k // nt for k in range(nt + 1)]
    with ThreadPoolExecutor(nt - 1) as ex:
        futs = [ex.submit(fn, *args, bounds[k], bounds[k + 1]) for k in range(1, nt)]
        fn(*args, bounds[0], bounds[1])
        for f in futs:
            f.result()


def ctc_loss(loss, grad, alpha, beta, log_probs, targets, input_lengths, target_lengths, grad_scale, blank,
             zero_infinity):
    dt = log_probs.dtype
    _over_batch(_ctc_loss, log_probs.shape[1], loss,
                np.empty((0, 1, log_probs.shape[2]), dt) if grad is None else grad, alpha, beta, log_probs, targets,
                input_lengths, target_lengths, np.empty(0, dt) if grad_scale is None else grad_scale, int(blank),
                bool(zero_infinity), grad is not None, grad_scale is not None)


# ---------------------------------------------------------------------------------- beam search
# Mirrors csrc/ctc_decode.cpp: prefixes are trie nodes (parent, label); an open-addressing table
# maps (parent, label) to the child node, so equal prefixes merge; per frame the W best are kept.
@_jit
def _lse(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@_jit
def _child(p, c, C, keys, vals, parent, label, stamp, nodes, mask):
    """(node of prefix p + (c,), updated node count)."""
    key = p * C + c
    h = (key * 2654435761) & mask
    while keys[h] != -1:
        if keys[h] == key:
            return vals[h], nodes
        h = (h + 1) & mask
    n = nodes
    keys[h] = key
    vals[h] = n
    parent[n] = p
    label[n] = c
    stamp[n] = -1
    return n, nodes + 1


@_jit
def _beam_item(labels, lengths, scores, lp, Tb, C, blank, W, K):
    max_nodes = Tb * W * (C - 1) + 1
    cap = 1
    while cap < 2 * max_nodes:
        cap <<= 1
    keys = np.full(cap, -1, np.int64)
    vals = np.empty(cap, np.int64)
    parent = np.empty(max_nodes, np.int64)
    label = np.empty(max_nodes, np.int64)
    slot = np.empty(max_nodes, np.int64)
    stamp = np.empty(max_nodes, np.int64)
    cand_node = np.empty(W * C, np.int64)
    cand_pb = np.empty(W * C)
    cand_pnb = np.empty(W * C)
    beam_node = np.zeros(W, np.int64)
    beam_pb = np.zeros(W)
    beam_pnb = np.full(W, -np.inf)
    parent[0] = -1
    label[0] = -1
    stamp[0] = -1
    nodes = 1
    nbeam = 1
    for t in range(Tb):
        e = lp[t]
        ncand = 0
        for i in range(nbeam):
            n = beam_node[i]
            pb = beam_pb[i]
            pnb = beam_pnb[i]
            total = _lse(pb, pnb)
            last = label[n]
            if stamp[n] != t:  # stay: a blank, or the last label repeated (collapses)
                stamp[n] = t
                slot[n] = ncand
                cand_node[ncand] = n
                cand_pb[ncand] = -np.inf
                cand_pnb[ncand] = -np.inf
                ncand += 1
            k = slot[n]
            cand_pb[k] = _lse(cand_pb[k], total + e[blank])
            if n != 0:
                cand_pnb[k] = _lse(cand_pnb[k], pnb + e[last])
            for c in range(C):
                if c == blank:
                    continue
                m, nodes = _child(n, c, C, keys, vals, parent, label, stamp, nodes, cap - 1)
                if stamp[m] != t:
                    stamp[m] = t
                    slot[m] = ncand
                    cand_node[ncand] = m
                    cand_pb[ncand] = -np.inf
                    cand_pnb[ncand] = -np.inf
                    ncand += 1
                k = slot[m]
                src = pb if c == last else total  # a repeat needs a blank in between
                cand_pnb[k] = _lse(cand_pnb[k], src + e[c])
        tot = np.empty(ncand)
        for k in range(ncand):
            tot[k] = _lse(cand_pb[k], cand_pnb[k])
        order = np.argsort(-tot, kind="mergesort")
        keep = min(W, ncand)
        for i in range(keep):
            k = order[i]
            beam_node[i] = cand_node[k]
            beam_pb[i] = cand_pb[k]
            beam_pnb[i] = cand_pnb[k]
        nbeam = keep
    for j in range(K):
        labels[j, :] = -1
        if j >= nbeam:
            lengths[j] = -1
            scores[j] = -np.inf
            continue
        ln = 0
        n = beam_node[j]
        while n != 0:
            ln += 1
            n = parent[n]
        n = beam_node[j]
        pos = ln
        while n != 0:
            pos -= 1
            labels[j, pos] = label[n]
            n = parent[n]
        lengths[j] = ln
        scores[j] = _lse(beam_pb[j], beam_pnb[j])


@_jit
def _beam_search(labels, lengths, scores, log_probs, input_lengths, blank, W, K, b0, b1):
    T, B, C = log_probs.shape
    for b in range(b0, b1):
        _beam_item(labels[b], lengths[b], scores[b], log_probs[:, b], input_lengths[b], C, blank, W, K)


def ctc_beam_search(labels, lengths, scores, log_probs, input_lengths, blank, beam_width, top_k):
    _over_batch(_beam_search, log_probs.shape[1], labels, lengths, scores, log_probs, input_lengths, int(blank),
                int(beam_width), int(top_k))
