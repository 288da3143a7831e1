// CTC loss and gradient kernels; contract in ctc.h.
#include "ctc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "vmath.h"

namespace rnnfast {
namespace {

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b) + exp(c)), -inf if all are -inf. Branch-free so that loops over s vectorise.
template <class T>
inline T lse3(T a, T b, T c) {
  const T m = std::max(a, std::max(b, c));
  const T mm = m == kNegInf<T> ? T(0) : m;  // avoid (-inf) - (-inf)
  const T s = vexp(a - mm) + vexp(b - mm) + vexp(c - mm);
  return m == kNegInf<T> ? kNegInf<T> : mm + vlog(s);
}

// One batch item. ext (S) extended labels, skip (S) 1 where the s-2 transition is allowed.
// Rows of a, bt have Smax2 entries: [guard, guard, s = 0 .. S-1, ...] for alpha (guards before),
// [s = 0 .. S-1, guard, guard, ...] for beta (guards after).
template <class T>
T item(T* grad_b, T* a, T* bt, const T* lp, int64_t ldt, const int64_t* tgt, int L, int Tb, int C, int Smax2,
       int blank, bool zero_infinity, T scale, int64_t ldg) {
  const int S = 2 * L + 1;
  // extended label of state s, and whether s may be entered from s-2 (a label differing from the previous one)
  auto ext = [&](int s) -> int { return (s & 1) ? (int)tgt[s >> 1] : blank; };
  auto skip = [&](int s) -> bool { return (s & 1) && s >= 2 && tgt[s >> 1] != tgt[(s >> 1) - 1]; };
  if (Tb == 0) return L == 0 ? T(0) : (zero_infinity ? T(0) : std::numeric_limits<T>::infinity());
  // ---- alpha
  for (int t = 0; t < Tb; ++t) {
    T* cur = a + (int64_t)t * Smax2;
    cur[0] = cur[1] = kNegInf<T>;
    T* c = cur + 2;
    const T* e = lp + t * ldt;
    if (t == 0) {
      for (int s = 0; s < S; ++s) c[s] = kNegInf<T>;
      c[0] = e[blank];
      if (S > 1) c[1] = e[ext(1)];
      continue;
    }
    const T* p = cur - Smax2 + 2;  // previous row, s index; p[-1], p[-2] are the guards
    for (int s = 0; s < S; ++s) {
      const T a2 = skip(s) ? p[s - 2] : kNegInf<T>;
      c[s] = lse3(p[s], p[s - 1], a2) + e[ext(s)];
    }
  }
  const T* last = a + (int64_t)(Tb - 1) * Smax2 + 2;
  const T ll = S > 1 ? lse3(last[S - 1], last[S - 2], kNegInf<T>) : last[S - 1];
  T nll = -ll;
  const bool inf = !(nll < std::numeric_limits<T>::infinity());
  if (inf && zero_infinity) {
    if (grad_b)
      for (int t = 0; t < Tb; ++t) std::memset(grad_b + t * ldg, 0, sizeof(T) * C);
    return T(0);
  }
  if (!grad_b) return nll;
  // ---- beta
  for (int t = Tb - 1; t >= 0; --t) {
    T* c = bt + (int64_t)t * Smax2;
    c[S] = c[S + 1] = kNegInf<T>;
    const T* e = lp + t * ldt;
    if (t == Tb - 1) {
      for (int s = 0; s < S; ++s) c[s] = kNegInf<T>;
      c[S - 1] = e[blank];
      if (S > 1) c[S - 2] = e[ext(S - 2)];
      continue;
    }
    const T* n = c + Smax2;  // next row; n[S], n[S+1] are the guards
    for (int s = 0; s < S; ++s) {
      const T b2 = (s + 2 < S && skip(s + 2)) ? n[s + 2] : kNegInf<T>;
      c[s] = lse3(n[s], n[s + 1], b2) + e[ext(s)];
    }
  }
  // ---- gradient: grad row accumulates the posterior per class, then exp(lp) - posterior
  for (int t = 0; t < Tb; ++t) {
    T* g = grad_b + t * ldg;
    const T* e = lp + t * ldt;
    const T* ar = a + (int64_t)t * Smax2 + 2;
    const T* br = bt + (int64_t)t * Smax2;
    std::fill(g, g + C, T(0));
    for (int s = 0; s < S; ++s) {
      const int k = ext(s);
      g[k] += vexp(ar[s] + br[s] + nll - e[k]);
    }
#pragma omp simd
    for (int k = 0; k < C; ++k) g[k] = (vexp(e[k]) - g[k]) * scale;
  }
  return nll;
}

}  // namespace

template <class T>
void ctc_loss(T* loss, T* grad, T* alpha, T* beta, const T* log_probs, const int64_t* targets,
              const int64_t* input_lengths, const int64_t* target_lengths, const T* grad_scale, int Tn, int B,
              int C, int Smax, int Smax2, int blank, bool zero_infinity) {
  const int64_t ldt = (int64_t)B * C;  // stride of one time step in log_probs and grad
  if (grad) std::memset(grad, 0, sizeof(T) * (size_t)Tn * B * C);  // frames past T_b stay 0
#pragma omp parallel for schedule(dynamic, 1) if (B > 1)
  for (int b = 0; b < B; ++b) {
    const int64_t ws = (int64_t)b * Tn * Smax2;
    loss[b] = item<T>(grad ? grad + (int64_t)b * C : nullptr, alpha + ws, beta + ws, log_probs + (int64_t)b * C, ldt,
                      targets + (int64_t)b * Smax, (int)target_lengths[b], (int)input_lengths[b], C, Smax2, blank,
                      zero_infinity, grad_scale ? grad_scale[b] : T(1), ldt);
  }
}

template void ctc_loss<float>(float*, float*, float*, float*, const float*, const int64_t*, const int64_t*,
                              const int64_t*, const float*, int, int, int, int, int, int, bool);
template void ctc_loss<double>(double*, double*, double*, double*, const double*, const int64_t*, const int64_t*,
                               const int64_t*, const double*, int, int, int, int, int, int, bool);

}  // namespace rnnfast
