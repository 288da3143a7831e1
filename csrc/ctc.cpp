// CTC loss and gradient kernels; contract in ctc.h.
#include "ctc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "vmath.h"

namespace rnnfast {
namespace {

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b) + exp(c)), -inf if all are -inf (then 0 + log(0)). Written with selects only;
// GCC 12 still reports "control flow" for the loops that call it and keeps them scalar (see docs/design.md).
template <class T>
inline T lse3(T a, T b, T c) {
  T m = a > b ? a : b;
  m = m > c ? m : c;
  const T mm = m == kNegInf<T> ? T(0) : m;  // avoid (-inf) - (-inf)
  return mm + vlog(vexp(a - mm) + vexp(b - mm) + vexp(c - mm));  // all -inf: 0 + log(0) = -inf
}

// Per-thread scratch of one item, grown once and reused (no allocation once warm):
// ext (S) extended labels; sk2 (S) 0 where state s may be entered from s-2, else -inf (added to
// alpha[t-1, s-2]); nk2 (S) the same for s+2 seen from s (beta); post (S) posteriors of one frame.
template <class T>
struct ItemScratch {
  std::vector<int> ext;
  std::vector<T> sk2, nk2, post;
  void resize(int S) {
    if ((int)ext.size() < S) {
      ext.resize(S);
      sk2.resize(S);
      nk2.resize(S);
      post.resize(S);
    }
  }
};

// One batch item. Rows of a, bt have Smax2 entries: [guard, guard, s = 0 .. S-1, ...] for alpha
// (guards before), [s = 0 .. S-1, guard, guard, ...] for beta (guards after), so the recursions
// over s have no boundary branches.
template <class T>
T item(T* grad_b, T* a, T* bt, const T* lp, int64_t ldt, const int64_t* tgt, int L, int Tb, int C, int Smax2,
       int blank, bool zero_infinity, T scale, int64_t ldg) {
  const int S = 2 * L + 1;
  if (Tb == 0) return L == 0 ? T(0) : (zero_infinity ? T(0) : std::numeric_limits<T>::infinity());
  static thread_local ItemScratch<T> w;
  w.resize(S);
  int* ext = w.ext.data();
  T* sk2 = w.sk2.data();
  T* nk2 = w.nk2.data();
  for (int s = 0; s < S; ++s) {
    ext[s] = (s & 1) ? (int)tgt[s >> 1] : blank;
    sk2[s] = ((s & 1) && s >= 2 && tgt[s >> 1] != tgt[(s >> 1) - 1]) ? T(0) : kNegInf<T>;
  }
  for (int s = 0; s < S; ++s) nk2[s] = s + 2 < S ? sk2[s + 2] : kNegInf<T>;
  // ---- alpha
  {
    T* c = a + 2;
    a[0] = a[1] = kNegInf<T>;
    for (int s = 0; s < S; ++s) c[s] = kNegInf<T>;
    c[0] = lp[blank];
    if (S > 1) c[1] = lp[ext[1]];
  }
  for (int t = 1; t < Tb; ++t) {
    T* cur = a + (int64_t)t * Smax2;
    cur[0] = cur[1] = kNegInf<T>;
    T* c = cur + 2;
    const T* p = c - Smax2;  // previous row at the same s; p[-1], p[-2] exist (guards or states)
    const T* e = lp + t * ldt;
#pragma omp simd
    for (int s = 0; s < S; ++s) c[s] = lse3(p[s], p[s - 1], p[s - 2] + sk2[s]) + e[ext[s]];
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
  {
    T* c = bt + (int64_t)(Tb - 1) * Smax2;
    const T* e = lp + (Tb - 1) * ldt;
    for (int s = 0; s < S + 2; ++s) c[s] = kNegInf<T>;
    c[S - 1] = e[blank];
    if (S > 1) c[S - 2] = e[ext[S - 2]];
  }
  for (int t = Tb - 2; t >= 0; --t) {
    T* c = bt + (int64_t)t * Smax2;
    c[S] = c[S + 1] = kNegInf<T>;
    const T* n = c + Smax2;  // next row; n[S], n[S+1] are its guards
    const T* e = lp + t * ldt;
#pragma omp simd
    for (int s = 0; s < S; ++s) c[s] = lse3(n[s], n[s + 1], n[s + 2] + nk2[s]) + e[ext[s]];
  }
  // ---- gradient: posterior of each state, summed per class, then exp(lp) - posterior
  T* post = w.post.data();
  for (int t = 0; t < Tb; ++t) {
    T* g = grad_b + t * ldg;
    const T* e = lp + t * ldt;
    const T* ar = a + (int64_t)t * Smax2 + 2;
    const T* br = bt + (int64_t)t * Smax2;
#pragma omp simd
    for (int s = 0; s < S; ++s) post[s] = vexp(ar[s] + br[s] + nll - e[ext[s]]);
    std::fill(g, g + C, T(0));
    for (int s = 0; s < S; ++s) g[ext[s]] += post[s];
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
