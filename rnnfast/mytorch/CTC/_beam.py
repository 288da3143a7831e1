"""The lecture's CTC beam search as one compiled loop (numba), for ``CTCDecoding.beam_search``.

Paths live in a trie of nodes (parent, last symbol, length, 64-bit hash of the symbol string). A
path's identity is its string: two nodes with the same hash are compared symbol by symbol along
their parent chains before they are merged, so a hash collision can never merge different paths.
Each frame keeps the candidate sets of the lecture's algorithm as arrays (node, score) in the order
the lecture's dictionaries would hold them, and merges into small per-frame hash tables, so scores
are accumulated in the same order as the Python transcription.
"""
import numpy as np

try:
    from numba import njit
except ImportError:  # numba is optional: CTCDecoding then runs the Python transcription
    njit = None

AVAILABLE = njit is not None

_MUL = np.uint64(0x9E3779B97F4A7C15)


def _kernel(y, beam_width, node_cap, set_cap):
    """Returns (status, n_out, out_nodes, out_scores, parent, last): status 0 done, 1 out of node
    room, 2 out of set room (the caller retries with more)."""
    C1, T = y.shape
    C = C1 - 1
    parent = np.empty(node_cap, np.int64)
    last = np.empty(node_cap, np.int64)
    length = np.empty(node_cap, np.int64)
    hsh = np.empty(node_cap, np.uint64)
    out_nodes = np.empty(set_cap, np.int64)
    out_scores = np.empty(set_cap, np.float64)
    # candidate sets: blank-ending (bn, bs), symbol-ending (sn, ss); new ones (nbn, nbs), (nsn, nss)
    bn = np.empty(set_cap, np.int64)
    bs = np.empty(set_cap, np.float64)
    sn = np.empty(set_cap, np.int64)
    ss = np.empty(set_cap, np.float64)
    nbn = np.empty(set_cap, np.int64)
    nbs = np.empty(set_cap, np.float64)
    nsn = np.empty(set_cap, np.int64)
    nss = np.empty(set_cap, np.float64)
    tsize = 16
    while tsize < 4 * set_cap:
        tsize *= 2
    table = np.full(tsize, -1, np.int64)  # slot -> index into the set being built
    used = np.empty(tsize, np.int64)
    heap = np.empty(max(beam_width, 1), np.float64)
    mask = np.uint64(tsize - 1)
    # the root (empty path) and one node per symbol
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
        parent[nodes] = 0
        last[nodes] = c
        length[nodes] = 1
        hsh[nodes] = (hsh[0] ^ np.uint64(c)) * _MUL + np.uint64(1)
        sn[ns] = nodes
        ss[ns] = y[c, 0]
        ns += 1
        nodes += 1
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
                sn[m] = sn[i]
                ss[m] = ss[i]
                m += 1
        ns = m
        # ---- extend with blank: blank-ending paths, then symbol-ending ones merged by path
        yb = y[0, t]
        nu = 0
        nnb = 0
        for i in range(nb):
            nbn[nnb] = bn[i]
            nbs[nnb] = bs[i] * yb
            slot = hsh[bn[i]] & mask
            while table[slot] != -1:
                slot = (slot + np.uint64(1)) & mask
            table[slot] = nnb
            used[nu] = slot
            nu += 1
            nnb += 1
        for i in range(ns):
            p = sn[i]
            slot = hsh[p] & mask
            found = -1
            while table[slot] != -1:
                q = nbn[table[slot]]
                if _same(q, p, hsh, parent, last, length):
                    found = table[slot]
                    break
                slot = (slot + np.uint64(1)) & mask
            if found >= 0:
                nbs[found] += ss[i] * yb
            else:
                if nnb >= set_cap:
                    return 2, 0, out_nodes, out_scores, parent, last
                nbn[nnb] = p
                nbs[nnb] = ss[i] * yb
                table[slot] = nnb
                used[nu] = slot
                nu += 1
                nnb += 1
        for i in range(nu):
            table[used[i]] = -1
        # ---- extend with each symbol: blank-ending paths (new paths), then symbol-ending ones
        nu = 0
        nns = 0
        for i in range(nb):
            p = bn[i]
            for c in range(1, C + 1):
                hc = (hsh[p] ^ np.uint64(c)) * _MUL + np.uint64(length[p] + 1)
                slot = hc & mask
                while table[slot] != -1:  # distinct from every path so far (different parents or symbols)
                    slot = (slot + np.uint64(1)) & mask
                if nodes >= node_cap:
                    return 1, 0, out_nodes, out_scores, parent, last
                if nns >= set_cap:
                    return 2, 0, out_nodes, out_scores, parent, last
                parent[nodes] = p
                last[nodes] = c
                length[nodes] = length[p] + 1
                hsh[nodes] = hc
                nsn[nns] = nodes
                nss[nns] = bs[i] * y[c, t]
                table[slot] = nns
                used[nu] = slot
                nu += 1
                nns += 1
                nodes += 1
        for i in range(ns):
            p = sn[i]
            for c in range(1, C + 1):
                if c == last[p]:
                    hc = hsh[p]
                else:
                    hc = (hsh[p] ^ np.uint64(c)) * _MUL + np.uint64(length[p] + 1)
                slot = hc & mask
                found = -1
                while table[slot] != -1:
                    q = nsn[table[slot]]
                    if hsh[q] == hc:
                        if c == last[p]:
                            same = _same(q, p, hsh, parent, last, length)
                        else:
                            same = last[q] == c and parent[q] >= 0 and _same(parent[q], p, hsh, parent, last,
                                                                              length)
                        if same:
                            found = table[slot]
                            break
                    slot = (slot + np.uint64(1)) & mask
                if found >= 0:
                    nss[found] += ss[i] * y[c, t]
                    continue
                if nns >= set_cap:
                    return 2, 0, out_nodes, out_scores, parent, last
                if c == last[p]:
                    q = p
                else:
                    if nodes >= node_cap:
                        return 1, 0, out_nodes, out_scores, parent, last
                    q = nodes
                    parent[q] = p
                    last[q] = c
                    length[q] = length[p] + 1
                    hsh[q] = hc
                    nodes += 1
                nsn[nns] = q
                nss[nns] = ss[i] * y[c, t]
                table[slot] = nns
                used[nu] = slot
                nu += 1
                nns += 1
        for i in range(nu):
            table[used[i]] = -1
        # the new sets become the current ones
        for i in range(nnb):
            bn[i] = nbn[i]
            bs[i] = nbs[i]
        nb = nnb
        for i in range(nns):
            sn[i] = nsn[i]
            ss[i] = nss[i]
        ns = nns
    # ---- merge: the symbol-ending paths, then the blank-ending ones (added to the same path)
    n_out = 0
    nu = 0
    for i in range(ns):
        out_nodes[n_out] = sn[i]
        out_scores[n_out] = ss[i]
        slot = hsh[sn[i]] & mask
        while table[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = n_out
        used[nu] = slot
        nu += 1
        n_out += 1
    for i in range(nb):
        p = bn[i]
        slot = hsh[p] & mask
        found = -1
        while table[slot] != -1:
            if _same(out_nodes[table[slot]], p, hsh, parent, last, length):
                found = table[slot]
                break
            slot = (slot + np.uint64(1)) & mask
        if found >= 0:
            out_scores[found] += bs[i]
        else:
            if n_out >= set_cap:
                return 2, 0, out_nodes, out_scores, parent, last
            out_nodes[n_out] = p
            out_scores[n_out] = bs[i]
            table[slot] = n_out
            used[nu] = slot
            nu += 1
            n_out += 1
    return 0, n_out, out_nodes, out_scores, parent, last


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


def _spell(paths, lengths, nodes, n, parent, last):
    """paths[i, :lengths[i]] = the symbols of node nodes[i], first to last."""
    for i in range(n):
        node = nodes[i]
        k = 0
        q = node
        while q > 0:
            k += 1
            q = parent[q]
        lengths[i] = k
        q = node
        while q > 0:
            k -= 1
            paths[i, k] = last[q]
            q = parent[q]


if AVAILABLE:
    _same = njit(cache=True, nogil=True)(_same)
    _kernel = njit(cache=True, nogil=True)(_kernel)
    _spell = njit(cache=True, nogil=True)(_spell)


def run(y, beam_width):
    """The lecture's beam search on y (C+1, T) float64. Returns (paths (n, T), lengths (n,), scores (n,)):
    path i is ``paths[i, :lengths[i]]`` (1-based symbol indices), in the order the lecture's merge
    produces them."""
    y = np.ascontiguousarray(y, np.float64)
    C1, T = y.shape
    set_cap = (2 * beam_width + 2) * C1
    node_cap = C1 + 1 + max(T - 1, 0) * min(set_cap, 2 * beam_width * max(C1 - 1, 1))
    while True:
        status, n, nodes, scores, parent, last = _kernel(y, beam_width, node_cap, set_cap)
        if status == 0:
            break
        if status == 1:
            node_cap *= 2
        else:  # ties kept more paths than room was made for
            set_cap *= 2
            node_cap *= 2
    paths = np.zeros((n, T), np.int64)
    lengths = np.empty(n, np.int64)
    _spell(paths, lengths, nodes, n, parent, last)
    return paths, lengths, scores[:n]
