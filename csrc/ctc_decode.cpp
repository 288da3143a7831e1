// CTC prefix beam search; contract in ctc_decode.h.
#include "ctc_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace rnnfast {
namespace {

inline double lse(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::fabs(a - b)));
}

// Scratch of one thread: the trie of prefixes, an open-addressing table (parent, label) -> child,
// and the candidates of one frame. Sized for the worst case: every frame creates at most W*(C-1)
// nodes, so T*W*(C-1)+1 nodes in all.
struct Beam {
  std::vector<int32_t> parent, label, slot, stamp;  // per node; slot/stamp: its candidate this frame
  std::vector<int64_t> keys;                        // hash table: key = parent * C + label, -1 = empty
  std::vector<int32_t> vals;
  std::vector<int32_t> cand_node, order, beam_node;
  std::vector<double> cand_pb, cand_pnb, beam_pb, beam_pnb;
  int64_t mask = 0;
  int nodes = 0;

  void reset(int64_t max_nodes, int max_cands, int W) {
    if ((int64_t)parent.size() < max_nodes) {
      parent.resize(max_nodes); label.resize(max_nodes); slot.resize(max_nodes); stamp.resize(max_nodes);
      int64_t cap = 1;
      while (cap < 2 * max_nodes) cap <<= 1;
      keys.resize(cap); vals.resize(cap);
      mask = cap - 1;
    }
    if ((int)cand_node.size() < max_cands) {
      cand_node.resize(max_cands); order.resize(max_cands); cand_pb.resize(max_cands); cand_pnb.resize(max_cands);
    }
    if ((int)beam_node.size() < W) { beam_node.resize(W); beam_pb.resize(W); beam_pnb.resize(W); }
    std::fill(keys.begin(), keys.end(), -1);
    nodes = 1;  // node 0: the empty prefix
    parent[0] = -1; label[0] = -1; stamp[0] = -1;
  }

  int child(int p, int c, int C) {  // the node of prefix p + (c,), created on first use
    const int64_t key = (int64_t)p * C + c;
    int64_t h = (key * 0x9E3779B97F4A7C15ULL) & mask;
    while (keys[h] != -1) {
      if (keys[h] == key) return vals[h];
      h = (h + 1) & mask;
    }
    const int n = nodes++;
    keys[h] = key; vals[h] = n;
    parent[n] = p; label[n] = c; stamp[n] = -1;
    return n;
  }

  int candidate(int node, int t, int& ncand) {  // this frame's candidate slot of a node
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
  s.reset((int64_t)Tb * W * (C - 1) + 1, W * C, W);
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
        k = s.candidate(m, t, ncand);
        const double src = (c == last) ? pb : total;  // a repeat needs a blank in between
        s.cand_pnb[k] = lse(s.cand_pnb[k], src + (double)e[c]);
      }
    }
    const int keep = std::min(W, ncand);
    std::iota(s.order.begin(), s.order.begin() + ncand, 0);
    auto better = [&](int a, int b) {
      const double sa = lse(s.cand_pb[a], s.cand_pnb[a]), sb = lse(s.cand_pb[b], s.cand_pnb[b]);
      return sa > sb || (sa == sb && s.cand_node[a] < s.cand_node[b]);
    };
    std::partial_sort(s.order.begin(), s.order.begin() + keep, s.order.begin() + ncand, better);
    for (int i = 0; i < keep; ++i) {
      const int k = s.order[i];
      s.beam_node[i] = s.cand_node[k]; s.beam_pb[i] = s.cand_pb[k]; s.beam_pnb[i] = s.cand_pnb[k];
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
                     int Tn, int B, int C, int blank, int beam_width, int top_k) {
#pragma omp parallel
  {
    Beam s;  // one per thread, reused across its items
#pragma omp for schedule(dynamic, 1)
    for (int b = 0; b < B; ++b)
      item<T>(labels + (int64_t)b * top_k * Tn, lengths + (int64_t)b * top_k, scores + (int64_t)b * top_k,
              log_probs + (int64_t)b * C, (int64_t)B * C, (int)input_lengths[b], Tn, C, blank, beam_width, top_k, s);
  }
}

template void ctc_beam_search<float>(int64_t*, int64_t*, float*, const float*, const int64_t*, int, int, int, int, int,
                                     int);
template void ctc_beam_search<double>(int64_t*, int64_t*, double*, const double*, const int64_t*, int, int, int, int,
                                      int, int);

}  // namespace rnnfast
