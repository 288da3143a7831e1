"""The lecture's CTC beam search as one compiled loop (numba), for ``CTCDecoding.beam_search``.

Paths are nodes of a trie (parent, last symbol, length, 64-bit hash of the symbol string). After a
frame's pruning only a few paths are kept (about the beam width); every candidate of the next frame
is one of them, extended by a blank (the same path), by its own last symbol (the same path) or by
another symbol (a child). So candidates are held as (kept path, symbol) pairs in dense tables, and
a child becomes a trie node only if it survives the next pruning. Two kept paths are the same
string only if their hashes match and their symbols match along the parent chains, so a hash
collision never merges different paths. Scores are accumulated in the order of the lecture's
dictionaries and candidates listed in their insertion order, so results equal the Python
transcription's.
"""
import numpy as np

try:
    from numba import njit
except ImportError:  # numba is optional: CTCDecoding then runs the Python transcription
    njit = None

AVAILABLE = njit is not None

_MUL = np.uint64(0x9E3779B97F4A7C15)


def _child_hash(h, c, n):
    return (h ^ np.uint64(c)) * _MUL + np.uint64(n)


def _same(a, b, hsh, parent, last, length):
    """True if nodes a and b spell the same path (hash, length, then symbol by symbol)."""
    if a == b:
        return True
    if hsh[a] != hsh[b] or length[a] != length[b]:
        return False
    while a != b and a >= 0:
        if last[a] != last[b]:
            return False
        a = parent[a]
        b = parent[b]
    return True


def _kernel(y, beam_width, node_cap, set_cap, kept_cap):
    """Returns (status, n, out_node, out_ext, out_score, parent, last): merged path i is node out_node[i]
    followed by symbol out_ext[i] when > 0. status 0 done, 1 out of node room, 2 out of set room,
    3 more kept paths than kept_cap (ties)."""
    C1, T = y.shape
    C = C1 - 1
    parent = np.empty(node_cap, np.int64)
    last = np.empty(node_cap, np.int64)
    length = np.empty(node_cap, np.int64)
    hsh = np.empty(node_cap, np.uint64)
    # blank-ending set: nodes (bn, bs); symbol-ending set: entries node + optional symbol (sn, se, ss)
    bn = np.empty(set_cap, np.int64)
    bs = np.empty(set_cap, np.float64)
    sn = np.empty(set_cap, np.int64)
    se = np.empty(set_cap, np.int64)
    ss = np.empty(set_cap, np.float64)
    nbn = np.empty(set_cap, np.int64)
    nbs = np.empty(set_cap, np.float64)
    nbk = np.empty(set_cap, np.int64)  # kept-path index of each new blank-ending entry
    nsn = np.empty(set_cap, np.int64)
    nse = np.empty(set_cap, np.int64)
    nss = np.empty(set_cap, np.float64)
    kb = np.empty(set_cap, np.int64)  # kept-path index of each kept blank-ending / symbol-ending path
    ks = np.empty(set_cap, np.int64)
    knode = np.empty(kept_cap, np.int64)
    idx = np.full(kept_cap * C1, -1, np.int64)  # (kept path, symbol) -> new symbol-ending entry
    alias = np.full(kept_cap * C1, -1, np.int64)  # (kept path, symbol) -> kept path of that string
    sidx = np.full(kept_cap, -1, np.int64)  # kept path -> new symbol-ending entry of the path itself
    heap = np.empty(max(beam_width, 1), np.float64)
    parent[0] = -1
    last[0] = 0
    length[0] = 0
    hsh[0] = np.uint64(0)
    nodes = 1
    nb = 1
    bn[0] = 0
    bs[0] = y[0, 0]
    ns = 0
    for c in range(1, C + 1):
        sn[ns] = 0
        se[ns] = c
        ss[ns] = y[c, 0]
        ns += 1
    K = 0
    for t in range(1, T):
        # ---- prune to the scores >= the beam_width-th best across both sets (all, when fewer)
        n_all = nb + ns
        if beam_width < n_all:
            k = 0  # min-heap of the beam_width largest scores
            for i in range(n_all):
                v = bs[i] if i < nb else ss[i - nb]
                if k < beam_width:
                    j = k
                    k += 1
                    while j > 0 and heap[(j - 1) // 2] > v:
                        heap[j] = heap[(j - 1) // 2]
                        j = (j - 1) // 2
                    heap[j] = v
                elif v > heap[0]:
                    j = 0
                    while True:
                        l = 2 * j + 1
                        if l >= k:
                            break
                        if l + 1 < k and heap[l + 1] < heap[l]:
                            l += 1
                        if heap[l] >= v:
                            break
                        heap[j] = heap[l]
                        j = l
                    heap[j] = v
            cutoff = heap[0]
        else:
            cutoff = np.inf
            for i in range(nb):
                cutoff = min(cutoff, bs[i])
            for i in range(ns):
                cutoff = min(cutoff, ss[i])
        m = 0
        for i in range(nb):
            if bs[i] >= cutoff:
                bn[m] = bn[i]
                bs[m] = bs[i]
                m += 1
        nb = m
        m = 0
        for i in range(ns):
            if ss[i] >= cutoff:
                node = sn[i]
                c = se[i]
                if c > 0:  # a surviving child becomes a trie node
                    if nodes >= node_cap:
                        return 1, 0, sn, se, ss, parent, last
                    parent[nodes] = node
                    last[nodes] = c
                    length[nodes] = length[node] + 1
                    hsh[nodes] = _child_hash(hsh[node], c, length[node] + 1)
                    node = nodes
                    nodes += 1
                sn[m] = node
                ss[m] = ss[i]
                m += 1
        ns = m
        if nb + ns > kept_cap:
            return 3, 0, sn, se, ss, parent, last
        # ---- the kept paths (one index per string), and which child of one is another
        for k in range(K):  # clear the previous frame's tables
            sidx[k] = -1
            for c in range(C1):
                idx[k * C1 + c] = -1
                alias[k * C1 + c] = -1
        K = 0
        for i in range(nb):
            kb[i] = K
            knode[K] = bn[i]
            K += 1
        for i in range(ns):
            found = -1
            for k in range(nb):
                if _same(knode[k], sn[i], hsh, parent, last, length):
                    found = k
                    break
            if found < 0:
                found = K
                knode[K] = sn[i]
                K += 1
            ks[i] = found
        for k in range(K):
            node = knode[k]
            p = parent[node]
            if p < 0:
                continue
            for kp in range(K):
                if _same(knode[kp], p, hsh, parent, last, length):
                    alias[kp * C1 + last[node]] = k
                    break
        # ---- extend with blank: the blank-ending paths, then the symbol-ending ones merged by path
        yb = y[0, t]
        nnb = 0
        for i in range(nb):
            nbn[nnb] = bn[i]
            nbs[nnb] = bs[i] * yb
            nbk[nnb] = kb[i]
            nnb += 1
        for i in range(ns):
            k = ks[i]
            if k < nb:  # the same string is a blank-ending path: its entry is entry k
                nbs[k] += ss[i] * yb
            else:
                nbn[nnb] = sn[i]
                nbs[nnb] = ss[i] * yb
                nbk[nnb] = k
                nnb += 1
        # ---- extend with each symbol: blank-ending paths first, then symbol-ending ones
        nns = 0
        for i in range(nb):
            k = kb[i]
            for c in range(1, C1):
                a = alias[k * C1 + c]
                e = idx[k * C1 + c] if a < 0 else sidx[a]
                if e < 0:
                    if nns >= set_cap:
                        return 2, 0, sn, se, ss, parent, last
                    e = nns
                    nns += 1
                    if a < 0:
                        idx[k * C1 + c] = e
                        nsn[e] = knode[k]
                        nse[e] = c
                    else:
                        sidx[a] = e
                        nsn[e] = knode[a]
                        nse[e] = 0
                    nss[e] = bs[i] * y[c, t]
                else:
                    nss[e] += bs[i] * y[c, t]
        for i in range(ns):
            k = ks[i]
            lastp = last[sn[i]]
            for c in range(1, C1):
                a = k if c == lastp else alias[k * C1 + c]
                e = idx[k * C1 + c] if a < 0 else sidx[a]
                if e < 0:
                    if nns >= set_cap:
                        return 2, 0, sn, se, ss, parent, last
                    e = nns
                    nns += 1
                    if a < 0:
                        idx[k * C1 + c] = e
                        nsn[e] = knode[k]
                        nse[e] = c
                    else:
                        sidx[a] = e
                        nsn[e] = knode[a]
                        nse[e] = 0
                    nss[e] = ss[i] * y[c, t]
                else:
                    nss[e] += ss[i] * y[c, t]
        # the new sets become the current ones
        for i in range(nnb):
            bn[i] = nbn[i]
            bs[i] = nbs[i]
            kb[i] = nbk[i]
        nb = nnb
        for i in range(nns):
            sn[i] = nsn[i]
            se[i] = nse[i]
            ss[i] = nss[i]
        ns = nns
    # ---- merge: the symbol-ending paths, then the blank-ending ones (added to the same path)
    n = ns
    if T == 1:  # no frame was extended: blank "" and the symbols are distinct paths
        for i in range(nb):
            kb[i] = -1
    for i in range(nb):
        e = sidx[kb[i]] if kb[i] >= 0 else -1
        if e >= 0:
            ss[e] += bs[i]
        else:
            if n >= set_cap:
                return 2, 0, sn, se, ss, parent, last
            sn[n] = bn[i]
            se[n] = 0
            ss[n] = bs[i]
            n += 1
    return 0, n, sn, se, ss, parent, last


def _spell(paths, lengths, nodes, ext, n, parent, last):
    """paths[i, :lengths[i]] = the symbols of node nodes[i] (then ext[i] when > 0), first to last."""
    for i in range(n):
        node = nodes[i]
        k = 0
        q = node
        while q > 0:
            k += 1
            q = parent[q]
        if ext[i] > 0:
            paths[i, k] = ext[i]
            lengths[i] = k + 1
        else:
            lengths[i] = k
        q = node
        while q > 0:
            k -= 1
            paths[i, k] = last[q]
            q = parent[q]


if AVAILABLE:
    _child_hash = njit(cache=True, nogil=True)(_child_hash)
    _same = njit(cache=True, nogil=True)(_same)
    _kernel = njit(cache=True, nogil=True)(_kernel)
    _spell = njit(cache=True, nogil=True)(_spell)


def run(y, beam_width):
    """The lecture's beam search on y (C+1, T) float64. Returns (paths (n, T), lengths (n,), scores (n,)):
    path i is ``paths[i, :lengths[i]]`` (1-based symbol indices), in the order the lecture's merge
    produces them."""
    y = np.ascontiguousarray(y, np.float64)
    C1, T = y.shape
    kept_cap = 2 * beam_width + 2  # kept paths per frame: beam_width, more only for tied scores
    while True:
        set_cap = kept_cap * C1
        node_cap = 1 + max(T, 1) * kept_cap
        status, n, nodes, ext, scores, parent, last = _kernel(y, beam_width, node_cap, set_cap, kept_cap)
        if status == 0:
            break
        kept_cap *= 2  # ties kept more paths than room was made for
    paths = np.zeros((n, max(T, 1)), np.int64)
    lengths = np.empty(n, np.int64)
    _spell(paths, lengths, nodes, ext, n, parent, last)
    return paths, lengths, scores[:n].copy()
