// CTC in probability space with MyTorch semantics (CMU 11-785 HW3P1 `CTC` / `CTCLoss`; spec in
// shared/specs/mytorch-api.md). Unlike ctc.h (PyTorch semantics, log-probabilities), the inputs are
// RAW probabilities y (never logged or renormalised by the caller), beta EXCLUDES the current frame,
// and the loss is the lecture's expected divergence, not the negative log-likelihood.
//
// Extended labelling of a target l (length L): ext = (blank, l1, blank, l2, ..., lL, blank), S = 2L+1;
// skip[s] != 0 iff state s may be entered from s-2 (s >= 2, ext[s] != blank, ext[s] != ext[s-2]).
//
// ---- ctc_prob_alpha_beta: one sequence, the spec's arrays exactly (raw probabilities, no rescaling,
// so they underflow to 0 for long sequences just as the spec's definition does).
//   y     (Tn, C)  probabilities, Tn >= 1
//   ext   (S,)     int64 extended labels in [0, C);  skip (S,) int64, 0 or 1 (entries s < 2 are not read)
//   alpha (Tn, S)  alpha[0,0] = y[0,ext0], alpha[0,1] = y[0,ext1], alpha[0,s>=2] = 0,
//                  alpha[t,s] = (alpha[t-1,s] + alpha[t-1,s-1] + skip[s] alpha[t-1,s-2]) * y[t,ext s]
//   beta  (Tn, S)  beta[Tn-1,S-1] = beta[Tn-1,S-2] = 1 (others 0),
//                  beta[t,s] = sum over s' in {s, s+1, s+2 if skip[s+2]} of beta[t+1,s'] * y[t+1,ext s']
//   gamma (Tn, S)  alpha*beta / sum_s(alpha*beta) per frame (0/0 = NaN on a frame whose sum is 0)
//   Each of alpha, beta, gamma may be nullptr (not computed); gamma needs alpha and beta.
//   All three OVERWRITTEN. No allocation; no threads (one sequence).
//
// ---- ctc_prob_loss: a padded batch, loss and gradient in one pass.
//   y               (Tn, B, C) probabilities, time-major
//   targets         (B, Lpad) int64 labels, padded; item b uses targets[b, :target_lengths[b]],
//                   labels in [0, C) and != blank
//   input_lengths   (B,) int64 in [0, Tn];  target_lengths (B,) int64 in [0, Lpad]
//   gamma  OUT      (B, Tn, Smax), Smax >= 2*max(target_lengths)+1: item b's posteriors in
//                   gamma[b, :T_b, :S_b] (S_b = 2 L_b + 1), every other entry 0. OVERWRITTEN.
//   work   WORKSPACE (B, 2, Smax): two beta (or log-beta) rows per item.
//   loss   OUT      (B,) expected divergence  -sum_{t<T_b} sum_s gamma[t,s] log y[t,b,ext s]. OVERWRITTEN.
//   grad   OUT      (Tn, B, C) or nullptr: dY[t,b,c] = -sum_{s: ext s = c} gamma[t,s] / y[t,b,c] for
//                   t < T_b, 0 for t >= T_b (not divided by B). OVERWRITTEN.
//   Terms with gamma = 0 contribute 0 (0 log 0 = 0, 0/0 = 0: a state is unreachable exactly when one
//   of its emissions is 0). gamma is normalised per frame, as the spec defines it, so the kernel may
//   rescale the recursions freely: it runs them in probability space with every alpha and beta row
//   normalised to sum 1 (alpha kept in `gamma` until the backward sweep overwrites it with the
//   posteriors; beta rows in `work`), and redoes an item in log space when a row or a frame's
//   sum_s alpha*beta of those normalised rows underflows (below 1e-200, float32 1e-25). Long sequences
//   and tiny probabilities therefore never underflow.
//   Infeasible item (no alignment of its target fits in T_b frames, or all paths have probability 0):
//   loss = +inf, gamma rows t < T_b NaN, grad rows t < T_b NaN. T_b = 0: loss 0 if L_b = 0, else +inf.
//   Items run in parallel on std::threads started for the call (team.h parallel_items; fork-safe) when
//   the batch has at least 2^20 state-frames
//   (sum of T_b * S_b), else on the calling thread; nothing is allocated.
#pragma once
#include <cstdint>

namespace rnnfast {

template <class T>
void ctc_prob_alpha_beta(T* alpha, T* beta, T* gamma, const T* y, const int64_t* ext, const int64_t* skip, int Tn,
                         int C, int S);

template <class T>
void ctc_prob_loss(T* loss, T* grad, T* gamma, T* work, const T* y, const int64_t* targets,
                   const int64_t* input_lengths, const int64_t* target_lengths, int Tn, int B, int C, int Lpad,
                   int Smax, int blank);

}  // namespace rnnfast
