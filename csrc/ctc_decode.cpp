// CTC prefix beam search; contract in ctc_decode.h.
#include "ctc_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "team.h"

namespace rnnfast {
namespace {

inline double lse(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::fabs(a - b)));
}

// Scratch of one call on one thread: the trie of the prefixes kept so far, an open-addressing table
// (parent, label) -> child, and the candidates of one frame. A prefix becomes a trie node only when
// it is kept in the beam (candidates that extend a beam by a label no kept prefix has are "new":
// parent and label only), so an item of Tb frames makes at most Tb*W + 1 nodes. Sizes and the
// memory formula: ctc_beam_scratch_bytes (ctc_decode.h).
struct Beam {
  std::vector<int32_t> parent, label, slot, stamp;  // per node; slot/stamp: its candidate this frame
  std::vector<int64_t> keys;                        // hash table: key = parent * C + label, -1 = empty
  std::vector<int32_t> vals;
  std::vector<int32_t> cand_node, cand_parent, cand_label, order, beam_node;  // cand_node -1: a new prefix
  std::vector<double> cand_pb, cand_pnb, beam_pb, beam_pnb;
  int64_t mask = 0;
  int nodes = 0;

  void reset(int64_t max_nodes, int64_t max_cands, int W) {
    if ((int64_t)parent.size() < max_nodes) {
      parent.resize(max_nodes); label.resize(max_nodes); slot.resize(max_nodes); stamp.resize(max_nodes);
      const int64_t cap = beam_table_size(max_nodes);
      keys.resize(cap); vals.resize(cap);
      mask = cap - 1;
    }
    if ((int64_t)cand_node.size() < max_cands) {
      cand_node.resize(max_cands); cand_parent.resize(max_cands); cand_label.resize(max_cands);
      order.resize(max_cands); cand_pb.resize(max_cands); cand_pnb.resize(max_cands);
    }
    if ((int)beam_node.size() < W) { beam_node.resize(W); beam_pb.resize(W); beam_pnb.resize(W); }
    std::fill(keys.begin(), keys.end(), -1);
    nodes = 1;  // node 0: the empty prefix
    parent[0] = -1; label[0] = -1; stamp[0] = -1;
  }

  int64_t find_slot(int p, int c, int C) const {  // table slot of (p, c): its entry or the empty slot
    const int64_t key = (int64_t)p * C + c;
    int64_t h = (int64_t)(((uint64_t)key * 0x9E3779B97F4A7C15ULL) & (uint64_t)mask);
    while (keys[h] != -1 && keys[h] != key) h = (h + 1) & mask;
    return h;
  }
  int child(int p, int c, int C) const {  // the node of prefix p + (c,), -1 if it is not in the trie
    const int64_t h = find_slot(p, c, C);
    return keys[h] == -1 ? -1 : vals[h];
  }
  int add_child(int p, int c, int C) {
    const int64_t h = find_slot(p, c, C);
    const int n = nodes++;
    keys[h] = (int64_t)p * C + c; vals[h] = n;
    parent[n] = p; label[n] = c; stamp[n] = -1;
    return n;
  }

  int candidate(int node, int t, int& ncand) {  // this frame's candidate slot of an existing node
    if (stamp[node] != t) {
      stamp[node] = t;
      slot[node] = ncand;
      cand_node[ncand] = node;
      cand_pb[ncand] = cand_pnb[ncand] = -INFINITY;
      ++ncand;
    }
    return slot[node];
  }
};

template <class T>
void item(int64_t* labels, int64_t* lengths, T* scores, const T* lp, int64_t ldt, int Tb, int Tn, int C, int blank,
          int W, int K, Beam& s) {
  s.reset((int64_t)Tb * W + 1, (int64_t)W * C, W);
  int nbeam = 1;
  s.beam_node[0] = 0; s.beam_pb[0] = 0.0; s.beam_pnb[0] = -INFINITY;
  for (int t = 0; t < Tb; ++t) {
    const T* e = lp + t * ldt;
    int ncand = 0;
    for (int i = 0; i < nbeam; ++i) {
      const int n = s.beam_node[i];
      const double pb = s.beam_pb[i], pnb = s.beam_pnb[i], total = lse(pb, pnb);
      const int last = s.label[n];
      int k = s.candidate(n, t, ncand);  // stay: a blank, or the last label repeated (collapses)
      s.cand_pb[k] = lse(s.cand_pb[k], total + (double)e[blank]);
      if (n != 0) s.cand_pnb[k] = lse(s.cand_pnb[k], pnb + (double)e[last]);
      for (int c = 0; c < C; ++c) {
        if (c == blank) continue;
        const int m = s.child(n, c, C);
        if (m >= 0) {
          k = s.candidate(m, t, ncand);  // a kept prefix (possibly another beam's stay): merge
        } else {  // a new prefix: (n, c) is unique this frame
          k = ncand++;
          s.cand_node[k] = -1; s.cand_parent[k] = n; s.cand_label[k] = c;
          s.cand_pb[k] = s.cand_pnb[k] = -INFINITY;
        }
        const double src = (c == last) ? pb : total;  // a repeat needs a blank in between
        s.cand_pnb[k] = lse(s.cand_pnb[k], src + (double)e[c]);
      }
    }
    const int keep = std::min(W, ncand);
    std::iota(s.order.begin(), s.order.begin() + ncand, 0);
    // best first; NaN scores last; ties in candidate order (as numba's stable argsort)
    auto better = [&](int a, int b) {
      const double sa = lse(s.cand_pb[a], s.cand_pnb[a]), sb = lse(s.cand_pb[b], s.cand_pnb[b]);
      const bool na = std::isnan(sa), nb = std::isnan(sb);
      if (na != nb) return nb;
      return (!na && sa > sb) || ((na || sa == sb) && a < b);
    };
    std::partial_sort(s.order.begin(), s.order.begin() + keep, s.order.begin() + ncand, better);
    for (int i = 0; i < keep; ++i) {
      const int k = s.order[i];
      s.beam_pb[i] = s.cand_pb[k]; s.beam_pnb[i] = s.cand_pnb[k];
      s.beam_node[i] = s.cand_node[k];  // new prefixes get their node below (nodes stay < Tb*W + 1)
    }
    for (int i = 0; i < keep; ++i) {
      if (s.beam_node[i] >= 0) continue;
      const int k = s.order[i];
      s.beam_node[i] = s.add_child(s.cand_parent[k], s.cand_label[k], C);
    }
    nbeam = keep;
  }
  // beams are sorted best first (a single beam when Tb == 0: the empty prefix)
  for (int j = 0; j < K; ++j) {
    int64_t* out = labels + (int64_t)j * Tn;
    std::fill(out, out + Tn, (int64_t)-1);
    if (j >= nbeam) { lengths[j] = -1; scores[j] = -std::numeric_limits<T>::infinity(); continue; }
    int len = 0;
    for (int n = s.beam_node[j]; n != 0; n = s.parent[n]) ++len;
    int pos = len;
    for (int n = s.beam_node[j]; n != 0; n = s.parent[n]) out[--pos] = s.label[n];
    lengths[j] = len;
    scores[j] = (T)lse(s.beam_pb[j], s.beam_pnb[j]);
  }
}

}  // namespace

template <class T>
void ctc_beam_search(int64_t* labels, int64_t* lengths, T* scores, const T* log_probs, const int64_t* input_lengths,
                     int Tn, int B, int C, int blank, int64_t beam_width, int top_k) {
  // the bindings have checked ctc_beam_scratch_bytes(Tn, W, C) <= kBeamMaxScratch (so W*C, Tn*W fit int)
  const int W = (int)ctc_beam_effective_width(Tn, beam_width, C);
  static ScratchPool<Beam>* pool = new ScratchPool<Beam>;  // never destroyed (atfork handler)
  // items on std::threads started for the call (team.h: fork-safe; a bad_alloc is rethrown here)
  parallel_items(team_threads(), B, [&](int64_t b) {
    PooledScratch<Beam> s(*pool);
    item<T>(labels + (int64_t)b * top_k * Tn, lengths + (int64_t)b * top_k, scores + (int64_t)b * top_k,
            log_probs + (int64_t)b * C, (int64_t)B * C, (int)input_lengths[b], Tn, C, blank, W, top_k, *s);
  });
}

template void ctc_beam_search<float>(int64_t*, int64_t*, float*, const float*, const int64_t*, int, int, int, int,
                                     int64_t, int);
template void ctc_beam_search<double>(int64_t*, int64_t*, double*, const double*, const int64_t*, int, int, int, int,
                                      int64_t, int);

}  // namespace rnnfast
