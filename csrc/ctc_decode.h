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
// Who allocates: the kernel allocates per-thread scratch (trie, hash table, candidates) once per
// call, sized from T, W and C, before the loops. Items run on OpenMP threads.
#pragma once
#include <cstdint>

namespace rnnfast {

template <class T>
void ctc_beam_search(int64_t* labels, int64_t* lengths, T* scores, const T* log_probs, const int64_t* input_lengths,
                     int Tn, int B, int C, int blank, int beam_width, int top_k);

}  // namespace rnnfast
