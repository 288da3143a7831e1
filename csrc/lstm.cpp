// LSTM kernels; shapes, layout and contract in lstm.h.
#include "lstm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "blas.h"
#include "recurrent.h"
#include "team.h"
#include "vmath.h"

namespace rnnfast {
namespace {

using rec::mul_wT;
using rec::row_valid;
using rec::transpose;

// Batches up to this size multiply by the transposed weight through ?gemv (one row: the product is a
// matrix-vector product and needs no transposes around it), larger ones use mul_wT's ?gemm.
constexpr int kSmallBatch = 1;

// out (B,N) (+)= in (B,K) W^T, given W (N,K) (BLAS path), Wt = W^T (K,N) (small-batch path) or
// pw = W^T packed (packed path, taken whenever pw is given); only the one the path uses has to be valid.
template <class T>
void rec_product(T* out, int ldo, const T* in, int ldi, const T* W, const T* Wt, const packed::PackedWeight<T>* pw,
                 int B, int N, int K, T* sT, bool accumulate, int t, int tid, int nth, Barrier& bar) {
  if (pw) rec::mul_packed(out, ldo, in, ldi, *pw, 0, K, B, accumulate, t, tid, nth, bar);
  else if (B == 1) gemm(false, false, 1, N, K, T(1), in, ldi, Wt, N, accumulate ? T(1) : T(0), out, ldo);  // ?gemv
  else mul_wT(out, ldo, in, ldi, W, K, B, N, K, sT, accumulate, tid, nth, bar);
}

// db (G,) (+)= column sums of d (N, G) (row stride ld).
template <class T>
void colsum(T* db, const T* d, int64_t N, int G, int ld, bool accumulate) {
  if (!accumulate) std::memset(db, 0, sizeof(T) * G);
  for (int64_t i = 0; i < N; ++i) {
    const T* row = d + i * ld;
#pragma omp simd
    for (int j = 0; j < G; ++j) db[j] += row[j];
  }
}

// The recurrent weights packed for the per-step products (csrc/packed_step.h), once per sequence call.
// Forward: hh = W_hh^T (P x 4H), hr = W_hr^T (H x P); backward: hh = W_hh (4H x P), hr = W_hr (P x H).
// Team share of pack(): panels split over the team, the split every product uses (no barrier needed).
template <class T>
struct StepWeights {
  packed::PackedWeight<T> hh, hr;
  StepWeights(bool backward, bool proj, int H, int P) {
    const int G = 4 * H;
    if (backward) hh.allocate(G, P); else hh.allocate(P, G);
    if (proj) {
      if (backward) hr.allocate(P, H); else hr.allocate(H, P);
    }
  }
  void pack(bool backward, const T* w_hh, const T* w_hr, int H, int P, int tid, int nth) {
    if (backward) {
      hh.pack(w_hh, P, 1, tid, nth);
      if (w_hr) hr.pack(w_hr, H, 1, tid, nth);
    } else {
      hh.pack(w_hh, 1, P, tid, nth);
      if (w_hr) hr.pack(w_hr, 1, H, tid, nth);
    }
  }
};

// One step forward. g (B,4H): on entry x W_ih^T + b_ih + b_hh for this step, on exit i, f, g, o.
// Writes c_new (B,H), h_new (B,P), y (B,P) if given (0 past a row's length) and, with a projection,
// m (B,H). whT (P,4H) = W_hh^T and wrT (H,P) = W_hr^T (small batches only, see rec_product);
// pk: W_hh^T and W_hr^T packed (packed path) or nullptr. sT: scratch of 2*B*max(4H,P).
// Team share: see mul_wT / mul_packed; the gate math of batch rows split(B).
template <class T>
void step_forward(T* h_new, T* c_new, T* y, T* g, T* m, T* sT, const T* h, const T* c, const T* w_hh,
                  const T* whT, const T* w_hr, const T* wrT, const StepWeights<T>* pk, const int64_t* lengths, int t,
                  int B, int H, int P, int tid, int nth, Barrier& bar) {
  const int G = 4 * H;
  const Range rb = split(B, tid, nth);
  rec_product(g, G, h, P, w_hh, whT, pk ? &pk->hh : nullptr, B, G, P, sT, true, t, tid, nth, bar);  // g += h W_hh^T
  for (int b = rb.lo; b < rb.hi; ++b) {
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
  if (w_hr) {
    bar.wait();  // every row of m is in
    rec_product(h_new, P, m, H, w_hr, wrT, pk ? &pk->hr : nullptr, B, P, H, sT, false, t, tid, nth, bar);  // h' = m W_hr^T
    for (int b = rb.lo; b < rb.hi; ++b) {
      T* hb = h_new + (int64_t)b * P;
      if (!row_valid(lengths, t, b)) {
        std::memcpy(hb, h + (int64_t)b * P, sizeof(T) * P);
        if (y) std::memset(y + (int64_t)b * P, 0, sizeof(T) * P);
      } else if (y) {
        std::memcpy(y + (int64_t)b * P, hb, sizeof(T) * P);
      }
    }
  }
  bar.wait();  // h_new complete for the next step's product; sT free
}

// One step backward. dh (B,P) / dc (B,H): on entry dL/dh' (output gradient included) and dL/dc',
// on exit dL/dh and dL/dc. Writes dg (B,4H) (0 for rows past their length) and, with a projection,
// dhp (B,P) = dL/dh' of the valid rows. w_hh (4H,P), w_hr (P,H) or nullptr; their transposes
// wT (P,4H), wrT (H,P) are needed by the BLAS path only (see rec_product); pk: W_hh and W_hr packed
// (packed path) or nullptr.
// Scratch: dm (B,H) (projection only), sT of 2*B*max(4H,P). Team share: batch rows split(B) of the
// element-wise work, products as in mul_wT; on entry every row of dh must be complete.
template <class T>
void step_backward(T* dh, T* dc, T* dg, T* dhp, T* dm, T* sT, const T* c, const T* c_new, const T* g,
                   const T* w_hh, const T* wT, const T* w_hr, const T* wrT, const StepWeights<T>* pk,
                   const int64_t* lengths, int t, int B, int H, int P, int tid, int nth, Barrier& bar) {
  const int G = 4 * H;
  const Range rb = split(B, tid, nth);
  if (w_hr) {  // dm = dh W_hr, the gradient w.r.t. m = o * tanh(c')
    bar.wait();  // every row of dh has its output gradient
    for (int b = rb.lo; b < rb.hi; ++b) {
      T* d = dhp + (int64_t)b * P;
      if (row_valid(lengths, t, b)) std::memcpy(d, dh + (int64_t)b * P, sizeof(T) * P);
      else std::memset(d, 0, sizeof(T) * P);
    }
    rec_product(dm, H, dh, P, wrT, w_hr, pk ? &pk->hr : nullptr, B, H, P, sT, false, t, tid, nth, bar);
    bar.wait();  // every thread has read all of dh before any row of it is reset below
  } else {
    dm = dh;  // h' = m
  }
  for (int b = rb.lo; b < rb.hi; ++b) {
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
  bar.wait();  // every row of dg is in
  rec_product(dh, P, dg, G, wT, w_hh, pk ? &pk->hh : nullptr, B, P, G, sT, true, t, tid, nth, bar);  // dh += dg W_hh
  bar.wait();  // every row of dh is in (the next step's products read them all)
}

// Weight, bias and input gradients from the gate gradients dg (N,4H) of N = T*B rows.
// hs (N,P): the states entering each step; dhp (N,P), ms (N,H): projection only.
// Team share: rows split(4H) of dW_ih, dW_hh and the biases, rows split(P) of dW_hr, rows split(N) of dx.
template <class T>
void param_grads(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dbsum, const T* dg, const T* dhp,
                 const T* x, const T* w_ih, const T* hs, const T* ms, int64_t N, int I, int H, int P,
                 bool accumulate, int tid = 0, int nth = 1) {
  const int G = 4 * H;
  const T beta = accumulate ? T(1) : T(0);
  // Weight gradients that fit L2: the products through the packed micro-kernels (packed_step.h
  // packed_whole_sequence; a team splits them by panels), x, h and W_ih packed; dW_hr stays on the BLAS.
  const bool packed_products = packed_whole_sequence<T>(N, (int64_t)G * std::max(I, P));
  if (packed_products) rec::packed_param_products(dx, dw_ih, dw_hh, dg, dg, G, x, w_ih, hs, N, I, P, G, G, accumulate, tid, nth);
  // the same slices solo or in a team (team.h for_parts)
  for_parts(G, tid, nth, 16, [&](Range rg) {
    const int g0 = rg.lo, ng = rg.hi - rg.lo;
    if (!packed_products) {
      gemm(true, false, ng, I, (int)N, T(1), dg + g0, G, x, I, beta, dw_ih + (int64_t)g0 * I, I);  // dW_ih = dg^T x
      gemm(true, false, ng, P, (int)N, T(1), dg + g0, G, hs, P, beta, dw_hh + (int64_t)g0 * P, P);  // dW_hh = dg^T h
    }
    if (db_ih || db_hh) {  // both biases get the same gradient: one pass over dg
      colsum(dbsum + g0, dg + g0, N, ng, G, false);
      for (T* db : {db_ih, db_hh}) {
        if (!db) continue;
#pragma omp simd
        for (int j = g0; j < g0 + ng; ++j) db[j] = (accumulate ? db[j] : T(0)) + dbsum[j];
      }
    }
  });
  if (dx && !packed_products)  // dx = dg W_ih
    for_parts((int)N, tid, nth, 1, [&](Range rn) {
      gemm(false, false, rn.hi - rn.lo, I, G, T(1), dg + (int64_t)rn.lo * G, G, w_ih, I, T(0), dx + (int64_t)rn.lo * I,
           I);
    });
  if (dw_hr)  // dW_hr = dh'^T m
    for_parts(P, tid, nth, 16, [&](Range rp) {
      gemm(true, false, rp.hi - rp.lo, H, (int)N, T(1), dhp + rp.lo, P, ms, H, beta, dw_hr + (int64_t)rp.lo * H, H);
    });
}

// Scratch of one kernel call, allocated before any time loop: the transposed weights that the
// chosen per-step product path needs (rec_product) and `extra` elements of other scratch.
// fill() writes the transposes (team share: rows split(P) of W_hh^T, split(H) of W_hr^T).
template <class T>
struct CallScratch {
  std::vector<T> buf;
  T* wT = nullptr;   // W_hh^T (P,4H)
  T* wrT = nullptr;  // W_hr^T (H,P), projection only
  T* rest = nullptr;
  CallScratch(bool transposes, const T* w_hr, int H, int P, size_t extra) {
    const int G = 4 * H;
    const size_t nwT = transposes ? (size_t)P * G : 0, nwrT = transposes && w_hr ? (size_t)H * P : 0;
    buf.resize(nwT + nwrT + extra + 1);  // + 1: never a null data() (memcpy/memset of 0 bytes need a pointer)
    if (nwT) wT = buf.data();
    if (nwrT) wrT = buf.data() + nwT;
    rest = buf.data() + nwT + nwrT;
  }
  void fill(const T* w_hh, const T* w_hr, int H, int P, int tid = 0, int nth = 1) {
    const int G = 4 * H;
    const Range rp = split(P, tid, nth), rh = split(H, tid, nth);
    if (wT) transpose(wT + (int64_t)rp.lo * G, G, w_hh + rp.lo, P, rp.hi - rp.lo, G, false);
    if (wrT) transpose(wrT + (int64_t)rh.lo * P, P, w_hr + rh.lo, H, rh.hi - rh.lo, P, false);
  }
};

}  // namespace

template <class T>
void lstm_forward(T* y, T* h_n, T* c_n, T* hs, T* cs, T* gates, T* ms, const T* x, const T* h0, const T* c0,
                  const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr,
                  const int64_t* lengths, int Tn, int B, int I, int H, int P, bool reverse) {
  const int64_t BP = (int64_t)B * P, BH = (int64_t)B * H, BG = (int64_t)B * 4 * H;
  const rec::TimeOrder order{Tn, reverse};
  if (h0) std::memcpy(hs + order.first() * BP, h0, sizeof(T) * BP);
  else std::memset(hs + order.first() * BP, 0, sizeof(T) * BP);
  if (c0) std::memcpy(cs + order.first() * BH, c0, sizeof(T) * BH);
  else std::memset(cs + order.first() * BH, 0, sizeof(T) * BH);
  // the small-batch BLAS path multiplies by the transposed weights, the packed path by packed ones
  const bool pack = use_packed((int64_t)Tn * B);
  CallScratch<T> s(!pack && B <= kSmallBatch, w_hr, H, P, 2 * (size_t)B * std::max(4 * H, P));
  std::unique_ptr<StepWeights<T>> pk(pack ? new StepWeights<T>(false, w_hr != nullptr, H, P) : nullptr);
  rec::StepProjection<T> proj(gates, x, w_ih, b_ih, b_hh, Tn, B, I, 4 * H, pack);
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    proj.prepare(tid, nth);
    s.fill(w_hh, w_hr, H, P, tid, nth);
    if (pk) pk->pack(false, w_hh, w_hr, H, P, tid, nth);
    bar.wait();
    for (int st = 0; st < Tn; ++st) {
      proj.before(st, order, tid, nth);
      const int t = order.at(st);
      step_forward(hs + order.out(t) * BP, cs + order.out(t) * BH, y + t * BP, gates + t * BG,
                   w_hr ? ms + t * BH : nullptr, s.rest, hs + order.in(t) * BP, cs + order.in(t) * BH, w_hh, s.wT,
                   w_hr, s.wrT, pk.get(), lengths, t, B, H, P, tid, nth, bar);
    }
  });
  std::memcpy(h_n, hs + order.last() * BP, sizeof(T) * BP);
  std::memcpy(c_n, cs + order.last() * BH, sizeof(T) * BH);
}

template <class T>
void lstm_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dgates, T* dhs,
                   const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* w_ih, const T* w_hh,
                   const T* w_hr, const T* hs, const T* cs, const T* gates, const T* ms,
                   const int64_t* lengths, int Tn, int B, int I, int H, int P, bool reverse) {
  const int G = 4 * H;
  const int64_t BP = (int64_t)B * P, BH = (int64_t)B * H, BG = (int64_t)B * G;
  const rec::TimeOrder order{Tn, reverse};
  T* dh = dh0;  // running dL/dh and dL/dc, end as dL/dh0 and dL/dc0
  T* dc = dc0;
  if (dh_n) std::memcpy(dh, dh_n, sizeof(T) * BP);
  else std::memset(dh, 0, sizeof(T) * BP);
  if (dc_n) std::memcpy(dc, dc_n, sizeof(T) * BH);
  else std::memset(dc, 0, sizeof(T) * BH);
  // the BLAS path multiplies by the transposed weights; then dm (B,H) | sT (2*B*max(4H,P)) | db (4H)
  const size_t nsT = 2 * (size_t)B * std::max(G, P);
  const bool pack = use_packed((int64_t)Tn * B);
  const bool carry = lengths && !rec::all_finite(w_hh, (int64_t)G * P);
  const size_t nkeep = carry && reverse ? (size_t)BP : 0;  // reverse order: carried rows' saved dL/dh
  CallScratch<T> s(!pack && B > kSmallBatch, w_hr, H, P, (size_t)BH + nsT + G + nkeep);
  std::unique_ptr<StepWeights<T>> pk(pack ? new StepWeights<T>(true, w_hr != nullptr, H, P) : nullptr);
  T* dm = s.rest;
  T* sT = dm + BH;
  T* dbsum = sT + nsT;
  T* keep = reverse ? (nkeep ? dbsum + G : nullptr) : const_cast<T*>(dh_n);
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    const Range rb = split(B, tid, nth);
    s.fill(w_hh, w_hr, H, P, tid, nth);
    if (pk) pk->pack(true, w_hh, w_hr, H, P, tid, nth);
    bar.wait();
    for (int st = Tn - 1; st >= 0; --st) {
      const int t = order.at(st);
      rec::add_output_grad(dh, dy ? dy + t * BP : nullptr, lengths, t, rb, P);
      if (carry && reverse) rec::save_carried(keep, dh, lengths, t, rb, P);
      step_backward(dh, dc, dgates + t * BG, w_hr ? dhs + t * BP : nullptr, dm, sT, cs + order.in(t) * BH,
                    cs + order.out(t) * BH, gates + t * BG, w_hh, s.wT, w_hr, s.wrT, pk.get(), lengths, t, B, H, P,
                    tid, nth, bar);
      if (carry) {
        rec::restore_carried(dh, keep, lengths, t, rb, P);
        bar.wait();
      }
    }
    param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dbsum, dgates, dhs, x, w_ih, hs + order.in(0) * BP, ms,
                (int64_t)Tn * B, I, H, P, false, tid, nth);
  });
}

template <class T>
void lstm_cell_forward(T* h_new, T* c_new, T* gates, T* m, const T* x, const T* h, const T* c, const T* w_ih,
                       const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr, int B, int I, int H, int P) {
  rec::input_projection(gates, x, w_ih, b_ih, b_hh, B, I, 4 * H);
  CallScratch<T> s(B <= kSmallBatch, w_hr, H, P, 2 * (size_t)B * std::max(4 * H, P));
  s.fill(w_hh, w_hr, H, P);
  Barrier solo(1);
  step_forward(h_new, c_new, (T*)nullptr, gates, m, s.rest, h, c, w_hh, s.wT, w_hr, s.wrT,
               (const StepWeights<T>*)nullptr, (const int64_t*)nullptr, 0, B, H, P, 0, 1, solo);
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
  CallScratch<T> s(B > kSmallBatch, w_hr, H, P, ndhp + (size_t)BH + nsT + G);
  s.fill(w_hh, w_hr, H, P);
  T* dhp = w_hr ? s.rest : nullptr;
  T* dm = s.rest + ndhp;
  T* sT = dm + BH;
  T* dbsum = sT + nsT;
  Barrier solo(1);
  step_backward(dh, dc, dgates, dhp, dm, sT, c, c_new, gates, w_hh, s.wT, w_hr, s.wrT, (const StepWeights<T>*)nullptr,
                (const int64_t*)nullptr, 0,
                B, H, P, 0, 1, solo);
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dbsum, dgates, dhp, x, w_ih, h, m, B, I, H, P, true);
}

#define RNNFAST_INSTANTIATE_LSTM(T)                                                                          \
  template void lstm_forward<T>(T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const int64_t*, int, int, int, int, int, bool);\
  template void lstm_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,       \
                                 const T*, const T*, const T*, const T*, const T*, const T*, const T*,        \
                                 const T*, const int64_t*, int, int, int, int, int, bool);                    \
  template void lstm_cell_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,        \
                                     const T*, const T*, const T*, int, int, int, int);                       \
  template void lstm_cell_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,      \
                                      const T*, const T*, const T*, const T*, const T*, const T*, const T*,   \
                                      const T*, int, int, int, int);
RNNFAST_INSTANTIATE_LSTM(float)
RNNFAST_INSTANTIATE_LSTM(double)

}  // namespace rnnfast
