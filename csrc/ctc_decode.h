// CTC prefix beam search (Hannun et al. 2014), log space, batched.
//
// Layout (row-major, contiguous):
//   log_probs      (T, B, C)  log-probabilities, time-major
//   input_lengths  (B,) int64 frames used per item, 0 <= input_lengths[b] <= T
//   blank          blank class; beam_width W >= 1; top_k K >= 1
// Outputs (OVERWRITTEN), for each item the K best prefixes after its last frame, best first:
//   labels  (B, K, T) int64   label sequence, padded with -1 (a prefix has at most T labels)
//   lengths (B, K) int64      number of labels (-1 marks a missing hypothesis when fewer than K exist)
//   scores  (B, K)            log P(prefix) = logsumexp(ending in blank, ending in a label)
// Algorithm: each prefix keeps the log probability of its paths ending in blank (pb) and in its
// last label (pnb). Per frame, every kept prefix either stays (a blank, or a repeat of its last
// label, which collapses) or is extended by a label c (from pb only when c repeats the last label).
// Prefixes are nodes of a trie (parent, label), so equal prefixes reached by different beams are
// the same node and merge. After each frame the W best prefixes are kept.
// Who allocates: the kernel, per thread: a trie of the kept prefixes (a candidate becomes a node only
// when it is kept, so at most T*W + 1 nodes), its hash table, one frame's W*C candidates; taken from
// a pool kept between calls (release_all_scratch in team.h frees it).
// Memory: W is first reduced to the number of distinct prefixes of at most T labels,
// W' = min(W, 1 + (C-1) + ... + (C-1)^T) (the beam can never hold more; results are unchanged), then
// each thread needs ctc_beam_scratch_bytes(T, W', C) = 16 N + 12 P + 32 W' C + 20 W' bytes, N = T W' + 1
// nodes, P = the power of two >= 2N (so at most 64 N + 32 W' C + 20 W'): T=2000, W=100, C=100 takes
// 13.1 MB per thread. The bindings raise MemoryError when it exceeds kBeamMaxScratch (1 GiB), which also
// keeps every index within int. Items run on up to rnnfast.set_num_threads threads (std::threads
// started for the call; no thread outlives it).
#pragma once
#include <algorithm>
#include <cstdint>

namespace rnnfast {

constexpr int64_t kBeamMaxScratch = int64_t(1) << 30;  // bytes per thread

// Hash table size for n nodes: the power of two >= 2n (load factor <= 1/2).
inline int64_t beam_table_size(int64_t n) {
  int64_t cap = 1;
  while (cap < 2 * n) cap <<= 1;
  return cap;
}

// min(beam_width, distinct prefixes of at most Tn labels over C - 1 labels): the beam's real bound.
// Inline: the bindings (compiled once) and every instruction-set level's kernels use the same code.
inline int64_t ctc_beam_effective_width(int64_t Tn, int64_t beam_width, int64_t C) {
  // distinct prefixes of at most Tn labels from C - 1 non-blank classes: 1 + (C-1) + ... + (C-1)^Tn
  if (beam_width <= 1 || C <= 1) return std::max<int64_t>(1, std::min<int64_t>(beam_width, 1));
  int64_t total = 1, power = 1;
  for (int64_t l = 1; l <= Tn && total < beam_width; ++l) {
    power = power > beam_width / (C - 1) ? beam_width : power * (C - 1);  // saturates at beam_width
    total = std::min(beam_width, total + power);
  }
  return std::min(beam_width, total);
}

// Scratch bytes of one thread for an item of Tn frames (W: the effective width); saturates at 2^62.
inline int64_t ctc_beam_scratch_bytes(int64_t Tn, int64_t W, int64_t C) {
  const int64_t kMax = int64_t(1) << 62;
  auto mul = [&](int64_t a, int64_t b) { return (a == 0 || b <= kMax / a) ? a * b : kMax; };
  const int64_t nodes = std::min(kMax, mul(Tn, W) + 1);
  const int64_t table = nodes >= (kMax >> 2) ? kMax : beam_table_size(nodes);
  return std::min(kMax, mul(16, nodes) + mul(12, table) + mul(32, mul(W, C)) + mul(20, W));
}

template <class T>
void ctc_beam_search(int64_t* labels, int64_t* lengths, T* scores, const T* log_probs, const int64_t* input_lengths,
                     int Tn, int B, int C, int blank, int64_t beam_width, int top_k);

}  // namespace rnnfast
