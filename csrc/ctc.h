// CTC loss and gradient (Graves et al. 2006), PyTorch semantics.
//
// Layout (row-major, contiguous):
//   log_probs       (T, B, C)   log-probabilities (log_softmax outputs), time-major
//   targets         (B, Smax)   int64 labels, padded; item b uses targets[b, :target_lengths[b]]
//   input_lengths   (B,) int64  0 <= input_lengths[b] <= T
//   target_lengths  (B,) int64  0 <= target_lengths[b] <= Smax
//   blank           index of the blank class, 0 <= blank < C; labels are in [0, C) and != blank
//                   (the bindings check all of this before calling the kernel).
// Extended labelling of item b: l' = (blank, l1, blank, l2, ..., lL, blank), S = 2L + 1 states.
//   alpha[t, s] = P(prefix l'[0..s] emitted in frames 0..t, ending in state s)  (includes frame t)
//   loss[b] = nll = -log P(l | x) = -log(alpha[T_b-1, S-1] + alpha[T_b-1, S-2]).
// Gradient (what PyTorch's backward returns for log_probs, times grad_scale[b]):
//   grad[t, b, c] = (exp(log_probs[t,b,c]) - sum_{s: l'_s = c} gamma[t, s]) * grad_scale[b]  for t < T_b,
//   0 for t >= T_b; gamma[t, s] = posterior of state s at frame t (alpha * beta / P).
//   log_probs = -inf (an emission of probability 0): its gradient is exp(-inf) - 0 = 0, finite in every
//   backend (torch's kernel computes -inf - (-inf) = NaN there; its limit as log_probs -> -inf is 0).
//   With zero_infinity an infeasible item (nll = inf) gets loss 0 and a zero gradient; without it,
//   loss inf and, as PyTorch, a NaN gradient.
//
// Arithmetic: double inside for both dtypes (outputs in T). Each item first runs a scaled pass in
// probability space (alpha and beta rows divided by their sums, so the recursions are products and
// sums only and vectorise; exp(log_probs) once per (frame, class); loss from the log of the row
// sums). It checks every frame: row sums in [1e-300, 1e300] and z_t >= 1e-290 max(c_t, d_t)
// (z_t = sum_s of the scaled alpha*beta, c_t, d_t the alpha and beta row sums), which bounds the
// share of the paths that double underflow can drop below S * 2.3e-18 per frame. If a check fails
// (tiny emissions, long sequences whose alpha and beta mass sit far apart, infeasible items) the
// item is redone by a log-space pass (exact, several times slower). Without grad, the scaled pass
// still runs its backward sweep (the checks) but writes nothing.
//
// Who allocates: the caller (outputs); the caller passes no workspace. The kernel keeps its rows in
// scratch objects from a pool shared by the threads (team.h ScratchPool), each grown to the largest
// item it served (16 * T_b * ldw bytes, ldw = (S_b + 9) & ~7) and kept between calls, so warm calls
// allocate nothing; rnnfast._core.release_scratch() frees the pool (rnnfast.functional.clear_workspace).
// Outputs OVERWRITTEN: loss (B,), grad (T, B, C) (grad may be nullptr: loss only).
// Items run on up to rnnfast.set_num_threads threads (std::threads started for the call, team.h
// parallel_items: fork-safe) when the batch has at least 2^22 state-frames (sum of T_b * S_b), else on
// the calling thread (see docs/design.md, CTC). Each item is computed by one thread: results do not
// depend on the thread count.
#pragma once
#include <cstdint>

namespace rnnfast {

template <class T>
void ctc_loss(T* loss, T* grad, const T* log_probs, const int64_t* targets, const int64_t* input_lengths,
              const int64_t* target_lengths, const T* grad_scale, int Tn, int B, int C, int Smax, int blank,
              bool zero_infinity);

}  // namespace rnnfast
