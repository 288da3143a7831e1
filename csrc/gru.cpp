// GRU kernels; shapes, layout and contract in gru.h.
#include "gru.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "blas.h"
#include "vmath.h"

namespace rnnfast {
namespace {

inline bool row_valid(const int64_t* lengths, int t, int b) { return !lengths || t < lengths[b]; }

// dst (R, C) (row stride ldd) = src^T (+ dst if accumulate), src (C, R) with row stride lds. Tiled.
template <class T>
void transpose(T* dst, int ldd, const T* src, int lds, int R, int C, bool accumulate) {
  constexpr int TB = 16;
  for (int i0 = 0; i0 < R; i0 += TB)
    for (int j0 = 0; j0 < C; j0 += TB) {
      const int i1 = std::min(R, i0 + TB), j1 = std::min(C, j0 + TB);
      for (int i = i0; i < i1; ++i) {
        T* d = dst + (int64_t)i * ldd;
        if (accumulate)
          for (int j = j0; j < j1; ++j) d[j] += src[(int64_t)j * lds + i];
        else
          for (int j = j0; j < j1; ++j) d[j] = src[(int64_t)j * lds + i];
      }
    }
}

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
    if (size < n) {
      buf.reset(new T[n]);
      size = n;
    }
    return buf.get();
  }
};

// g (B,3H): on entry x W_ih^T + b_ih for this step, on exit r, z, n.
// Writes h_new (B,H), hn (B,H) and, if y is given, y (B,H) (zero for rows past their length).
// ghT (3H, B) is scratch for the transposed recurrent product.
template <class T>
void step_forward(T* h_new, T* y, T* g, T* hn, T* gh, T* ghT, const T* h, const T* w_hh, const T* b_hh,
                  const int64_t* lengths, int t, int B, int H, bool reset_after) {
  const int G = 3 * H;
  const T* bhr = b_hh;
  const T* bhz = b_hh ? b_hh + H : nullptr;
  const T* bhn = b_hh ? b_hh + 2 * H : nullptr;
  const int Gh = reset_after ? G : 2 * H;  // reset_after=false: r, z blocks now, n block after r
  gemm(false, true, Gh, B, H, T(1), w_hh, H, h, H, T(0), ghT, B);  // ghT = W_hh h^T
  transpose(gh, G, ghT, B, B, Gh, false);                          // gh = h W_hh^T
  for (int b = 0; b < B; ++b) {
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
    gemm(false, true, H, B, H, T(1), w_hh + (int64_t)2 * H * H, H, hn, H, T(0), ghT, B);
    transpose(gh + 2 * H, G, ghT, B, B, H, false);
  }
  for (int b = 0; b < B; ++b) {
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
}

// One step backward. dh (B,H): on entry dL/dh' (upstream, output gradient included), on exit dL/dh.
// Writes dgx, dgh (B,3H) for this step; dtmp (B,H) workspace. wT (H,3H) = W_hh^T, or W_hh itself
// (3H,H) when w_untransposed (one-row cell steps: ?gemv reads it in place); sT (H,B) scratch.
template <class T>
void step_backward(T* dh, T* dgx, T* dgh, T* dtmp, T* sT, const T* h, const T* g, const T* hn, const T* wT,
                   const int64_t* lengths, int t, int B, int H, bool reset_after, bool w_untransposed = false) {
  const int G = 3 * H;
  for (int b = 0; b < B; ++b) {
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
  if (reset_after) {  // dh += dgh W_hh, computed as (W_hh^T dgh^T)^T
    if (w_untransposed) gemm(true, true, H, B, G, T(1), wT, H, dgh, G, T(0), sT, B);
    else gemm(false, true, H, B, G, T(1), wT, G, dgh, G, T(0), sT, B);
    transpose(dh, H, sT, B, B, H, true);
    return;
  }
  // reset_after = false: d(r*h) = dn_pre W_hn, then the r block, then dh += [dr, dz] W_hh[:2H]
  if (w_untransposed) gemm(true, true, H, B, H, T(1), wT + (int64_t)2 * H * H, H, dgx + 2 * H, G, T(0), sT, B);
  else gemm(false, true, H, B, H, T(1), wT + 2 * H, G, dgx + 2 * H, G, T(0), sT, B);
  transpose(dtmp, H, sT, B, B, H, false);
  for (int b = 0; b < B; ++b) {
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
  if (w_untransposed) gemm(true, true, H, B, 2 * H, T(1), wT, H, dgx, G, T(0), sT, B);
  else gemm(false, true, H, B, 2 * H, T(1), wT, G, dgx, G, T(0), sT, B);
  transpose(dh, H, sT, B, B, H, true);
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
// ones (N,) all ones (for the bias sums).
template <class T>
void param_grads(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dgx, const T* dgh,
                 const T* x, const T* w_ih, const T* hs, const T* hn, const T* ones, int64_t N, int I, int H,
                 bool reset_after, bool accumulate) {
  const int G = 3 * H;
  outer_acc(dw_ih, I, dgx, G, x, I, N, G, I, accumulate);                  // dW_ih = dgx^T x
  if (dx) gemm(false, false, (int)N, I, G, T(1), dgx, G, w_ih, I, T(0), dx, I);  // dx = dgx W_ih
  if (reset_after) {
    outer_acc(dw_hh, H, dgh, G, hs, H, N, G, H, accumulate);  // dW_hh = dgh^T h
  } else {
    outer_acc(dw_hh, H, dgx, G, hs, H, N, 2 * H, H, accumulate);
    outer_acc(dw_hh + (int64_t)2 * H * H, H, dgx + 2 * H, G, hn, H, N, H, H, accumulate);
  }
  if (db_ih) colsum(db_ih, dgx, N, G, G, ones, accumulate);
  if (!db_hh) return;
  if (!reset_after) {  // both biases enter the same pre-activations
    if (db_ih && !accumulate) std::memcpy(db_hh, db_ih, sizeof(T) * G);
    else colsum(db_hh, dgx, N, G, G, ones, accumulate);
    return;
  }
  // reset_after: dgh equals dgx in the r and z blocks; only the n block differs
  if (db_ih && !accumulate) std::memcpy(db_hh, db_ih, sizeof(T) * 2 * H);
  else colsum(db_hh, dgh, N, 2 * H, G, ones, accumulate);
  colsum(db_hh + 2 * H, dgh + 2 * H, N, H, G, ones, accumulate);
}

// gates (N,3H) = x W_ih^T + b_ih
template <class T>
void input_projection(T* gates, const T* x, const T* w_ih, const T* b_ih, int64_t N, int I, int H) {
  const int G = 3 * H;
  if (b_ih) {
    for (int64_t i = 0; i < N; ++i) std::memcpy(gates + i * G, b_ih, sizeof(T) * G);
  }
  gemm(false, true, (int)N, G, I, T(1), x, I, w_ih, I, b_ih ? T(1) : T(0), gates, G);
}

}  // namespace

template <class T>
void gru_forward(T* y, T* h_n, T* hs, T* gates, T* hn, T* gh, const T* x, const T* h0, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int Tn, int B,
                 int I, int H, bool reset_after) {
  const int64_t BH = (int64_t)B * H, BG = (int64_t)B * 3 * H;
  if (h0) std::memcpy(hs, h0, sizeof(T) * BH);
  else std::memset(hs, 0, sizeof(T) * BH);
  input_projection(gates, x, w_ih, b_ih, (int64_t)Tn * B, I, H);
  Scratch<T> scratch;
  T* ghT = scratch.get((size_t)BG);
  for (int t = 0; t < Tn; ++t) {
    step_forward(hs + (t + 1) * BH, y + t * BH, gates + t * BG, hn + t * BH, gh, ghT, hs + t * BH, w_hh,
                 b_hh, lengths, t, B, H, reset_after);
  }
  std::memcpy(h_n, hs + Tn * BH, sizeof(T) * BH);
}

template <class T>
void gru_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgx, T* dgh, T* dtmp,
                  const T* dy, const T* dh_n, const T* x, const T* w_ih, const T* w_hh, const T* hs,
                  const T* gates, const T* hn, const int64_t* lengths, int Tn, int B, int I, int H,
                  bool reset_after) {
  const int64_t BH = (int64_t)B * H, BG = (int64_t)B * 3 * H;
  T* dh = dh0;  // running dL/dh, ends as dL/dh0
  if (dh_n) std::memcpy(dh, dh_n, sizeof(T) * BH);
  else std::memset(dh, 0, sizeof(T) * BH);
  const int64_t N = (int64_t)Tn * B;
  Scratch<T> scratch;
  T* wT = scratch.get((size_t)3 * H * H + BH + N);
  T* sT = wT + (int64_t)3 * H * H;
  T* ones = sT + BH;
  std::fill(ones, ones + N, T(1));
  transpose(wT, 3 * H, w_hh, H, H, 3 * H, false);  // wT (H,3H) = W_hh^T
  for (int t = Tn - 1; t >= 0; --t) {
    if (dy) {
      const T* dyt = dy + t * BH;
      for (int b = 0; b < B; ++b) {
        if (!row_valid(lengths, t, b)) continue;  // output is a constant 0 there
        T* d = dh + (int64_t)b * H;
        const T* s = dyt + (int64_t)b * H;
#pragma omp simd
        for (int j = 0; j < H; ++j) d[j] += s[j];
      }
    }
    step_backward(dh, dgx + t * BG, reset_after ? dgh + t * BG : nullptr, dtmp, sT, hs + t * BH,
                  gates + t * BG, hn + t * BH, wT, lengths, t, B, H, reset_after);
  }
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, x, w_ih, hs, hn, ones, N, I, H, reset_after, false);
}

template <class T>
void gru_cell_forward(T* h_new, T* gates, T* hn, T* gh, const T* x, const T* h, const T* w_ih,
                      const T* w_hh, const T* b_ih, const T* b_hh, int B, int I, int H, bool reset_after) {
  input_projection(gates, x, w_ih, b_ih, B, I, H);
  Scratch<T> scratch;
  step_forward(h_new, (T*)nullptr, gates, hn, gh, scratch.get((size_t)3 * B * H), h, w_hh, b_hh,
               (const int64_t*)nullptr, 0, B, H, reset_after);
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
  Scratch<T> scratch;
  T* wT = scratch.get(nwT + 2 * (size_t)B * H);
  T* sT = wT + nwT;
  T* ones = sT + (int64_t)B * H;
  std::fill(ones, ones + B, T(1));
  if (!one_row) transpose(wT, 3 * H, w_hh, H, H, 3 * H, false);
  step_backward(dh, dgx, dgh, dtmp, sT, h, gates, hn, one_row ? w_hh : wT, (const int64_t*)nullptr, 0, B, H,
                reset_after, one_row);
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, x, w_ih, h, hn, ones, B, I, H, reset_after, true);
}

#define RNNFAST_INSTANTIATE_GRU(T)                                                                        \
  template void gru_forward<T>(T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,    \
                               const T*, const int64_t*, int, int, int, int, bool);                        \
  template void gru_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const T*, const int64_t*, int, int, int, int,  \
                                bool);                                                                      \
  template void gru_cell_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,       \
                                    const T*, int, int, int, bool);                                        \
  template void gru_cell_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,      \
                                     const T*, const T*, const T*, const T*, int, int, int, bool);
RNNFAST_INSTANTIATE_GRU(float)
RNNFAST_INSTANTIATE_GRU(double)

}  // namespace rnnfast
