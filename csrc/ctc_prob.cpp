// Probability-space CTC kernels with MyTorch semantics; contract in ctc_prob.h.
#include "ctc_prob.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "team.h"

namespace rnnfast {
namespace {

template <class T>
constexpr T kInf = std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b) + exp(c)); -inf when all three are -inf.
template <class T>
inline T lse3(T a, T b, T c) {
  T m = a > b ? a : b;
  m = m > c ? m : c;
  if (m == -kInf<T>) return m;
  return m + std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m));
}

// Extended label of state s and whether s may be entered from s-2, for a target tgt of length L.
inline int ext_of(const int64_t* tgt, int s, int blank) { return (s & 1) ? (int)tgt[s >> 1] : blank; }
inline bool skip_of(const int64_t* tgt, int s) { return (s & 1) && s >= 2 && tgt[s >> 1] != tgt[(s >> 1) - 1]; }

// Below this, a frame's sum_s alpha*beta of the row-normalised recursions (or a row sum) counts as
// underflow: the scaled pass gives up and the log-space pass redoes the item. Terms this far below
// the frame's total are ~1e-100 (double) / ~1e-13 (float) of it even where denormal or lost.
template <class T>
constexpr T kTiny = sizeof(T) == 4 ? T(1e-25) : T(1e-200);

// Scaled pass of one item of ctc_prob_loss: alpha and beta in probability space with every row
// normalised to sum 1 (gamma is a per-frame ratio, so the scales cancel), alpha kept in the gamma
// rows until the backward sweep replaces them with the posteriors. Only products and sums: about
// ten times faster than the log-space pass. Returns false, having written unusable values, when
// a row or a frame's overlap underflows (see kTiny) or the item looks infeasible; the caller then
// runs log_item, which is exact there. Arguments as log_item.
template <class T>
bool scaled_item(T& loss, T* grad_b, T* g, T* wk, const T* y, int64_t ldt, const int64_t* tgt, int L, int Tb,
                 int Smax, int blank) {
  const int S = 2 * L + 1;
  {  // ---- alpha
    for (int s = 0; s < S; ++s) g[s] = T(0);
    g[0] = y[blank];
    if (S > 1) g[1] = y[ext_of(tgt, 1, blank)];
    const T sum = S > 1 ? g[0] + g[1] : g[0];
    if (!(sum >= kTiny<T>)) return false;
    g[0] /= sum;
    if (S > 1) g[1] /= sum;
  }
  for (int t = 1; t < Tb; ++t) {
    const T* p = g + (int64_t)(t - 1) * Smax;
    T* c = g + (int64_t)t * Smax;
    const T* yt = y + t * ldt;
    T sum = 0;
    for (int s = 0; s < S; ++s) {
      T v = p[s];
      if (s >= 1) v += p[s - 1];
      if (skip_of(tgt, s)) v += p[s - 2];
      c[s] = v * yt[ext_of(tgt, s, blank)];
      sum += c[s];
    }
    if (!(sum >= kTiny<T>)) return false;
    const T inv = T(1) / sum;
    for (int s = 0; s < S; ++s) c[s] *= inv;
  }
  {
    const T* last = g + (int64_t)(Tb - 1) * Smax;
    if (!((S > 1 ? last[S - 1] + last[S - 2] : last[S - 1]) >= kTiny<T>)) return false;
  }
  // ---- backward sweep: beta row t (excluding frame t), gamma row t, loss and gradient
  loss = 0;
  for (int t = Tb - 1; t >= 0; --t) {
    T* b = wk + (t & 1) * Smax;
    if (t == Tb - 1) {
      for (int s = 0; s < S; ++s) b[s] = T(0);
      b[S - 1] = T(1);
      if (S > 1) b[S - 2] = T(1);
    } else {
      const T* n = wk + ((t + 1) & 1) * Smax;
      const T* yn = y + (t + 1) * ldt;
      T sum = 0;
      for (int s = 0; s < S; ++s) {
        T v = n[s] * yn[ext_of(tgt, s, blank)];
        if (s + 1 < S) v += n[s + 1] * yn[ext_of(tgt, s + 1, blank)];
        if (s + 2 < S && skip_of(tgt, s + 2)) v += n[s + 2] * yn[ext_of(tgt, s + 2, blank)];
        b[s] = v;
        sum += v;
      }
      if (!(sum >= kTiny<T>)) return false;
      const T inv = T(1) / sum;
      for (int s = 0; s < S; ++s) b[s] *= inv;
    }
    T* gr = g + (int64_t)t * Smax;
    T sum = 0;
    for (int s = 0; s < S; ++s) {
      gr[s] *= b[s];
      sum += gr[s];
    }
    if (!(sum >= kTiny<T>)) return false;
    const T inv = T(1) / sum;
    const T* yt = y + t * ldt;
    for (int s = 0; s < S; ++s) {
      gr[s] *= inv;
      if (gr[s] == T(0)) continue;  // unreachable state: 0 log 0 = 0, 0 / 0 = 0
      const int k = ext_of(tgt, s, blank);
      loss -= gr[s] * std::log(yt[k]);
      if (grad_b) grad_b[t * ldt + k] -= gr[s] / yt[k];
    }
  }
  return true;
}

// Log-space pass of one item of ctc_prob_loss (exact where the scaled pass underflows). y rows
// have stride ldt (= B*C) and start at the item's column block; g is the item's (Tn, Smax) gamma
// block, wk its (2, Smax) workspace; grad_b (nullable) is the item's column block of grad, rows of
// stride ldt, zero on entry. Returns the item's loss.
template <class T>
T log_item(T* grad_b, T* g, T* wk, const T* y, int64_t ldt, const int64_t* tgt, int L, int Tb, int C, int Smax,
           int blank) {
  const int S = 2 * L + 1;
  auto ly = [&](int t, int s) { return std::log(y[t * ldt + ext_of(tgt, s, blank)]); };
  // ---- log-alpha, kept in the gamma rows until the backward sweep replaces them
  for (int s = 0; s < S; ++s) g[s] = -kInf<T>;
  g[0] = ly(0, 0);
  if (S > 1) g[1] = ly(0, 1);
  for (int t = 1; t < Tb; ++t) {
    const T* p = g + (int64_t)(t - 1) * Smax;
    T* c = g + (int64_t)t * Smax;
    for (int s = 0; s < S; ++s)
      c[s] = lse3(p[s], s >= 1 ? p[s - 1] : -kInf<T>, skip_of(tgt, s) ? p[s - 2] : -kInf<T>) + ly(t, s);
  }
  const T* last = g + (int64_t)(Tb - 1) * Smax;
  const T logp = lse3(last[S - 1], S > 1 ? last[S - 2] : -kInf<T>, -kInf<T>);
  if (logp == -kInf<T>) {  // infeasible: gamma is 0/0
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (int t = 0; t < Tb; ++t) {
      for (int s = 0; s < S; ++s) g[(int64_t)t * Smax + s] = nan;
      if (grad_b)
        for (int k = 0; k < C; ++k) grad_b[t * ldt + k] = nan;
    }
    return kInf<T>;
  }
  // ---- backward sweep: log-beta row t (excluding frame t), then gamma row t, loss and gradient
  T loss = 0;
  for (int t = Tb - 1; t >= 0; --t) {
    T* lb = wk + (t & 1) * Smax;
    if (t == Tb - 1) {
      for (int s = 0; s < S; ++s) lb[s] = -kInf<T>;
      lb[S - 1] = 0;
      if (S > 1) lb[S - 2] = 0;
    } else {
      const T* n = wk + ((t + 1) & 1) * Smax;
      for (int s = 0; s < S; ++s) {
        const T a = n[s] + ly(t + 1, s);
        const T b = s + 1 < S ? n[s + 1] + ly(t + 1, s + 1) : -kInf<T>;
        const T c = (s + 2 < S && skip_of(tgt, s + 2)) ? n[s + 2] + ly(t + 1, s + 2) : -kInf<T>;
        lb[s] = lse3(a, b, c);
      }
    }
    T* gr = g + (int64_t)t * Smax;
    T m = -kInf<T>;
    for (int s = 0; s < S; ++s) {
      gr[s] += lb[s];  // log(alpha * beta)
      m = gr[s] > m ? gr[s] : m;
    }
    T sum = 0;
    for (int s = 0; s < S; ++s) {
      gr[s] = std::exp(gr[s] - m);
      sum += gr[s];
    }
    const T inv = T(1) / sum;
    const T* yt = y + t * ldt;
    for (int s = 0; s < S; ++s) {
      gr[s] *= inv;
      if (gr[s] == T(0)) continue;  // unreachable state: 0 log 0 = 0, 0 / 0 = 0
      const int k = ext_of(tgt, s, blank);
      loss -= gr[s] * std::log(yt[k]);
      if (grad_b) grad_b[t * ldt + k] -= gr[s] / yt[k];
    }
  }
  return loss;
}

// One item: the scaled pass, else (underflow, or infeasible) the log-space pass from scratch.
template <class T>
T loss_item(T* grad_b, T* g, T* wk, const T* y, int64_t ldt, const int64_t* tgt, int L, int Tb, int C, int Smax,
            int blank) {
  if (Tb == 0) return L == 0 ? T(0) : kInf<T>;
  T loss;
  if (scaled_item(loss, grad_b, g, wk, y, ldt, tgt, L, Tb, Smax, blank)) return loss;
  if (grad_b)
    for (int t = 0; t < Tb; ++t) std::memset(grad_b + t * ldt, 0, sizeof(T) * C);
  return log_item(grad_b, g, wk, y, ldt, tgt, L, Tb, C, Smax, blank);
}

}  // namespace

template <class T>
void ctc_prob_alpha_beta(T* alpha, T* beta, T* gamma, const T* y, const int64_t* ext, const int64_t* skip, int Tn,
                         int C, int S) {
  if (Tn <= 0 || S <= 0) return;
  if (alpha) {
    for (int s = 0; s < S; ++s) alpha[s] = T(0);
    alpha[0] = y[ext[0]];
    if (S > 1) alpha[1] = y[ext[1]];
    for (int t = 1; t < Tn; ++t) {
      const T* p = alpha + (int64_t)(t - 1) * S;
      T* c = alpha + (int64_t)t * S;
      const T* yt = y + (int64_t)t * C;
      for (int s = 0; s < S; ++s) {
        T v = p[s];
        if (s >= 1) v += p[s - 1];
        if (s >= 2 && skip[s]) v += p[s - 2];
        c[s] = v * yt[ext[s]];
      }
    }
  }
  if (beta) {
    T* c = beta + (int64_t)(Tn - 1) * S;
    for (int s = 0; s < S; ++s) c[s] = T(0);
    c[S - 1] = T(1);
    if (S > 1) c[S - 2] = T(1);
    for (int t = Tn - 2; t >= 0; --t) {
      const T* n = beta + (int64_t)(t + 1) * S;
      const T* yn = y + (int64_t)(t + 1) * C;
      c = beta + (int64_t)t * S;
      for (int s = 0; s < S; ++s) {
        T v = n[s] * yn[ext[s]];
        if (s + 1 < S) v += n[s + 1] * yn[ext[s + 1]];
        if (s + 2 < S && skip[s + 2]) v += n[s + 2] * yn[ext[s + 2]];
        c[s] = v;
      }
    }
  }
  if (gamma && alpha && beta) {
    const int64_t n = (int64_t)Tn * S;
    for (int64_t i = 0; i < n; ++i) gamma[i] = alpha[i] * beta[i];
    for (int t = 0; t < Tn; ++t) {
      T* gr = gamma + (int64_t)t * S;
      T sum = 0;
      for (int s = 0; s < S; ++s) sum += gr[s];
      for (int s = 0; s < S; ++s) gr[s] /= sum;  // 0 / 0 = NaN on a frame no path reaches, as the spec
    }
  }
}

// Below this many state-frames (about 10 ms on one core) a batch runs on the calling thread: a
// parallel region can cost a scheduler time slice (measured 8 ms) when another process holds the
// other core, far more than such a batch takes.
constexpr int64_t kParallelWork = int64_t(1) << 20;

template <class T>
void ctc_prob_loss(T* loss, T* grad, T* gamma, T* work, const T* y, const int64_t* targets,
                   const int64_t* input_lengths, const int64_t* target_lengths, int Tn, int B, int C, int Lpad,
                   int Smax, int blank) {
  const int64_t ldt = (int64_t)B * C;  // stride of one time step in y and grad
  if (grad) std::memset(grad, 0, sizeof(T) * (size_t)Tn * B * C);  // frames past T_b stay 0
  std::memset(gamma, 0, sizeof(T) * (size_t)B * Tn * Smax);
  int64_t frames = 0;  // state-frames of the whole batch
  for (int b = 0; b < B; ++b) frames += input_lengths[b] * (2 * target_lengths[b] + 1);
  // items on std::threads started for the call (csrc/team.h parallel_items: fork-safe)
  parallel_items(B > 1 && frames >= kParallelWork ? team_threads() : 1, B, [&](int64_t b) {
    loss[b] = loss_item<T>(grad ? grad + (int64_t)b * C : nullptr, gamma + (int64_t)b * Tn * Smax,
                           work + (int64_t)b * 2 * Smax, y + (int64_t)b * C, ldt, targets + (int64_t)b * Lpad,
                           (int)target_lengths[b], (int)input_lengths[b], C, Smax, blank);
  });
}

template void ctc_prob_alpha_beta<float>(float*, float*, float*, const float*, const int64_t*, const int64_t*, int,
                                         int, int);
template void ctc_prob_alpha_beta<double>(double*, double*, double*, const double*, const int64_t*, const int64_t*,
                                          int, int, int);
template void ctc_prob_loss<float>(float*, float*, float*, float*, const float*, const int64_t*, const int64_t*,
                                   const int64_t*, int, int, int, int, int, int);
template void ctc_prob_loss<double>(double*, double*, double*, double*, const double*, const int64_t*,
                                    const int64_t*, const int64_t*, int, int, int, int, int, int);

}  // namespace rnnfast
