// CTC loss and gradient (Graves et al. 2006), PyTorch semantics, log space.
//
// Layout (row-major, contiguous):
//   log_probs       (T, B, C)   log-probabilities (log_softmax outputs), time-major
//   targets         (B, Smax)   int64 labels, padded; item b uses targets[b, :target_lengths[b]]
//   input_lengths   (B,) int64  0 <= input_lengths[b] <= T
//   target_lengths  (B,) int64  0 <= target_lengths[b] <= Smax
//   blank           index of the blank class, 0 <= blank < C; labels are in [0, C) and != blank
//                   (the bindings check all of this before calling the kernel).
// Extended labelling of item b: l' = (blank, l1, blank, l2, ..., lL, blank), S = 2L + 1 states.
//   alpha[t, s] = log P(prefix l'[0..s] emitted in frames 0..t, ending in state s)
//   beta[t, s]  = log P(suffix l'[s..] emitted in frames t..T_b-1, starting in state s)
//   (both include the emission of frame t, as PyTorch's implementation does).
//   loss[b] = nll = -log P(l | x) = -logsumexp(alpha[T_b-1, S-1], alpha[T_b-1, S-2]).
// Gradient (what PyTorch's backward returns for log_probs, times grad_scale[b]):
//   grad[t, b, c] = (exp(log_probs[t,b,c]) - sum_{s: l'_s = c} exp(alpha[t,s] + beta[t,s] + nll - log_probs[t,b,c]))
//                   * grad_scale[b]   for t < T_b;   0 for t >= T_b.
//   With zero_infinity an infeasible item (nll = inf) gets loss 0 and a zero gradient; without it,
//   loss inf and, as PyTorch, a NaN gradient.
//
// Who allocates: the caller. Workspace alpha, beta: (B, T, Smax2) with Smax2 >= 2*Smax + 3 (two
// -inf guard entries per row, so that the recursions vectorise without boundary branches).
// Outputs OVERWRITTEN: loss (B,), grad (T, B, C) (grad may be nullptr: loss only, no beta pass).
// Items run in parallel on the kernel's OpenMP threads; nothing is allocated inside the loops.
#pragma once
#include <cstdint>

namespace rnnfast {

template <class T>
void ctc_loss(T* loss, T* grad, T* alpha, T* beta, const T* log_probs, const int64_t* targets,
              const int64_t* input_lengths, const int64_t* target_lengths, const T* grad_scale, int Tn, int B,
              int C, int Smax, int Smax2, int blank, bool zero_infinity);

}  // namespace rnnfast
