// LSTM kernels; shapes, layout and contract in lstm.h.
#include "lstm.h"

#include <algorithm>
#include <cstring>
#include <vector>

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

// out (B,N) (+)= in (B,K) W^T, W (N,K) row-major, through the BLAS in the form that measured
// fastest with OpenBLAS for the per-step shapes (B = 16..128; 10-20% over the GRU's form at B >= 32):
// the weight is the first operand and the state enters transposed, sT (N,B) = W inT with inT (K,B),
// then sT is transposed back, so that every cache stays batch-major. For B = 1 the product is
// already in row order and goes straight into out. sT: scratch of B*(N+K).
template <class T>
void mul_wT(T* out, int ldo, const T* in, int ldi, const T* W, int ldw, int B, int N, int K, T* sT,
            bool accumulate) {
  if (B == 1) {
    gemm(false, true, N, 1, K, T(1), W, ldw, in, ldi, accumulate ? T(1) : T(0), out, 1);
    return;
  }
  T* inT = sT + (int64_t)B * N;
  transpose(inT, B, in, ldi, K, B, false);  // inT (K,B) = in^T
  gemm(false, false, N, B, K, T(1), W, ldw, inT, B, T(0), sT, B);
  transpose(out, ldo, sT, B, B, N, accumulate);
}

// Batches up to this size multiply by the transposed weight through ?gemv (one row: the product is a
// matrix-vector product and needs no transposes around it), larger ones use mul_wT's ?gemm.
constexpr int kSmallBatch = 1;

// out (B,N) (+)= in (B,K) W^T, given W (N,K) (BLAS path) and Wt = W^T (K,N) (small-batch path);
// only the one the path uses has to be valid.
template <class T>
void rec_product(T* out, int ldo, const T* in, int ldi, const T* W, const T* Wt, int B, int N, int K, T* sT,
                 bool accumulate) {
  if (B == 1) gemm(false, false, 1, N, K, T(1), in, ldi, Wt, N, accumulate ? T(1) : T(0), out, ldo);  // ?gemv
  else mul_wT(out, ldo, in, ldi, W, K, B, N, K, sT, accumulate);
}

// db (G,) (+)= column sums of d (N, G).
template <class T>
void colsum(T* db, const T* d, int64_t N, int G, bool accumulate) {
  if (!accumulate) std::memset(db, 0, sizeof(T) * G);
  for (int64_t i = 0; i < N; ++i) {
    const T* row = d + i * G;
#pragma omp simd
    for (int j = 0; j < G; ++j) db[j] += row[j];
  }
}

// gates (N,4H) = x W_ih^T + b_ih + b_hh (both biases folded in once; nullptr = none).
template <class T>
void input_projection(T* gates, const T* x, const T* w_ih, const T* b_ih, const T* b_hh, int64_t N, int I,
                      int G) {
  const bool bias = b_ih || b_hh;
  if (bias) {
    T* row0 = gates;  // first row = b_ih + b_hh, then copied
    for (int j = 0; j < G; ++j) row0[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh ? b_hh[j] : T(0));
    for (int64_t i = 1; i < N; ++i) std::memcpy(gates + i * G, row0, sizeof(T) * G);
  }
  gemm(false, true, (int)N, G, I, T(1), x, I, w_ih, I, bias ? T(1) : T(0), gates, G);
}

// One step forward. g (B,4H): on entry x W_ih^T + b_ih + b_hh for this step, on exit i, f, g, o.
// Writes c_new (B,H), h_new (B,P), y (B,P) if given (0 past a row's length) and, with a projection,
// m (B,H). whT (P,4H) = W_hh^T and wrT (H,P) = W_hr^T (small batches only, see rec_product);
// sT: scratch of 2*B*max(4H,P).
template <class T>
void step_forward(T* h_new, T* c_new, T* y, T* g, T* m, T* sT, const T* h, const T* c, const T* w_hh,
                  const T* whT, const T* w_hr, const T* wrT, const int64_t* lengths, int t, int B, int H, int P) {
  const int G = 4 * H;
  rec_product(g, G, h, P, w_hh, whT, B, G, P, sT, true);  // g += h W_hh^T
  for (int b = 0; b < B; ++b) {
    const T* cb = c + (int64_t)b * H;
    T* cn = c_new + (int64_t)b * H;
    if (!row_valid(lengths, t, b)) {  // carry the states, output zero
      std::memcpy(cn, cb, sizeof(T) * H);
      if (w_hr) {
        std::memset(m + (int64_t)b * H, 0, sizeof(T) * H);  // finite, so dW_hr's GEMM ignores the row
      } else {
        std::memcpy(h_new + (int64_t)b * P, h + (int64_t)b * P, sizeof(T) * P);
        if (y) std::memset(y + (int64_t)b * P, 0, sizeof(T) * P);
      }
      continue;
    }
    T* gi = g + (int64_t)b * G;
    T* gf = gi + H;
    T* gg = gi + 2 * H;
    T* go = gi + 3 * H;
    T* mb = w_hr ? m + (int64_t)b * H : h_new + (int64_t)b * H;  // without a projection h' = m
#pragma omp simd
    for (int j = 0; j < H; ++j) {
      const T i = vsigmoid(gi[j]), f = vsigmoid(gf[j]), gc = vtanh(gg[j]), o = vsigmoid(go[j]);
      gi[j] = i; gf[j] = f; gg[j] = gc; go[j] = o;
      const T cv = f * cb[j] + i * gc;
      cn[j] = cv;
      mb[j] = o * vtanh(cv);
    }
    if (!w_hr && y) std::memcpy(y + (int64_t)b * P, mb, sizeof(T) * P);
  }
  if (!w_hr) return;
  rec_product(h_new, P, m, H, w_hr, wrT, B, P, H, sT, false);  // h' = m W_hr^T
  for (int b = 0; b < B; ++b) {
    T* hb = h_new + (int64_t)b * P;
    if (!row_valid(lengths, t, b)) {
      std::memcpy(hb, h + (int64_t)b * P, sizeof(T) * P);
      if (y) std::memset(y + (int64_t)b * P, 0, sizeof(T) * P);
    } else if (y) {
      std::memcpy(y + (int64_t)b * P, hb, sizeof(T) * P);
    }
  }
}

// One step backward. dh (B,P) / dc (B,H): on entry dL/dh' (output gradient included) and dL/dc',
// on exit dL/dh and dL/dc. Writes dg (B,4H) (0 for rows past their length) and, with a projection,
// dhp (B,P) = dL/dh' of the valid rows. w_hh (4H,P), w_hr (P,H) or nullptr; their transposes
// wT (P,4H), wrT (H,P) are needed by the BLAS path only (see rec_product).
// Scratch: dm (B,H) (projection only), sT of 2*B*max(4H,P).
template <class T>
void step_backward(T* dh, T* dc, T* dg, T* dhp, T* dm, T* sT, const T* c, const T* c_new, const T* g,
                   const T* w_hh, const T* wT, const T* w_hr, const T* wrT, const int64_t* lengths, int t, int B,
                   int H, int P) {
  const int G = 4 * H;
  if (w_hr) {  // dm = dh W_hr, the gradient w.r.t. m = o * tanh(c')
    for (int b = 0; b < B; ++b) {
      T* d = dhp + (int64_t)b * P;
      if (row_valid(lengths, t, b)) std::memcpy(d, dh + (int64_t)b * P, sizeof(T) * P);
      else std::memset(d, 0, sizeof(T) * P);
    }
    rec_product(dm, H, dh, P, wrT, w_hr, B, H, P, sT, false);
  } else {
    dm = dh;  // h' = m
  }
  for (int b = 0; b < B; ++b) {
    T* dgi = dg + (int64_t)b * G;
    if (!row_valid(lengths, t, b)) {  // states carried: dh, dc pass through, no gate gradient
      std::memset(dgi, 0, sizeof(T) * G);
      continue;
    }
    T* dgf = dgi + H;
    T* dgg = dgi + 2 * H;
    T* dgo = dgi + 3 * H;
    const T* gi = g + (int64_t)b * G;
    const T* gf = gi + H;
    const T* gg = gi + 2 * H;
    const T* go = gi + 3 * H;
    const T* cb = c + (int64_t)b * H;
    const T* cn = c_new + (int64_t)b * H;
    const T* dmb = dm + (int64_t)b * H;
    T* dcb = dc + (int64_t)b * H;
#pragma omp simd
    for (int j = 0; j < H; ++j) {
      const T i = gi[j], f = gf[j], gc = gg[j], o = go[j];
      const T tc = vtanh(cn[j]);
      const T dmj = dmb[j];
      const T dct = dcb[j] + dmj * o * (T(1) - tc * tc);  // total dL/dc'
      dgi[j] = dct * gc * i * (T(1) - i);
      dgf[j] = dct * cb[j] * f * (T(1) - f);
      dgg[j] = dct * i * (T(1) - gc * gc);
      dgo[j] = dmj * tc * o * (T(1) - o);
      dcb[j] = dct * f;
    }
    // h enters the step only through the gates: dh is the recurrent product below
    std::memset(dh + (int64_t)b * P, 0, sizeof(T) * P);
  }
  rec_product(dh, P, dg, G, wT, w_hh, B, P, G, sT, true);  // dh += dg W_hh
}

// Weight, bias and input gradients from the gate gradients dg (N,4H) of N = T*B rows.
// hs (N,P): the states entering each step; dhp (N,P), ms (N,H): projection only.
template <class T>
void param_grads(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dbsum, const T* dg, const T* dhp,
                 const T* x, const T* w_ih, const T* hs, const T* ms, int64_t N, int I, int H, int P,
                 bool accumulate) {
  const int G = 4 * H;
  const T beta = accumulate ? T(1) : T(0);
  gemm(true, false, G, I, (int)N, T(1), dg, G, x, I, beta, dw_ih, I);            // dW_ih = dg^T x
  if (dx) gemm(false, false, (int)N, I, G, T(1), dg, G, w_ih, I, T(0), dx, I);    // dx = dg W_ih
  gemm(true, false, G, P, (int)N, T(1), dg, G, hs, P, beta, dw_hh, P);            // dW_hh = dg^T h
  if (dw_hr) gemm(true, false, P, H, (int)N, T(1), dhp, P, ms, H, beta, dw_hr, H);  // dW_hr = dh'^T m
  if (db_ih || db_hh) {  // both biases get the same gradient: one pass over dg
    colsum(dbsum, dg, N, G, false);
    for (T* db : {db_ih, db_hh}) {
      if (!db) continue;
#pragma omp simd
      for (int j = 0; j < G; ++j) db[j] = (accumulate ? db[j] : T(0)) + dbsum[j];
    }
  }
}

// Scratch of one kernel call, allocated before any time loop: the transposed weights that the
// chosen per-step product path needs (rec_product) and `extra` elements of other scratch.
template <class T>
struct CallScratch {
  std::vector<T> buf;
  T* wT = nullptr;   // W_hh^T (P,4H)
  T* wrT = nullptr;  // W_hr^T (H,P), projection only
  T* rest = nullptr;
  CallScratch(bool transposes, const T* w_hh, const T* w_hr, int H, int P, size_t extra) {
    const int G = 4 * H;
    const size_t nwT = transposes ? (size_t)P * G : 0, nwrT = transposes && w_hr ? (size_t)H * P : 0;
    buf.resize(nwT + nwrT + extra);
    if (nwT) transpose(wT = buf.data(), G, w_hh, P, P, G, false);
    if (nwrT) transpose(wrT = buf.data() + nwT, P, w_hr, H, H, P, false);
    rest = buf.data() + nwT + nwrT;
  }
};

}  // namespace

template <class T>
void lstm_forward(T* y, T* h_n, T* c_n, T* hs, T* cs, T* gates, T* ms, const T* x, const T* h0, const T* c0,
                  const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr,
                  const int64_t* lengths, int Tn, int B, int I, int H, int P) {
  const int64_t BP = (int64_t)B * P, BH = (int64_t)B * H, BG = (int64_t)B * 4 * H;
  if (h0) std::memcpy(hs, h0, sizeof(T) * BP);
  else std::memset(hs, 0, sizeof(T) * BP);
  if (c0) std::memcpy(cs, c0, sizeof(T) * BH);
  else std::memset(cs, 0, sizeof(T) * BH);
  input_projection(gates, x, w_ih, b_ih, b_hh, (int64_t)Tn * B, I, 4 * H);
  // the small-batch path multiplies by the transposed weights
  CallScratch<T> s(B <= kSmallBatch, w_hh, w_hr, H, P, 2 * (size_t)B * std::max(4 * H, P));
  for (int t = 0; t < Tn; ++t) {
    step_forward(hs + (t + 1) * BP, cs + (t + 1) * BH, y + t * BP, gates + t * BG, w_hr ? ms + t * BH : nullptr,
                 s.rest, hs + t * BP, cs + t * BH, w_hh, s.wT, w_hr, s.wrT, lengths, t, B, H, P);
  }
  std::memcpy(h_n, hs + Tn * BP, sizeof(T) * BP);
  std::memcpy(c_n, cs + Tn * BH, sizeof(T) * BH);
}

template <class T>
void lstm_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dgates, T* dhs,
                   const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* w_ih, const T* w_hh,
                   const T* w_hr, const T* hs, const T* cs, const T* gates, const T* ms,
                   const int64_t* lengths, int Tn, int B, int I, int H, int P) {
  const int G = 4 * H;
  const int64_t BP = (int64_t)B * P, BH = (int64_t)B * H, BG = (int64_t)B * G;
  T* dh = dh0;  // running dL/dh and dL/dc, end as dL/dh0 and dL/dc0
  T* dc = dc0;
  if (dh_n) std::memcpy(dh, dh_n, sizeof(T) * BP);
  else std::memset(dh, 0, sizeof(T) * BP);
  if (dc_n) std::memcpy(dc, dc_n, sizeof(T) * BH);
  else std::memset(dc, 0, sizeof(T) * BH);
  // the BLAS path multiplies by the transposed weights; then dm (B,H) | sT (2*B*max(4H,P)) | db (4H)
  const size_t nsT = 2 * (size_t)B * std::max(G, P);
  CallScratch<T> s(B > kSmallBatch, w_hh, w_hr, H, P, (size_t)BH + nsT + G);
  T* dm = s.rest;
  T* sT = dm + BH;
  T* dbsum = sT + nsT;
  for (int t = Tn - 1; t >= 0; --t) {
    if (dy) {
      const T* dyt = dy + t * BP;
      for (int b = 0; b < B; ++b) {
        if (!row_valid(lengths, t, b)) continue;  // output is a constant 0 there
        T* d = dh + (int64_t)b * P;
        const T* src = dyt + (int64_t)b * P;
#pragma omp simd
        for (int j = 0; j < P; ++j) d[j] += src[j];
      }
    }
    step_backward(dh, dc, dgates + t * BG, w_hr ? dhs + t * BP : nullptr, dm, sT, cs + t * BH, cs + (t + 1) * BH,
                  gates + t * BG, w_hh, s.wT, w_hr, s.wrT, lengths, t, B, H, P);
  }
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dbsum, dgates, dhs, x, w_ih, hs, ms, (int64_t)Tn * B, I, H,
              P, false);
}

template <class T>
void lstm_cell_forward(T* h_new, T* c_new, T* gates, T* m, const T* x, const T* h, const T* c, const T* w_ih,
                       const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr, int B, int I, int H, int P) {
  input_projection(gates, x, w_ih, b_ih, b_hh, B, I, 4 * H);
  CallScratch<T> s(B <= kSmallBatch, w_hh, w_hr, H, P, 2 * (size_t)B * std::max(4 * H, P));
  step_forward(h_new, c_new, (T*)nullptr, gates, m, s.rest, h, c, w_hh, s.wT, w_hr, s.wrT,
               (const int64_t*)nullptr, 0, B, H, P);
}

template <class T>
void lstm_cell_backward(T* dx, T* dh, T* dc, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dgates,
                        const T* dh_new, const T* dc_new, const T* x, const T* h, const T* c, const T* c_new,
                        const T* w_ih, const T* w_hh, const T* w_hr, const T* gates, const T* m, int B, int I,
                        int H, int P) {
  const int G = 4 * H;
  const int64_t BP = (int64_t)B * P, BH = (int64_t)B * H;
  if (dh_new) std::memcpy(dh, dh_new, sizeof(T) * BP);
  else std::memset(dh, 0, sizeof(T) * BP);
  if (dc_new) std::memcpy(dc, dc_new, sizeof(T) * BH);
  else std::memset(dc, 0, sizeof(T) * BH);
  // transposes (BLAS path) | dhp (B,P) (projection) | dm (B,H) | sT | db
  const size_t ndhp = w_hr ? (size_t)BP : 0, nsT = 2 * (size_t)B * std::max(G, P);
  CallScratch<T> s(B > kSmallBatch, w_hh, w_hr, H, P, ndhp + (size_t)BH + nsT + G);
  T* dhp = w_hr ? s.rest : nullptr;
  T* dm = s.rest + ndhp;
  T* sT = dm + BH;
  T* dbsum = sT + nsT;
  step_backward(dh, dc, dgates, dhp, dm, sT, c, c_new, gates, w_hh, s.wT, w_hr, s.wrT, (const int64_t*)nullptr, 0,
                B, H, P);
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dbsum, dgates, dhp, x, w_ih, h, m, B, I, H, P, true);
}

#define RNNFAST_INSTANTIATE_LSTM(T)                                                                          \
  template void lstm_forward<T>(T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const int64_t*, int, int, int, int, int);      \
  template void lstm_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,       \
                                 const T*, const T*, const T*, const T*, const T*, const T*, const T*,        \
                                 const T*, const int64_t*, int, int, int, int, int);                          \
  template void lstm_cell_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,        \
                                     const T*, const T*, const T*, int, int, int, int);                       \
  template void lstm_cell_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,      \
                                      const T*, const T*, const T*, const T*, const T*, const T*, const T*,   \
                                      const T*, int, int, int, int);
RNNFAST_INSTANTIATE_LSTM(float)
RNNFAST_INSTANTIATE_LSTM(double)

}  // namespace rnnfast
