// CTC loss and gradient kernels; contract in ctc.h.
#include "ctc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "team.h"
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

// Underflow checks of the scaled pass (see ctc.h). Double drops a term when it falls below
// kDenorm; in the normalised rows of frame t that is below kDenorm / rowsum (alpha sum c_t, beta sum
// d_t), and the paths through such a term carry at most S kDenorm / (rowsum * z_t) of the total,
// z_t = sum_s alpha*beta of the normalised rows. Requiring z_t * min(c_t, d_t) >= kOverlap keeps
// that below S * 2e-18 per frame; otherwise (or on a zero, inf or NaN sum) the item is redone in
// log space. kRowTiny only keeps 1 / rowsum finite.
constexpr double kDenorm = 2.3e-308;
constexpr double kOverlap = 1e-290;
constexpr double kRowTiny = 1e-300;

// Scratch of one item from the pool (item()), grown once and reused (no allocation once warm).
// Everything in double. ext (S) extended labels; wd, we (Tb, ldw) the item's alpha rows and
// emissions (scaled pass) or log-alpha and log-beta rows (log-space pass); pc (C+8) the per-class
// posterior of one frame. Log-space pass: sk2 (S) 0 where state s may be entered from s-2, else
// -inf (added to alpha[t-1, s-2]); nk2 (S) the same for s+2 seen from s (beta); post (S)
// posteriors. Scaled pass: m2 / n2 (S) the same masks as 1/0; even (S) 1 on blank states; ex (C+8)
// one frame's exp(log_probs); bt (S) a beta row; ne (S+2) beta times emission, two zero guards
// after; gam (S) alpha*beta. Kept between calls: a thread holds the largest item's 16 * Tb * ldw
// bytes (plus O(S + C)), so that repeated calls touch no fresh pages.
template <class T>
struct ItemScratch {
  std::vector<int> ext;
  std::vector<double> sk2, nk2, post, m2, n2, even, ex, bt, ne, gam, pc, wd, we;
  void resize(int S, int C, int Tb, int64_t ldw) {
    if ((int64_t)wd.size() < Tb * ldw) {
      wd.resize(Tb * ldw);
      we.resize(Tb * ldw);
    }
    if ((int)ext.size() < S) {
      ext.resize(S);
      sk2.resize(S);
      nk2.resize(S);
      post.resize(S);
      m2.resize(S);
      n2.resize(S);
      even.resize(S);
      bt.resize(S);
      ne.resize(S + 2);
      gam.resize(S);
    }
    if ((int)ex.size() < C + 8) {
      ex.resize(C + 8);
      pc.resize(C + 8);
    }
  }
};

// Scaled (probability-space) pass of one item, in double. Alpha rows A_t = alpha_t / prod_{u<t} c_u
// with c_t = sum_s A_t[s] (each row computed from the previous one divided by its sum, so every row
// sums to c_t, about one frame's emission), beta rows B_t (beta excluding frame t, as csrc/ctc_prob)
// scaled the same way with sums d_t: products and sums only, so the loops vectorise; exp(log_probs)
// once per (frame, class). loss = -(sum_{t<Tb-1} log c_t + log(A_{Tb-1}[S-1] + A_{Tb-1}[S-2]));
// posteriors = A_t B_t / sum_s A_t B_t (the scales cancel). Scratch rows (ldw doubles) w.wd[t] =
// [A_t, c_t], w.we[t] = emissions of frame t; exp(log_probs[t]) waits in the gradient row (in T)
// until the backward sweep turns it into the gradient. Without grad_b the backward sweep still runs
// (its overlaps are the underflow check) but writes nothing. Returns false, leaving unusable values
// in the gradient rows, when a check fails (see kOverlap) or the item is infeasible; the caller then
// runs log_item. w holds ext, m2, n2, even.
template <class T>
bool scaled_item(T& loss, T* grad_b, int64_t ldw, const T* lp, int64_t ldt, const int64_t* tgt, int L, int Tb,
                 int C, int blank, T scale, int64_t ldg, ItemScratch<T>& w) {
  const int S = 2 * L + 1;
  double* wd = w.wd.data();
  double* we = w.we.data();
  const int* ext = w.ext.data();
  const double* m2 = w.m2.data();
  const double* n2 = w.n2.data();
  const double* even = w.even.data();
  double* ex = w.ex.data();
  const int C8 = (C + 7) & ~7;
  // ---- alpha; emissions; exp(log_probs) of every frame into the gradient rows
  double logsum = 0, inv = 1;  // inv = 1 / c_{t-1}
  for (int t = 0; t < Tb; ++t) {
    const T* lpt = lp + t * ldt;
#pragma omp simd
    for (int k = 0; k < C; ++k) ex[k] = (double)lpt[k];
    for (int k = C; k < C8; ++k) ex[k] = 0.0;  // pad to whole vectors: no scalar exp calls for the tail
    for (int k0 = 0; k0 < C8; k0 += 8) {
#pragma omp simd
      for (int k = k0; k < k0 + 8; ++k) ex[k] = vexp(ex[k]);
    }
    if (grad_b) {
      T* g = grad_b + t * ldg;
#pragma omp simd
      for (int k = 0; k < C; ++k) g[k] = (T)ex[k];
    }
    double* e = we + t * ldw;
    double* c = wd + t * ldw;
    double sum = 0;
    if (t == 0) {
      for (int s = 0; s < S; ++s) {
        e[s] = ex[ext[s]];
        c[s] = s < 2 ? e[s] : 0.0;
        sum += c[s];
      }
    } else {
      const double* p = c - ldw;
      e[0] = ex[blank];
      c[0] = p[0] * inv * e[0];
      sum = c[0];
      if (S > 1) {  // s = 0, 1 by hand (no guards before the row)
        e[1] = ex[ext[1]];
        c[1] = (p[1] + p[0]) * inv * e[1];
        sum += c[1];
      }
      double sum2 = 0;
#pragma omp simd reduction(+ : sum2)
      for (int s = 2; s < S; ++s) {
        const double es = ex[ext[s]];
        const double u = (p[s] + p[s - 1] + m2[s] * p[s - 2]) * (inv * es);
        e[s] = es;
        c[s] = u;
        sum2 += u;
      }
      sum += sum2;
      logsum += std::log(wd[(t - 1) * ldw + S]);  // log c_{t-1}
    }
    if (!(sum >= kRowTiny && sum <= 1e300)) return false;  // also NaN
    c[S] = sum;
    inv = 1.0 / sum;
  }
  const double* last = wd + (Tb - 1) * ldw;
  const double fin = S > 1 ? last[S - 1] + last[S - 2] : last[S - 1];
  if (!(fin > 0)) return false;  // infeasible (or the final states underflowed)
  const double nll = -(logsum + std::log(fin));
  // ---- backward sweep: beta row t, overlap check, posteriors, gradient row t
  double* bt = w.bt.data();
  double* ne = w.ne.data();  // B_{t+1}[s] * emission[t+1, s] / d_{t+1}; ne[S], ne[S+1] = 0 (guards)
  double* gam = w.gam.data();
  double* pc = w.pc.data();
  ne[S] = ne[S + 1] = 0.0;
  const double sc = scale;
  for (int t = Tb - 1; t >= 0; --t) {
    double d = 0;
    if (t == Tb - 1) {
      for (int s = 0; s < S; ++s) bt[s] = s >= S - 2 ? 1.0 : 0.0;
      d = S > 1 ? 2.0 : 1.0;
    } else {
#pragma omp simd reduction(+ : d)
      for (int s = 0; s < S; ++s) {
        const double v = ne[s] + ne[s + 1] + n2[s] * ne[s + 2];
        bt[s] = v;
        d += v;
      }
      if (!(d >= kRowTiny && d <= 1e300)) return false;
    }
    const double* ar = wd + t * ldw;
    const double* e = we + t * ldw;
    const double id = 1.0 / d;
    double z = 0, zb = 0;
#pragma omp simd reduction(+ : z, zb)
    for (int s = 0; s < S; ++s) {
      const double v = ar[s] * bt[s];
      gam[s] = v;
      z += v;
      zb += even[s] * v;
      ne[s] = bt[s] * (id * e[s]);
    }
    // normalised overlap z / (c_t d_t) times min(c_t, d_t)
    if (!(z >= kOverlap * std::max(ar[S], d))) return false;
    if (!grad_b) continue;
    T* g = grad_b + t * ldg;  // holds exp(log_probs[t])
    const double iz = 1.0 / z;
    for (int k = 0; k < C; ++k) pc[k] = 0.0;
    pc[blank] = zb * iz;
    for (int j = 0; j < L; ++j) pc[tgt[j]] += gam[2 * j + 1] * iz;
#pragma omp simd
    for (int k = 0; k < C; ++k) g[k] = (T)(((double)g[k] - pc[k]) * sc);
  }
  loss = (T)nll;
  return true;
}

// Log-space pass of one item, in double (exact where the scaled pass underflows; slower: GCC 12
// keeps the lse3 loops scalar). Rows of a, bt (w.wd, w.we) have ldw >= S+2 doubles: [guard, guard,
// s = 0 .. S-1] for alpha (guards before), [s = 0 .. S-1, guard, guard] for beta (guards after), so
// the recursions over s have no boundary branches. lp rows have stride ldt and start at the item's
// column block; grad_b (nullable) likewise with stride ldg. Writes every gradient row t < Tb.
// Returns the item's loss.
template <class T>
T log_item(T* grad_b, double* a, double* bt, int64_t ldw, const T* lp, int64_t ldt, int L, int Tb, int C,
           int blank, bool zero_infinity, T scale, int64_t ldg, ItemScratch<T>& w) {
  constexpr double ninf = kNegInf<double>;
  const int S = 2 * L + 1;
  const int* ext = w.ext.data();
  const double* sk2 = w.sk2.data();
  const double* nk2 = w.nk2.data();
  // ---- alpha
  {
    double* c = a + 2;
    a[0] = a[1] = ninf;
    for (int s = 0; s < S; ++s) c[s] = ninf;
    c[0] = lp[blank];
    if (S > 1) c[1] = lp[ext[1]];
  }
  for (int t = 1; t < Tb; ++t) {
    double* cur = a + t * ldw;
    cur[0] = cur[1] = ninf;
    double* c = cur + 2;
    const double* p = c - ldw;  // previous row at the same s; p[-1], p[-2] exist (guards or states)
    const T* e = lp + t * ldt;
#pragma omp simd
    for (int s = 0; s < S; ++s) c[s] = lse3(p[s], p[s - 1], p[s - 2] + sk2[s]) + (double)e[ext[s]];
  }
  const double* last = a + (Tb - 1) * ldw + 2;
  const double nll = -(S > 1 ? lse3(last[S - 1], last[S - 2], ninf) : last[S - 1]);
  const bool inf = nll == std::numeric_limits<double>::infinity();  // NaN stays NaN (torch)
  if (inf && zero_infinity) {
    if (grad_b)
      for (int t = 0; t < Tb; ++t) std::memset(grad_b + t * ldg, 0, sizeof(T) * C);
    return T(0);
  }
  if (!grad_b) return (T)nll;
  // ---- beta
  {
    double* c = bt + (Tb - 1) * ldw;
    const T* e = lp + (Tb - 1) * ldt;
    for (int s = 0; s < S + 2; ++s) c[s] = ninf;
    c[S - 1] = e[blank];
    if (S > 1) c[S - 2] = e[ext[S - 2]];
  }
  for (int t = Tb - 2; t >= 0; --t) {
    double* c = bt + t * ldw;
    c[S] = c[S + 1] = ninf;
    const double* n = c + ldw;  // next row; n[S], n[S+1] are its guards
    const T* e = lp + t * ldt;
#pragma omp simd
    for (int s = 0; s < S; ++s) c[s] = lse3(n[s], n[s + 1], n[s + 2] + nk2[s]) + (double)e[ext[s]];
  }
  // ---- gradient: posterior of each state, summed per class, then exp(lp) - posterior
  double* post = w.post.data();
  double* pc = w.pc.data();
  const double sc = scale;
  for (int t = 0; t < Tb; ++t) {
    T* g = grad_b + t * ldg;
    const T* e = lp + t * ldt;
    const double* ar = a + t * ldw + 2;
    const double* br = bt + t * ldw;
#pragma omp simd
    for (int s = 0; s < S; ++s) {  // an emission of probability 0 carries no path: 0, not NaN
      const double les = (double)e[ext[s]];
      post[s] = les == kNegInf<double> ? 0.0 : vexp(ar[s] + br[s] + nll - les);
    }
    for (int k = 0; k < C; ++k) pc[k] = 0.0;
    for (int s = 0; s < S; ++s) pc[ext[s]] += post[s];
#pragma omp simd
    for (int k = 0; k < C; ++k) g[k] = (T)((vexp((double)e[k]) - pc[k]) * sc);
  }
  return (T)nll;
}

// One item: extended labels and masks, the scaled pass, else (underflow or infeasible) the
// log-space pass from scratch. Zeroes the gradient rows Tb <= t < Tn.
template <class T>
T item(T* grad_b, const T* lp, int64_t ldt, const int64_t* tgt, int L, int Tb, int Tn, int C, int blank,
       bool zero_infinity, T scale, int64_t ldg) {
  if (grad_b)
    for (int t = Tb; t < Tn; ++t) std::memset(grad_b + t * ldg, 0, sizeof(T) * C);
  if (Tb == 0) return L == 0 ? T(0) : (zero_infinity ? T(0) : std::numeric_limits<T>::infinity());
  const int S = 2 * L + 1;
  const int64_t ldw = (S + 9) & ~7;  // >= S + 2, rows 64-byte aligned in the scratch
  // scratch from a pool shared by the threads, kept between calls (release_all_scratch frees it)
  static ScratchPool<ItemScratch<T>>* pool = new ScratchPool<ItemScratch<T>>;  // never destroyed (atfork)
  PooledScratch<ItemScratch<T>> scratch(*pool);
  ItemScratch<T>& w = *scratch;
  w.resize(S, C, Tb, ldw);
  for (int s = 0; s < S; ++s) {
    const bool skip = (s & 1) && s >= 2 && tgt[s >> 1] != tgt[(s >> 1) - 1];
    w.ext[s] = (s & 1) ? (int)tgt[s >> 1] : blank;
    w.sk2[s] = skip ? 0.0 : kNegInf<double>;
    w.m2[s] = skip ? 1.0 : 0.0;
    w.even[s] = (s & 1) ? 0.0 : 1.0;
  }
  for (int s = 0; s < S; ++s) {
    w.nk2[s] = s + 2 < S ? w.sk2[s + 2] : kNegInf<double>;
    w.n2[s] = s + 2 < S ? w.m2[s + 2] : 0.0;
  }
  T loss;
  if (scaled_item(loss, grad_b, ldw, lp, ldt, tgt, L, Tb, C, blank, scale, ldg, w)) return loss;
  return log_item(grad_b, w.wd.data(), w.we.data(), ldw, lp, ldt, L, Tb, C, blank, zero_infinity, scale, ldg, w);
}

// Below this many state-frames (sum of T_b * S_b) a batch runs on the calling thread: a parallel
// region can cost a scheduler time slice (measured 8 ms for csrc/ctc_prob) when another process
// holds the other core, far more than such a batch takes.
constexpr int64_t kParallelWork = int64_t(1) << 22;

}  // namespace

template <class T>
void ctc_loss(T* loss, T* grad, const T* log_probs, const int64_t* targets, const int64_t* input_lengths,
              const int64_t* target_lengths, const T* grad_scale, int Tn, int B, int C, int Smax, int blank,
              bool zero_infinity) {
  // the lattice rows live in pooled scratch (ctc.h)
  const int64_t ldt = (int64_t)B * C;  // stride of one time step in log_probs and grad
  int64_t work = 0;
  for (int b = 0; b < B; ++b) work += input_lengths[b] * (2 * target_lengths[b] + 1);
  // items on std::threads started for the call (csrc/team.h parallel_items: fork-safe, exceptions rethrown)
  parallel_items(B > 1 && work >= kParallelWork ? team_threads() : 1, B, [&](int64_t b) {
    loss[b] = item<T>(grad ? grad + (int64_t)b * C : nullptr, log_probs + (int64_t)b * C, ldt, targets + (int64_t)b * Smax,
                      (int)target_lengths[b], (int)input_lengths[b], Tn, C, blank, zero_infinity,
                      grad_scale ? grad_scale[b] : T(1), ldt);
  });
}

template void ctc_loss<float>(float*, float*, const float*, const int64_t*, const int64_t*, const int64_t*,
                              const float*, int, int, int, int, int, bool);
template void ctc_loss<double>(double*, double*, const double*, const int64_t*, const int64_t*, const int64_t*,
                               const double*, int, int, int, int, int, bool);

}  // namespace rnnfast
