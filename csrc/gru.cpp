// GRU kernels; shapes, layout and contract in gru.h.
#include "gru.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "blas.h"
#include "recurrent.h"
#include "team.h"
#include "vmath.h"

namespace rnnfast {
namespace {

using rec::row_valid;
using rec::transpose;

// The per-step recurrent products put the weight matrix on the side of the BLAS call that is not
// repacked as expensively (measured ~1.5-2x faster with OpenBLAS for small batches): they compute
// the transposed product (features, B) and transpose it back, so every cache stays batch-major.
// Scratch for that is allocated once per kernel call (never inside the time loop).
// Not zero-filled (every element is written before it is read).
template <class T>
struct Scratch {
  std::unique_ptr<T[]> buf;
  size_t size = 0;
  T* get(size_t n) {
    if (size < n || !buf) {  // at least one element: a zero-size request still gets a valid pointer
      buf.reset(new T[n ? n : 1]);
      size = n;
    }
    return buf.get();
  }
};

// W_hh packed for the per-step products (csrc/packed_step.h), once per sequence call. Forward:
// a = W_hh^T (H x 3H), or with reset_after = false a = W_hh[:2H]^T (H x 2H) and n = W_hh[2H:]^T
// (H x H), the two products of a step; backward: a = W_hh (3H x H), whose row blocks the products
// take as k ranges. Team share of pack(): panels split over the team, as in every product.
template <class T>
struct StepWeights {
  packed::PackedWeight<T> a, n;
  StepWeights(bool backward, bool reset_after, int H) {
    if (backward) a.allocate(3 * H, H);
    else if (reset_after) a.allocate(H, 3 * H);
    else {
      a.allocate(H, 2 * H);
      n.allocate(H, H);
    }
  }
  void pack(bool backward, const T* w_hh, int H, int tid, int nth) {
    if (backward) return a.pack(w_hh, H, 1, tid, nth);
    a.pack(w_hh, 1, H, tid, nth);
    if (!n.empty()) n.pack(w_hh + (int64_t)2 * H * H, 1, H, tid, nth);
  }
};

// g (B,3H): on entry x W_ih^T + b_ih for this step, on exit r, z, n.
// Writes h_new (B,H), hn (B,H) and, if y is given, y (B,H) (zero for rows past their length).
// ghT (3H, B) is scratch for the transposed recurrent product (BLAS path). pk: W_hh^T packed (packed
// path) or nullptr.
// Team share (csrc/team.h): thread tid computes product rows split(3H) (packed: output columns by
// panels) and the gate math of batch rows split(B); the barriers order the phases. With nth = 1 it
// is the whole step on one thread.
template <class T>
void step_forward(T* h_new, T* y, T* g, T* hn, T* gh, T* ghT, const T* h, const T* w_hh, const T* b_hh,
                  const StepWeights<T>* pk, const int64_t* lengths, int t, int B, int H, bool reset_after, int tid,
                  int nth, Barrier& bar) {
  const int G = 3 * H;
  const T* bhr = b_hh;
  const T* bhz = b_hh ? b_hh + H : nullptr;
  const T* bhn = b_hh ? b_hh + 2 * H : nullptr;
  const int Gh = reset_after ? G : 2 * H;  // reset_after=false: r, z blocks now, n block after r
  const Range rb = split(B, tid, nth);
  if (pk) {
    rec::mul_packed(gh, G, h, H, pk->a, 0, H, B, false, t, tid, nth, bar);  // gh[:, :Gh] = h W_hh[:Gh]^T
  } else {
    for_parts(Gh, tid, nth, 16, [&](Range f) {  // the same slices solo or in a team (team.h)
      gemm(false, true, f.hi - f.lo, B, H, T(1), w_hh + (int64_t)f.lo * H, H, h, H, T(0), ghT + (int64_t)f.lo * B,
           B);  // ghT = W_hh h^T
    });
    bar.wait();
    transpose(gh + (int64_t)rb.lo * G, G, ghT + rb.lo, B, rb.hi - rb.lo, Gh, false);  // gh = h W_hh^T
  }
  for (int b = rb.lo; b < rb.hi; ++b) {
    T* gr = g + (int64_t)b * G;
    T* gz = gr + H;
    T* hr = gh + (int64_t)b * G;
    T* hz = hr + H;
    const T* hb = h + (int64_t)b * H;
    T* hnb = hn + (int64_t)b * H;
#pragma omp simd
    for (int j = 0; j < H; ++j) {
      gr[j] = vsigmoid(gr[j] + hr[j] + (bhr ? bhr[j] : T(0)));
      gz[j] = vsigmoid(gz[j] + hz[j] + (bhz ? bhz[j] : T(0)));
    }
    if (reset_after) {
      const T* hhn = hr + 2 * H;
#pragma omp simd
      for (int j = 0; j < H; ++j) hnb[j] = hhn[j] + (bhn ? bhn[j] : T(0));
    } else {
#pragma omp simd
      for (int j = 0; j < H; ++j) hnb[j] = gr[j] * hb[j];  // r * h, the input of W_hn
    }
  }
  if (!reset_after) {  // gh[:, 2H:] = (r*h) W_hn^T
    bar.wait();
    if (pk) {
      rec::mul_packed(gh + 2 * H, G, hn, H, pk->n, 0, H, B, false, t, tid, nth, bar);
    } else {
      for_parts(H, tid, nth, 16, [&](Range fn) {
        gemm(false, true, fn.hi - fn.lo, B, H, T(1), w_hh + (int64_t)(2 * H + fn.lo) * H, H, hn, H, T(0),
             ghT + (int64_t)fn.lo * B, B);
      });
      bar.wait();
      transpose(gh + (int64_t)rb.lo * G + 2 * H, G, ghT + rb.lo, B, rb.hi - rb.lo, H, false);
    }
  }
  for (int b = rb.lo; b < rb.hi; ++b) {
    T* gr = g + (int64_t)b * G;
    T* gz = gr + H;
    T* gn = gr + 2 * H;
    const T* hhn = gh + (int64_t)b * G + 2 * H;
    const T* hb = h + (int64_t)b * H;
    const T* hnb = hn + (int64_t)b * H;
    T* out = h_new + (int64_t)b * H;
    if (!row_valid(lengths, t, b)) {  // carry the state, output zero
      std::memcpy(out, hb, sizeof(T) * H);
      if (y) std::memset(y + (int64_t)b * H, 0, sizeof(T) * H);
      continue;
    }
    if (reset_after) {
#pragma omp simd
      for (int j = 0; j < H; ++j) gn[j] = vtanh(gn[j] + gr[j] * hnb[j]);
    } else {
#pragma omp simd
      for (int j = 0; j < H; ++j) gn[j] = vtanh(gn[j] + hhn[j] + (bhn ? bhn[j] : T(0)));
    }
#pragma omp simd
    for (int j = 0; j < H; ++j) out[j] = gn[j] + gz[j] * (hb[j] - gn[j]);
    if (y) std::memcpy(y + (int64_t)b * H, out, sizeof(T) * H);
  }
  bar.wait();  // h_new complete (the next step's product reads every row) and ghT free again
}

// One step backward. dh (B,H): on entry dL/dh' (upstream, output gradient included), on exit dL/dh.
// Writes dgx, dgh (B,3H) for this step; dtmp (B,H) workspace. wT (H,3H) = W_hh^T, or W_hh itself
// (3H,H) when w_untransposed (one-row cell steps, nth = 1: ?gemv reads it in place); sT (H,B) scratch.
// pk: W_hh packed (packed path; wT and sT unused) or nullptr.
// Team share: gate gradients of batch rows split(B), product rows split(H) (packed: output columns).
template <class T>
void step_backward(T* dh, T* dgx, T* dgh, T* dtmp, T* sT, const T* h, const T* g, const T* hn, const T* wT,
                   const StepWeights<T>* pk, const int64_t* lengths, int t, int B, int H, bool reset_after,
                   bool w_untransposed, int tid, int nth, Barrier& bar) {
  const int G = 3 * H;
  const Range rb = split(B, tid, nth);
  for (int b = rb.lo; b < rb.hi; ++b) {
    T* dxr = dgx + (int64_t)b * G;
    T* dxz = dxr + H;
    T* dxn = dxr + 2 * H;
    T* dhb = dh + (int64_t)b * H;
    if (!row_valid(lengths, t, b)) {  // state carried: dh passes through, no gate gradient
      std::memset(dxr, 0, sizeof(T) * G);
      if (reset_after) std::memset(dgh + (int64_t)b * G, 0, sizeof(T) * G);
      continue;
    }
    const T* r = g + (int64_t)b * G;
    const T* z = r + H;
    const T* n = r + 2 * H;
    const T* hb = h + (int64_t)b * H;
    const T* hnb = hn + (int64_t)b * H;
    if (reset_after) {
      T* dhr = dgh + (int64_t)b * G;
      T* dhz = dhr + H;
      T* dhn = dhr + 2 * H;
#pragma omp simd
      for (int j = 0; j < H; ++j) {
        const T gd = dhb[j];
        const T dnp = gd * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
        const T dzp = gd * (hb[j] - n[j]) * z[j] * (T(1) - z[j]);
        const T drp = dnp * hnb[j] * r[j] * (T(1) - r[j]);
        dxr[j] = drp; dxz[j] = dzp; dxn[j] = dnp;
        dhr[j] = drp; dhz[j] = dzp; dhn[j] = dnp * r[j];
        dhb[j] = gd * z[j];
      }
    } else {
#pragma omp simd
      for (int j = 0; j < H; ++j) {
        const T gd = dhb[j];
        dxn[j] = gd * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
        dxz[j] = gd * (hb[j] - n[j]) * z[j] * (T(1) - z[j]);
        dhb[j] = gd * z[j];
      }
    }
  }
  bar.wait();  // every row's gate gradients are in
  if (pk) {  // the same products as below, straight into batch-major rows
    if (reset_after) {
      rec::mul_packed(dh, H, dgh, G, pk->a, 0, G, B, true, t, tid, nth, bar);  // dh += dgh W_hh
      return;
    }
    rec::mul_packed(dtmp, H, dgx + 2 * H, G, pk->a, 2 * H, H, B, false, t, tid, nth, bar);  // d(r*h) = dn_pre W_hn
  } else if (reset_after) {  // dh += dgh W_hh, computed as (W_hh^T dgh^T)^T
    if (w_untransposed) gemm(true, true, H, B, G, T(1), wT, H, dgh, G, T(0), sT, B);
    else for_parts(H, tid, nth, 16, [&](Range fh) {  // the same slices solo or in a team (team.h)
      gemm(false, true, fh.hi - fh.lo, B, G, T(1), wT + (int64_t)fh.lo * G, G, dgh, G, T(0), sT + (int64_t)fh.lo * B, B);
    });
    bar.wait();
    transpose(dh + (int64_t)rb.lo * H, H, sT + rb.lo, B, rb.hi - rb.lo, H, true);
    return;  // the next step's first barrier protects sT
  } else {
    // reset_after = false: d(r*h) = dn_pre W_hn, then the r block, then dh += [dr, dz] W_hh[:2H]
    if (w_untransposed) gemm(true, true, H, B, H, T(1), wT + (int64_t)2 * H * H, H, dgx + 2 * H, G, T(0), sT, B);
    else for_parts(H, tid, nth, 16, [&](Range fh) {
      gemm(false, true, fh.hi - fh.lo, B, H, T(1), wT + 2 * H + (int64_t)fh.lo * G, G, dgx + 2 * H, G, T(0),
           sT + (int64_t)fh.lo * B, B);
    });
    bar.wait();
    transpose(dtmp + (int64_t)rb.lo * H, H, sT + rb.lo, B, rb.hi - rb.lo, H, false);
  }
  for (int b = rb.lo; b < rb.hi; ++b) {
    if (!row_valid(lengths, t, b)) continue;  // dgx row already zero, dtmp row is zero
    const T* r = g + (int64_t)b * G;
    const T* hb = h + (int64_t)b * H;
    const T* drh = dtmp + (int64_t)b * H;
    T* dxr = dgx + (int64_t)b * G;
    T* dhb = dh + (int64_t)b * H;
#pragma omp simd
    for (int j = 0; j < H; ++j) {
      dxr[j] = drh[j] * hb[j] * r[j] * (T(1) - r[j]);
      dhb[j] += drh[j] * r[j];
    }
  }
  bar.wait();  // the r blocks are in; sT is free
  if (pk) {
    rec::mul_packed(dh, H, dgx, G, pk->a, 0, 2 * H, B, true, t, tid, nth, bar);  // dh += [dr, dz] W_hh[:2H]
    return;
  }
  if (w_untransposed) gemm(true, true, H, B, 2 * H, T(1), wT, H, dgx, G, T(0), sT, B);
  else for_parts(H, tid, nth, 16, [&](Range fh) {
    gemm(false, true, fh.hi - fh.lo, B, 2 * H, T(1), wT + (int64_t)fh.lo * G, G, dgx, G, T(0),
         sT + (int64_t)fh.lo * B, B);
  });
  bar.wait();
  transpose(dh + (int64_t)rb.lo * H, H, sT + rb.lo, B, rb.hi - rb.lo, H, true);
}

// db (G,) (+)= column sums of d (N, ld) over its first G columns, as the BLAS product d^T 1
// (threaded and blocked by the BLAS); ones (N,) is a vector of ones.
template <class T>
void colsum(T* db, const T* d, int64_t N, int G, int ld, const T* ones, bool accumulate) {
  gemm(true, false, G, 1, (int)N, T(1), d, ld, ones, 1, accumulate ? T(1) : T(0), db, 1);
}

// C (M,K) (+)= a b^T for vectors a (M, stride inca) and b (K): a rank-1 update in one pass over C
// (?gemm with an inner dimension of 1 packs its operands first: one-row cell backward at I=64,
// H=128, float64 measured 34 -> 27 us).
template <class T>
void rank1(T* C, int ldc, const T* a, int inca, const T* b, int M, int K, bool accumulate) {
  for (int i = 0; i < M; ++i) {
    T* c = C + (int64_t)i * ldc;
    const T ai = a[(int64_t)i * inca];
    if (accumulate) {
#pragma omp simd
      for (int j = 0; j < K; ++j) c[j] += ai * b[j];
    } else {
#pragma omp simd
      for (int j = 0; j < K; ++j) c[j] = ai * b[j];
    }
  }
}

// C (M,K) (+)= A^T X for A (N, lda) and X (N, K) row-major: a BLAS product, or rank-1 updates for N = 1.
template <class T>
void outer_acc(T* C, int ldc, const T* A, int lda, const T* X, int ldx, int64_t N, int M, int K, bool accumulate) {
  if (N == 1) rank1(C, ldc, A, 1, X, M, K, accumulate);
  else gemm(true, false, M, K, (int)N, T(1), A, lda, X, ldx, accumulate ? T(1) : T(0), C, ldc);
}

// Weight, bias and input gradients from the per-step gate gradients of N = T*B rows.
// ones (N,) all ones (for the bias sums). Team share: rows split(3H) of the weight and bias
// gradients, rows split(N) of dx (all products single-threaded inside a team).
template <class T>
void param_grads(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dgx, const T* dgh,
                 const T* x, const T* w_ih, const T* hs, const T* hn, const T* ones, int64_t N, int I, int H,
                 bool reset_after, bool accumulate, int tid = 0, int nth = 1) {
  const int G = 3 * H;
  // Weight gradients that fit L2: the products through the packed micro-kernels (packed_step.h
  // packed_whole_sequence; a team splits them by panels), x, h (r*h) and W_ih packed, the gate gradients
  // read transposed in place.
  const bool packed_products = packed_whole_sequence<T>(N, (int64_t)G * std::max(I, H));
  if (packed_products) {  // reset_after: dW_hh = dgh^T h; else its rows < 2H from dgx with h, rows >= 2H with r*h
    rec::packed_param_products(dx, dw_ih, dw_hh, dgx, reset_after ? dgh : dgx, G, x, w_ih, hs, N, I, H, G,
                               reset_after ? G : 2 * H, accumulate, tid, nth);
    if (!reset_after) {
      packed::PackedWeight<T> pn((int)N, H);
      pn.pack(hn, H, 1, tid, nth);
      packed::product_at(dw_hh + (int64_t)2 * H * H, H, dgx + 2 * H, G, pn, H, accumulate, tid, nth);
    }
  }
  if (dx && !packed_products)  // dx = dgx W_ih; the same slices solo or in a team (team.h for_parts)
    for_parts((int)N, tid, nth, 1, [&](Range rn) {
      gemm(false, false, rn.hi - rn.lo, I, G, T(1), dgx + (int64_t)rn.lo * G, G, w_ih, I, T(0),
           dx + (int64_t)rn.lo * I, I);
    });
  for_parts(G, tid, nth, 16, [&](Range fg) {
    const int g0 = fg.lo, ng = fg.hi - fg.lo;
    // this part's rows in the r, z blocks [0, 2H) and in the n block [2H, 3H)
    const Range rz = {std::min(g0, 2 * H), std::min(fg.hi, 2 * H)},
                rn3 = {std::max(g0, 2 * H), std::max(fg.hi, 2 * H)};
    if (!packed_products) {
      outer_acc(dw_ih + (int64_t)g0 * I, I, dgx + g0, G, x, I, N, ng, I, accumulate);  // dW_ih = dgx^T x
      if (reset_after) {
        outer_acc(dw_hh + (int64_t)g0 * H, H, dgh + g0, G, hs, H, N, ng, H, accumulate);  // dW_hh = dgh^T h
      } else {  // rows < 2H from dgx with h, rows >= 2H from dgx with r*h
        outer_acc(dw_hh + (int64_t)rz.lo * H, H, dgx + rz.lo, G, hs, H, N, rz.hi - rz.lo, H, accumulate);
        outer_acc(dw_hh + (int64_t)rn3.lo * H, H, dgx + rn3.lo, G, hn, H, N, rn3.hi - rn3.lo, H, accumulate);
      }
    }
    if (db_ih) colsum(db_ih + g0, dgx + g0, N, ng, G, ones, accumulate);
    if (!db_hh) return;
    if (!reset_after) {  // both biases enter the same pre-activations
      if (db_ih && !accumulate) std::memcpy(db_hh + g0, db_ih + g0, sizeof(T) * ng);
      else colsum(db_hh + g0, dgx + g0, N, ng, G, ones, accumulate);
      return;
    }
    // reset_after: dgh equals dgx in the r and z blocks; only the n block differs
    if (db_ih && !accumulate) std::memcpy(db_hh + rz.lo, db_ih + rz.lo, sizeof(T) * (rz.hi - rz.lo));
    else colsum(db_hh + rz.lo, dgh + rz.lo, N, rz.hi - rz.lo, G, ones, accumulate);
    colsum(db_hh + rn3.lo, dgh + rn3.lo, N, rn3.hi - rn3.lo, G, ones, accumulate);
  });
}

}  // namespace

template <class T>
void gru_forward(T* y, T* h_n, T* hs, T* gates, T* hn, T* gh, const T* x, const T* h0, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int Tn, int B,
                 int I, int H, bool reset_after, bool reverse) {
  const int64_t BH = (int64_t)B * H, BG = (int64_t)B * 3 * H;
  const rec::TimeOrder order{Tn, reverse};
  if (h0) std::memcpy(hs + order.first() * BH, h0, sizeof(T) * BH);
  else std::memset(hs + order.first() * BH, 0, sizeof(T) * BH);
  const bool pack = use_packed((int64_t)Tn * B);
  std::unique_ptr<StepWeights<T>> pk(pack ? new StepWeights<T>(false, reset_after, H) : nullptr);
  Scratch<T> scratch;
  T* ghT = pack ? nullptr : scratch.get((size_t)BG);
  rec::StepProjection<T> proj(gates, x, w_ih, b_ih, (const T*)nullptr, Tn, B, I, 3 * H, pack);
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    proj.prepare(tid, nth);
    if (pk) pk->pack(false, w_hh, H, tid, nth);
    bar.wait();
    for (int s = 0; s < Tn; ++s) {
      proj.before(s, order, tid, nth);
      const int t = order.at(s);
      step_forward(hs + order.out(t) * BH, y + t * BH, gates + t * BG, hn + t * BH, gh, ghT, hs + order.in(t) * BH,
                   w_hh, b_hh, pk.get(), lengths, t, B, H, reset_after, tid, nth, bar);
    }
  });
  std::memcpy(h_n, hs + order.last() * BH, sizeof(T) * BH);
}

template <class T>
void gru_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgx, T* dgh, T* dtmp,
                  const T* dy, const T* dh_n, const T* x, const T* w_ih, const T* w_hh, const T* hs,
                  const T* gates, const T* hn, const int64_t* lengths, int Tn, int B, int I, int H,
                  bool reset_after, bool reverse) {
  const int64_t BH = (int64_t)B * H, BG = (int64_t)B * 3 * H;
  const rec::TimeOrder order{Tn, reverse};
  T* dh = dh0;  // running dL/dh, ends as dL/dh0
  if (dh_n) std::memcpy(dh, dh_n, sizeof(T) * BH);
  else std::memset(dh, 0, sizeof(T) * BH);
  const int64_t N = (int64_t)Tn * B;
  const bool pack = use_packed((int64_t)Tn * B);  // packed path: W_hh packed; BLAS path: W_hh^T
  std::unique_ptr<StepWeights<T>> pk(pack ? new StepWeights<T>(true, reset_after, H) : nullptr);
  const int64_t nwT = pack ? 0 : (int64_t)3 * H * H;
  Scratch<T> scratch;
  const bool carry = lengths && !rec::all_finite(w_hh, (int64_t)3 * H * H);
  const int64_t nkeep = carry && reverse ? BH : 0;  // reverse order: carried rows' saved dL/dh
  T* wT = scratch.get((size_t)(nwT + BH + N + nkeep));
  T* sT = wT + nwT;
  T* ones = sT + BH;
  T* keep = reverse ? (nkeep ? ones + N : nullptr) : const_cast<T*>(dh_n);
  std::fill(ones, ones + N, T(1));
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    const Range rh = split(H, tid, nth), rb = split(B, tid, nth);
    if (pk) pk->pack(true, w_hh, H, tid, nth);
    else transpose(wT + (int64_t)rh.lo * 3 * H, 3 * H, w_hh + rh.lo, H, rh.hi - rh.lo, 3 * H, false);  // wT = W_hh^T
    bar.wait();
    for (int s = Tn - 1; s >= 0; --s) {
      const int t = order.at(s);
      rec::add_output_grad(dh, dy ? dy + t * BH : nullptr, lengths, t, rb, H);
      if (carry && reverse) rec::save_carried(keep, dh, lengths, t, rb, H);
      step_backward(dh, dgx + t * BG, reset_after ? dgh + t * BG : nullptr, dtmp, sT, hs + order.in(t) * BH,
                    gates + t * BG, hn + t * BH, wT, pk.get(), lengths, t, B, H, reset_after, false, tid, nth, bar);
      if (carry) {
        bar.wait();  // the product's rows are in
        rec::restore_carried(dh, keep, lengths, t, rb, H);
        bar.wait();
      }
    }
    bar.wait();  // every step's gate gradients are in
    param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, x, w_ih, hs + order.in(0) * BH, hn,
                ones, N, I, H, reset_after, false, tid, nth);
  });
}

template <class T>
void gru_cell_forward(T* h_new, T* gates, T* hn, T* gh, const T* x, const T* h, const T* w_ih,
                      const T* w_hh, const T* b_ih, const T* b_hh, int B, int I, int H, bool reset_after) {
  rec::input_projection(gates, x, w_ih, b_ih, (const T*)nullptr, B, I, 3 * H);
  Scratch<T> scratch;
  Barrier solo(1);
  step_forward(h_new, (T*)nullptr, gates, hn, gh, scratch.get((size_t)3 * B * H), h, w_hh, b_hh,
               (const StepWeights<T>*)nullptr, (const int64_t*)nullptr, 0, B, H, reset_after, 0, 1, solo);
}

template <class T>
void gru_cell_backward(T* dx, T* dh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgx, T* dgh, T* dtmp,
                       const T* dh_new, const T* x, const T* h, const T* w_ih, const T* w_hh,
                       const T* gates, const T* hn, int B, int I, int H, bool reset_after) {
  std::memcpy(dh, dh_new, sizeof(T) * (int64_t)B * H);
  // One row: the products with W_hh^T are matrix-vector products (?gemv reads W_hh in place);
  // transposing W_hh first would cost more than the whole step.
  const bool one_row = B == 1;
  const size_t nwT = one_row ? 0 : (size_t)3 * H * H;
  Scratch<T> scratch;  // W_hh^T (3H,H) | sT (H,B) | ones (B): sized for H = 0 too (ones alone)
  T* wT = scratch.get(nwT + (size_t)B * H + B);
  T* sT = wT + nwT;
  T* ones = sT + (int64_t)B * H;
  std::fill(ones, ones + B, T(1));
  if (!one_row) transpose(wT, 3 * H, w_hh, H, H, 3 * H, false);
  Barrier solo(1);
  step_backward(dh, dgx, dgh, dtmp, sT, h, gates, hn, one_row ? w_hh : wT, (const StepWeights<T>*)nullptr,
                (const int64_t*)nullptr, 0, B, H, reset_after, one_row, 0, 1, solo);
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, x, w_ih, h, hn, ones, B, I, H, reset_after, true);
}

#define RNNFAST_INSTANTIATE_GRU(T)                                                                        \
  template void gru_forward<T>(T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,    \
                               const T*, const int64_t*, int, int, int, int, bool, bool);                  \
  template void gru_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const T*, const int64_t*, int, int, int, int,  \
                                bool, bool);                                                                    \
  template void gru_cell_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,       \
                                    const T*, int, int, int, bool);                                        \
  template void gru_cell_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,      \
                                     const T*, const T*, const T*, const T*, int, int, int, bool);
RNNFAST_INSTANTIATE_GRU(float)
RNNFAST_INSTANTIATE_GRU(double)

}  // namespace rnnfast
