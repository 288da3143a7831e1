// Elman RNN kernels; shapes, layout and contract in rnn.h.
#include "rnn.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "blas.h"
#include "recurrent.h"
#include "team.h"
#include "vmath.h"

namespace rnnfast {
namespace {

using rec::mul_wT;  // the per-step products, as in lstm.cpp
using rec::row_valid;
using rec::transpose;

// Batches up to this size multiply by the transposed weight through ?gemv (one row: the product is a
// matrix-vector product and needs no transposes around it), larger ones use mul_wT's ?gemm.
constexpr int kSmallBatch = 1;

// out (B,H) (+)= in (B,H) W^T given W (H,H) (BLAS path), Wt = W^T (small-batch path) or pw = W^T
// packed (packed path, taken whenever pw is given).
template <class T>
void rec_product(T* out, const T* in, const T* W, const T* Wt, const packed::PackedWeight<T>* pw, int B, int H, T* sT,
                 bool accumulate, int t, int tid, int nth, Barrier& bar) {
  if (pw) rec::mul_packed(out, H, in, H, *pw, 0, H, B, accumulate, t, tid, nth, bar);
  else if (B == 1) gemm(false, false, 1, H, H, T(1), in, H, Wt, H, accumulate ? T(1) : T(0), out, H);  // ?gemv
  else mul_wT(out, H, in, H, W, H, B, H, H, sT, accumulate, tid, nth, bar);
}

// One step forward. a (B,H): on entry x W_ih^T + b_ih + b_hh for this step, on exit the new state
// (h carried for rows past their length). y (B,H) if given: the output (0 past a row's length).
// whT = W_hh^T (small batches only, see rec_product); pw: W_hh^T packed (packed path) or nullptr;
// sT: scratch of 2*B*H. Team share: product as in mul_wT / mul_packed, element-wise work on batch
// rows split(B).
template <class T>
void step_forward(T* a, T* y, T* sT, const T* h, const T* w_hh, const T* whT, const packed::PackedWeight<T>* pw,
                  const int64_t* lengths, int t, int B, int H, bool relu, int tid, int nth, Barrier& bar) {
  const Range rb = split(B, tid, nth);
  rec_product(a, h, w_hh, whT, pw, B, H, sT, true, t, tid, nth, bar);  // a += h W_hh^T
  for (int b = rb.lo; b < rb.hi; ++b) {
    T* ab = a + (int64_t)b * H;
    if (!row_valid(lengths, t, b)) {  // carry the state, output zero
      std::memcpy(ab, h + (int64_t)b * H, sizeof(T) * H);
      if (y) std::memset(y + (int64_t)b * H, 0, sizeof(T) * H);
      continue;
    }
    if (relu) {
#pragma omp simd
      for (int j = 0; j < H; ++j) ab[j] = ab[j] < T(0) ? T(0) : ab[j];  // NaN propagates (as torch)
    } else {
#pragma omp simd
      for (int j = 0; j < H; ++j) ab[j] = vtanh(ab[j]);
    }
    if (y) std::memcpy(y + (int64_t)b * H, ab, sizeof(T) * H);
  }
  bar.wait();  // the new state is complete for the next step's product; sT free
}

// One step backward. dh (B,H): on entry dL/dh' (output gradient included), on exit dL/dh.
// h_new (B,H): the step's output state. Writes dg (B,H) (0 past a row's length).
// w_hh (H,H); its transpose wT only for the BLAS path (see rec_product); pw: W_hh packed (packed
// path) or nullptr; sT: scratch of 2*B*H. Team share: element-wise work on batch rows split(B),
// product as in mul_wT / mul_packed.
template <class T>
void step_backward(T* dh, T* dg, T* sT, const T* h_new, const T* w_hh, const T* wT, const packed::PackedWeight<T>* pw,
                   const int64_t* lengths, int t, int B, int H, bool relu, int tid, int nth, Barrier& bar) {
  const Range rb = split(B, tid, nth);
  for (int b = rb.lo; b < rb.hi; ++b) {
    T* dgb = dg + (int64_t)b * H;
    T* dhb = dh + (int64_t)b * H;
    if (!row_valid(lengths, t, b)) {  // state carried: dh passes through
      std::memset(dgb, 0, sizeof(T) * H);
      continue;
    }
    const T* hb = h_new + (int64_t)b * H;
    if (relu) {
#pragma omp simd
      for (int j = 0; j < H; ++j) {
        dgb[j] = hb[j] > T(0) ? dhb[j] : T(0);
        dhb[j] = T(0);  // h enters only through a: dh is the product below
      }
    } else {
#pragma omp simd
      for (int j = 0; j < H; ++j) {
        dgb[j] = dhb[j] * (T(1) - hb[j] * hb[j]);
        dhb[j] = T(0);
      }
    }
  }
  bar.wait();  // every row of dg is in
  rec_product(dh, dg, wT, w_hh, pw, B, H, sT, true, t, tid, nth, bar);  // dh += dg W_hh
  bar.wait();  // sT free for the next step
}

// Weight, bias and input gradients from the pre-activation gradients dg (N,H) of N = T*B rows;
// hs (N,H): the states entering each step. Team share: rows split(H) of the weight and bias
// gradients, rows split(N) of dx.
template <class T>
void param_grads(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dbsum, const T* dg, const T* x,
                 const T* w_ih, const T* hs, int64_t N, int I, int H, bool accumulate, int tid = 0, int nth = 1) {
  const T beta = accumulate ? T(1) : T(0);
  // Weight gradients that fit L2: the products through the packed micro-kernels (packed_step.h
  // packed_whole_sequence; a team splits them by panels), x, h and W_ih packed.
  const bool packed_products = packed_whole_sequence<T>(N, (int64_t)H * std::max(I, H));
  if (packed_products) rec::packed_param_products(dx, dw_ih, dw_hh, dg, dg, H, x, w_ih, hs, N, I, H, H, H, accumulate, tid, nth);
  // the same slices solo or in a team (team.h for_parts)
  if (dx && !packed_products)  // dx = dg W_ih
    for_parts((int)N, tid, nth, 1, [&](Range rn) {
      gemm(false, false, rn.hi - rn.lo, I, H, T(1), dg + (int64_t)rn.lo * H, H, w_ih, I, T(0), dx + (int64_t)rn.lo * I,
           I);
    });
  for_parts(H, tid, nth, 16, [&](Range rh) {
    const int h0 = rh.lo, nh = rh.hi - rh.lo;
    if (!packed_products) {
      gemm(true, false, nh, I, (int)N, T(1), dg + h0, H, x, I, beta, dw_ih + (int64_t)h0 * I, I);  // dW_ih = dg^T x
      gemm(true, false, nh, H, (int)N, T(1), dg + h0, H, hs, H, beta, dw_hh + (int64_t)h0 * H, H);  // dW_hh = dg^T h
    }
    if (db_ih || db_hh) {  // both biases get the same gradient: one pass over dg
      std::memset(dbsum + h0, 0, sizeof(T) * nh);
      for (int64_t i = 0; i < N; ++i) {
        const T* row = dg + i * H;
#pragma omp simd
        for (int j = h0; j < h0 + nh; ++j) dbsum[j] += row[j];
      }
      for (T* db : {db_ih, db_hh}) {
        if (!db) continue;
#pragma omp simd
        for (int j = h0; j < h0 + nh; ++j) db[j] = (accumulate ? db[j] : T(0)) + dbsum[j];
      }
    }
  });
}

// Scratch of one kernel call, allocated before any time loop: W_hh^T if the chosen per-step path
// needs it (rec_product), then `extra` elements.
template <class T>
struct CallScratch {
  std::vector<T> buf;
  T* wT = nullptr;
  T* rest = nullptr;
  CallScratch(bool transpose_w, const T* w_hh, int H, size_t extra) {
    const size_t nwT = transpose_w ? (size_t)H * H : 0;
    buf.resize(nwT + extra + 1);  // + 1: never a null data() (memcpy/memset of 0 bytes need a pointer)
    if (nwT) transpose(wT = buf.data(), H, w_hh, H, H, H, false);
    rest = buf.data() + nwT;
  }
};

}  // namespace

template <class T>
void rnn_forward(T* y, T* h_n, T* hs, const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const int64_t* lengths, int Tn, int B, int I, int H, bool relu, bool reverse) {
  const int64_t BH = (int64_t)B * H;
  const rec::TimeOrder order{Tn, reverse};
  if (h0) std::memcpy(hs + order.first() * BH, h0, sizeof(T) * BH);
  else std::memset(hs + order.first() * BH, 0, sizeof(T) * BH);
  const bool pack = use_packed((int64_t)Tn * B);  // packed path: W_hh^T packed once for all steps
  CallScratch<T> s(!pack && B <= kSmallBatch, w_hh, H, 2 * (size_t)BH);
  packed::PackedWeight<T> pw;
  if (pack) pw.allocate(H, H);
  // into the slots of the states leaving each step, hs[1..T] (reverse: hs[0..T-1])
  rec::StepProjection<T> proj(hs + order.out(0) * BH, x, w_ih, b_ih, b_hh, Tn, B, I, H, pack);
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    proj.prepare(tid, nth);
    if (pack) pw.pack(w_hh, 1, H, tid, nth);
    bar.wait();
    for (int st = 0; st < Tn; ++st) {
      proj.before(st, order, tid, nth);
      const int t = order.at(st);
      step_forward(hs + order.out(t) * BH, y + t * BH, s.rest, hs + order.in(t) * BH, w_hh, s.wT,
                   pack ? &pw : nullptr, lengths, t, B, H, relu, tid, nth, bar);
    }
  });
  std::memcpy(h_n, hs + order.last() * BH, sizeof(T) * BH);
}

template <class T>
void rnn_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dg, const T* dy, const T* dh_n,
                  const T* x, const T* w_ih, const T* w_hh, const T* hs, const int64_t* lengths, int Tn, int B,
                  int I, int H, bool relu, bool reverse) {
  const int64_t BH = (int64_t)B * H;
  const rec::TimeOrder order{Tn, reverse};
  T* dh = dh0;  // running dL/dh, ends as dL/dh0
  if (dh_n) std::memcpy(dh, dh_n, sizeof(T) * BH);
  else std::memset(dh, 0, sizeof(T) * BH);
  const bool pack = use_packed((int64_t)Tn * B);  // packed path: W_hh packed once for all steps
  const bool carry = lengths && !rec::all_finite(w_hh, (int64_t)H * H);
  const size_t nkeep = carry && reverse ? (size_t)BH : 0;  // reverse order: carried rows' saved dL/dh
  // W_hh^T (BLAS path) | sT | db | keep
  CallScratch<T> s(!pack && B > kSmallBatch, w_hh, H, 2 * (size_t)BH + H + nkeep);
  packed::PackedWeight<T> pw;
  if (pack) pw.allocate(H, H);
  T* sT = s.rest;
  T* dbsum = sT + 2 * BH;
  T* keep = reverse ? (nkeep ? dbsum + H : nullptr) : const_cast<T*>(dh_n);
  run_team(seq_threads(B, H), [&](int tid, int nth, Barrier& bar) {
    const Range rb = split(B, tid, nth);
    if (pack) pw.pack(w_hh, H, 1, tid, nth);  // panels split as in every product: no barrier needed
    for (int st = Tn - 1; st >= 0; --st) {
      const int t = order.at(st);
      rec::add_output_grad(dh, dy ? dy + t * BH : nullptr, lengths, t, rb, H);
      if (carry && reverse) rec::save_carried(keep, dh, lengths, t, rb, H);
      step_backward(dh, dg + t * BH, sT, hs + order.out(t) * BH, w_hh, s.wT, pack ? &pw : nullptr, lengths, t, B, H,
                    relu, tid, nth, bar);
      if (carry) {
        rec::restore_carried(dh, keep, lengths, t, rb, H);
        bar.wait();
      }
    }
    param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dbsum, dg, x, w_ih, hs + order.in(0) * BH, (int64_t)Tn * B, I, H,
                false, tid, nth);
  });
}

template <class T>
void rnn_cell_forward(T* h_new, const T* x, const T* h, const T* w_ih, const T* w_hh, const T* b_ih,
                      const T* b_hh, int B, int I, int H, bool relu) {
  rec::input_projection(h_new, x, w_ih, b_ih, b_hh, B, I, H);
  CallScratch<T> s(B <= kSmallBatch, w_hh, H, 2 * (size_t)B * H);
  Barrier solo(1);
  step_forward(h_new, (T*)nullptr, s.rest, h, w_hh, s.wT, (const packed::PackedWeight<T>*)nullptr,
               (const int64_t*)nullptr, 0, B, H, relu, 0, 1, solo);
}

template <class T>
void rnn_cell_backward(T* dx, T* dh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dg, const T* dh_new,
                       const T* x, const T* h, const T* h_new, const T* w_ih, const T* w_hh, int B, int I, int H,
                       bool relu) {
  std::memcpy(dh, dh_new, sizeof(T) * (int64_t)B * H);
  CallScratch<T> s(B > kSmallBatch, w_hh, H, 2 * (size_t)B * H + H);
  T* sT = s.rest;
  T* dbsum = sT + 2 * (size_t)B * H;
  Barrier solo(1);
  step_backward(dh, dg, sT, h_new, w_hh, s.wT, (const packed::PackedWeight<T>*)nullptr, (const int64_t*)nullptr, 0,
                B, H, relu, 0, 1, solo);
  param_grads(dx, dw_ih, dw_hh, db_ih, db_hh, dbsum, dg, x, w_ih, h, B, I, H, true);
}

#define RNNFAST_INSTANTIATE_RNN(T)                                                                          \
  template void rnn_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,       \
                               const int64_t*, int, int, int, int, bool, bool);                             \
  template void rnn_backward<T>(T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                const T*, const int64_t*, int, int, int, int, bool, bool);                  \
  template void rnn_cell_forward<T>(T*, const T*, const T*, const T*, const T*, const T*, const T*, int, int, \
                                    int, bool);                                                             \
  template void rnn_cell_backward<T>(T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*,     \
                                     const T*, const T*, int, int, int, bool);
RNNFAST_INSTANTIATE_RNN(float)
RNNFAST_INSTANTIATE_RNN(double)

}  // namespace rnnfast
