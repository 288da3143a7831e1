"""CTC loss kernels jitted with numba, mirroring csrc/ctc.cpp function by function (read
csrc/ctc.h for the contract: double arithmetic inside, the scaled probability-space pass with its
underflow checks, the log-space pass it falls back to, the gradient formula, what is overwritten).
Items run one after another; the Python wrapper splits large batches over threads."""
import math
import threading

import numpy as np
from numba import njit

from .._numpy import _check
from .._numpy.ctc import check_beam_memory
from ._vmath import (
    vexp as _vexp,  # exp from arithmetic and bit casts: vectorises (no SVML here)
)

_jit = njit(cache=True, nogil=True, error_model="numpy")
# reassociation lets LLVM vectorise the row sums of the scaled pass (no nnan/ninf: its NaN checks stay)
_jit_fm = njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})


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


# Underflow checks of the scaled pass (csrc/ctc.cpp: kOverlap, kRowTiny).
_OVERLAP = 1e-290
_ROW_TINY = 1e-300
# States-frames (sum of T_b * S_b) from which the batch is split over threads (ctc.cpp: kParallelWork).
_PARALLEL_WORK = 1 << 22


@_jit_fm
def _scaled_item(loss, grad, has_grad, log_probs, b, tgt, L, Tb, C, blank, scale, ext, m2, n2, even, ex, wd, we, bt,
                 ne, gam, pc):
    """Scaled (probability-space) pass of one item in float64 (ctc.cpp scaled_item): alpha rows
    wd[t, :S] = A_t with their sums c_t in wd[t, S], emissions we[t, :S], exp(log_probs) in the
    gradient rows until the backward sweep; loss[0] = the item's loss. Item b of the (T, B, C)
    arrays log_probs and grad (indexed in 3-D so that the class loops are unit-stride). Returns
    False (the caller redoes the item in log space) when a check fails."""
    S = 2 * L + 1
    logsum = 0.0
    inv = 1.0  # 1 / c_{t-1}
    for t in range(Tb):  # ---- alpha
        for k in range(C):
            ex[k] = _vexp(np.float64(log_probs[t, b, k]))
        if has_grad:
            for k in range(C):
                grad[t, b, k] = ex[k]
        e = we[t]
        exb = ex[blank]  # the gather e[s] = ex[ext[s]] in a loop of its own (LLVM does not vectorise it)
        for j in range(L):
            e[2 * j] = exb
            e[2 * j + 1] = ex[tgt[j]]
        e[2 * L] = exb
        c = wd[t]
        sm = 0.0
        if t == 0:
            for s in range(S):
                c[s] = e[s] if s < 2 else 0.0
                sm += c[s]
        else:
            p = wd[t - 1]
            c[0] = p[0] * inv * e[0]
            sm = c[0]
            if S > 1:
                c[1] = (p[1] + p[0]) * inv * e[1]
                sm += c[1]
            sm2 = 0.0
            for s in range(2, S):
                u = (p[s] + p[s - 1] + m2[s] * p[s - 2]) * (inv * e[s])
                c[s] = u
                sm2 += u
            sm += sm2
            logsum += math.log(p[S])  # log c_{t-1}
        if not (sm >= _ROW_TINY and sm <= 1e300):
            return False
        c[S] = sm
        inv = 1.0 / sm
    last = wd[Tb - 1]
    fin = last[S - 1] + last[S - 2] if S > 1 else last[S - 1]
    if not fin > 0:
        return False
    nll = -(logsum + math.log(fin))
    ne[S] = 0.0
    ne[S + 1] = 0.0
    for t in range(Tb - 1, -1, -1):  # ---- backward sweep
        d = 0.0
        if t == Tb - 1:
            for s in range(S):
                bt[s] = 1.0 if s >= S - 2 else 0.0
            d = 2.0 if S > 1 else 1.0
        else:
            for s in range(S):
                v = ne[s] + ne[s + 1] + n2[s] * ne[s + 2]
                bt[s] = v
                d += v
            if not (d >= _ROW_TINY and d <= 1e300):
                return False
        ar = wd[t]
        e = we[t]
        idd = 1.0 / d
        z = 0.0
        zb = 0.0
        for s in range(S):  # three loops: LLVM does not vectorise them fused (ctc.cpp fuses them)
            v = ar[s] * bt[s]
            gam[s] = v
            z += v
        for s in range(S):
            ne[s] = bt[s] * (idd * e[s])
        for j in range(L + 1):
            zb += gam[2 * j]
        if not (z >= _OVERLAP * max(ar[S], d)):
            return False
        if not has_grad:
            continue
        iz = 1.0 / z
        for k in range(C):
            pc[k] = 0.0
        pc[blank] = zb * iz
        for j in range(L):
            pc[tgt[j]] += gam[2 * j + 1] * iz
        for k in range(C):
            grad[t, b, k] = (np.float64(grad[t, b, k]) - pc[k]) * scale
    loss[0] = nll
    return True


@_jit
def _log_item(grad_b, has_grad, a, bt, lp, tgt, L, Tb, C, blank, zero_infinity, scale, pc):
    """Log-space pass of one item in float64 (ctc.cpp log_item): alpha rows a (Tb, >= S+2) with 2
    leading guards, beta rows bt with guards after (the scaled pass's scratch); grad_b (T, C) view
    of the item's gradient. Returns the loss."""
    S = 2 * L + 1
    ninf = -np.inf
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
            a[t, 2 + s] = lse3(a[t - 1, 2 + s], a[t - 1, 1 + s], a2) + np.float64(lp[t, _ext(tgt, s, blank)])
    nll = -(lse3(a[Tb - 1, 1 + S], a[Tb - 1, S], ninf) if S > 1 else a[Tb - 1, 1 + S])
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
            bt[t, s] = lse3(bt[t + 1, s], bt[t + 1, s + 1], b2) + np.float64(lp[t, _ext(tgt, s, blank)])
    for t in range(Tb):  # ---- gradient: posterior per class, then exp(lp) - posterior
        for k in range(C):
            pc[k] = 0.0
        for s in range(S):
            k = _ext(tgt, s, blank)
            les = np.float64(lp[t, k])
            if les != -np.inf:  # an emission of probability 0 carries no path: 0, not NaN
                pc[k] += _vexp(a[t, 2 + s] + bt[t, s] + nll - les)
        g = grad_b[t]
        for k in range(C):
            g[k] = (_vexp(np.float64(lp[t, k])) - pc[k]) * scale
    return nll


@_jit
def _item(loss, grad, b, has_grad, log_probs, tgt, L, Tb, C, blank, zero_infinity, scale, ext, m2, n2, even, ex, wd, we,
          bv, ne, gam, pc):
    """One item (ctc.cpp item): extended labels and masks, the scaled pass, else the log-space pass."""
    grad_b = grad[:, b if has_grad else 0]
    lp = log_probs[:, b]
    if has_grad:
        grad_b[Tb:] = 0
    if Tb == 0:
        loss[b] = 0.0 if (L == 0 or zero_infinity) else np.inf
        return
    S = 2 * L + 1
    for s in range(S):
        sk = _skip(tgt, s)
        ext[s] = _ext(tgt, s, blank)
        m2[s] = 1.0 if sk else 0.0
        even[s] = 0.0 if s & 1 else 1.0
    for s in range(S):
        n2[s] = m2[s + 2] if s + 2 < S else 0.0
    if _scaled_item(loss[b:b + 1], grad, has_grad, log_probs, b, tgt, L, Tb, C, blank, scale, ext, m2, n2, even, ex,
                    wd, we, bv, ne, gam, pc):
        return
    loss[b] = _log_item(grad_b, has_grad, wd, we, lp, tgt, L, Tb, C, blank, zero_infinity, scale, pc)


@_jit
def _ctc_loss(loss, grad, log_probs, targets, input_lengths, target_lengths, grad_scale, blank, zero_infinity,
              has_grad, has_scale, scratch, b0, b1):
    """Items b0 <= b < b1 (the caller splits the batch over threads, as ctc.cpp's parallel_items).
    scratch (2, >= T * ldw) float64 holds the scaled pass's alpha and emission rows (ctc.cpp
    ItemScratch::wd, we); its small vectors are allocated here."""
    T, B, C = log_probs.shape
    Smax = targets.shape[1]
    S = 2 * Smax + 1
    ldw = (S + 9) & ~7
    ext = np.empty(S, np.int64)
    m2 = np.empty(S)
    n2 = np.empty(S)
    even = np.empty(S)
    ex = np.empty(C)
    pc = np.empty(C)
    bv = np.empty(S)
    ne = np.empty(S + 2)
    gam = np.empty(S)
    wd = scratch[0, :T * ldw].reshape((T, ldw))
    we = scratch[1, :T * ldw].reshape((T, ldw))
    for b in range(b0, b1):
        _item(loss, grad, b, has_grad, log_probs, targets[b], target_lengths[b], input_lengths[b], C, blank,
              zero_infinity, grad_scale[b] if has_scale else 1.0, ext, m2, n2, even, ex, wd, we, bv, ne, gam, pc)


_pool = []  # scaled-pass scratch buffers kept between calls (ctc.cpp: its ScratchPool)
_pool_lock = threading.Lock()


def release_scratch():
    """Free the CTC scratch buffers kept between calls (those no call is using); returns how many were
    freed. The numba counterpart of rnnfast._core.release_scratch()."""
    with _pool_lock:
        n = len(_pool)
        _pool.clear()
    return n


def _with_scratch(fn, n):
    """fn(..., scratch, b0, b1) wrapped to run with a (2, >= n) float64 buffer from _pool: repeated
    calls reuse memory instead of faulting in fresh pages."""
    def run(*args):
        with _pool_lock:
            buf = _pool.pop() if _pool else None
        if buf is None or buf.shape[1] < n:
            buf = np.empty((2, n))
        try:
            fn(*args[:-2], buf, *args[-2:])
        finally:
            with _pool_lock:
                _pool.append(buf)
    return run


def _over_batch(fn, B, *args, work=None):
    """fn(*args, b0, b1) on contiguous blocks of the batch, one per kernel thread: the jitted
    functions release the GIL (nogil), so Python threads run them in parallel (no numba threading
    layer is started; see rnnfast/_threads.py). With ``work`` (state-frames) below _PARALLEL_WORK
    everything runs on the calling thread, as ctc.cpp's parallel_items."""
    from .._threads import get_num_threads

    nt = max(1, min(get_num_threads(), B))
    if nt == 1 or (work is not None and work < _PARALLEL_WORK):
        fn(*args, 0, B)
        return
    from concurrent.futures import ThreadPoolExecutor

    bounds = [B * k // nt for k in range(nt + 1)]
    with ThreadPoolExecutor(nt - 1) as ex:
        futs = [ex.submit(fn, *args, bounds[k], bounds[k + 1]) for k in range(1, nt)]
        fn(*args, bounds[0], bounds[1])
        for f in futs:
            f.result()


def ctc_loss(loss, grad, log_probs, targets, input_lengths, target_lengths, grad_scale, blank, zero_infinity):
    _check.check_ctc_loss(**locals())  # as the bindings check: never out of bounds
    dt = log_probs.dtype
    work = int(np.dot(input_lengths, 2 * target_lengths + 1))
    T = log_probs.shape[0]
    ldw = (2 * targets.shape[1] + 10) & ~7  # as _ctc_loss
    _over_batch(_with_scratch(_ctc_loss, T * ldw), log_probs.shape[1], loss,
                np.empty((0, 1, log_probs.shape[2]), dt) if grad is None else grad, log_probs, targets,
                input_lengths, target_lengths, np.empty(0, dt) if grad_scale is None else grad_scale, int(blank),
                bool(zero_infinity), grad is not None, grad_scale is not None, work=work)


# ---------------------------------------------------------------------------------- beam search
# Mirrors csrc/ctc_decode.cpp: kept prefixes are trie nodes (parent, label); an open-addressing table
# maps (parent, label) to the child node, so equal prefixes merge; per frame the W best are kept.
# Memory bound and MemoryError: rnnfast._numpy.ctc.check_beam_memory (as the cpp backend).
@_jit
def _lse(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@_jit
def _find(p, c, C, keys, mask):
    """Table slot of (p, c): its entry, or the empty slot where it would go."""
    key = p * C + c
    h = (key * 2654435761) & mask
    while keys[h] != -1 and keys[h] != key:
        h = (h + 1) & mask
    return h


@_jit
def _beam_item(labels, lengths, scores, lp, Tb, C, blank, W, K):
    """One item (ctc_decode.cpp item): a trie of the kept prefixes only (a candidate that extends a beam
    by a label no kept prefix has is "new", parent and label only, and becomes a node when kept), so at
    most Tb*W + 1 nodes; ties in candidate order (stable sort, as the C++ comparator)."""
    max_nodes = Tb * W + 1
    cap = 1
    while cap < 2 * max_nodes:
        cap <<= 1
    mask = cap - 1
    keys = np.full(cap, -1, np.int64)
    vals = np.empty(cap, np.int64)
    parent = np.empty(max_nodes, np.int64)
    label = np.empty(max_nodes, np.int64)
    slot = np.empty(max_nodes, np.int64)
    stamp = np.empty(max_nodes, np.int64)
    cand_node = np.empty(W * C, np.int64)
    cand_parent = np.empty(W * C, np.int64)
    cand_label = np.empty(W * C, np.int64)
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
                h = _find(n, c, C, keys, mask)
                if keys[h] != -1:  # a kept prefix (possibly another beam's stay): merge
                    m = vals[h]
                    if stamp[m] != t:
                        stamp[m] = t
                        slot[m] = ncand
                        cand_node[ncand] = m
                        cand_pb[ncand] = -np.inf
                        cand_pnb[ncand] = -np.inf
                        ncand += 1
                    k = slot[m]
                else:  # a new prefix: (n, c) is unique this frame
                    k = ncand
                    ncand += 1
                    cand_node[k] = -1
                    cand_parent[k] = n
                    cand_label[k] = c
                    cand_pb[k] = -np.inf
                    cand_pnb[k] = -np.inf
                src = pb if c == last else total  # a repeat needs a blank in between
                cand_pnb[k] = _lse(cand_pnb[k], src + e[c])
        tot = np.empty(ncand)
        for k in range(ncand):
            tot[k] = _lse(cand_pb[k], cand_pnb[k])
        order = np.argsort(-tot, kind="mergesort")  # NaN last, ties in candidate order
        keep = min(W, ncand)
        for i in range(keep):
            k = order[i]
            beam_pb[i] = cand_pb[k]
            beam_pnb[i] = cand_pnb[k]
            beam_node[i] = cand_node[k]
        for i in range(keep):
            if beam_node[i] >= 0:
                continue
            k = order[i]
            h = _find(cand_parent[k], cand_label[k], C, keys, mask)
            keys[h] = cand_parent[k] * C + cand_label[k]
            vals[h] = nodes
            parent[nodes] = cand_parent[k]
            label[nodes] = cand_label[k]
            stamp[nodes] = -1
            beam_node[i] = nodes
            nodes += 1
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
    _check.check_ctc_beam_search(**locals())  # as the bindings check: never out of bounds
    beam_width = check_beam_memory(log_probs.shape[0], beam_width, log_probs.shape[2])
    _over_batch(_beam_search, log_probs.shape[1], labels, lengths, scores, log_probs, input_lengths, int(blank),
                int(beam_width), int(top_k))
