// Pieces shared by the recurrent kernels (gru.cpp, lstm.cpp, rnn.cpp): row validity under `lengths`,
// a tiled transpose, the per-step product through the BLAS or through packed weights, adding an output gradient into the
// running state gradient, and the whole-sequence products (input projection, parameter gradients). Header-only templates,
// no Python; only the whole-sequence products allocate (their packed operands, once per call). Team shares: csrc/team.h.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>

#include "blas.h"
#include "packed_step.h"
#include "team.h"

namespace rnnfast {
namespace rec {

// Whether batch row b is still inside its sequence at step t (lengths nullptr: all rows are).
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

// out (B,N) (+)= in (B,K) W^T, W (N,K) row-major, through the BLAS with the weight as the first
// operand and the state as a transposed operand: sT (N,B) = W in^T, then sT is transposed back, so
// that every cache stays batch-major (the weight's side is packed more cheaply by OpenBLAS: ~1.5-2x
// over out = in W^T for small batches). For B = 1 the product is already in row order and goes
// straight into out. sT: scratch of B*N.
// Team share (csrc/team.h): rows split(N) of the product, then batch rows split(B) of out; on entry
// every row of `in` must be complete, on exit only this thread's rows of out are. (An explicit
// transpose of `in` first, for a non-transposed operand, measured 10-20% faster with a threaded
// BLAS at B >= 32 but slower in a team: 1.28 vs 1.08x the GEMM floor at (200,32,128,256).)
template <class T>
void mul_wT(T* out, int ldo, const T* in, int ldi, const T* W, int ldw, int B, int N, int K, T* sT,
            bool accumulate, int tid, int nth, Barrier& bar) {
  if (B == 1) {  // never in a team (seq_threads)
    gemm(false, true, N, 1, K, T(1), W, ldw, in, ldi, accumulate ? T(1) : T(0), out, 1);
    return;
  }
  const Range rb = split(B, tid, nth);
  for_parts(N, tid, nth, 16, [&](Range rn) {  // the same slices solo or in a team (team.h)
    gemm(false, true, rn.hi - rn.lo, B, K, T(1), W + (int64_t)rn.lo * ldw, ldw, in, ldi, T(0), sT + (int64_t)rn.lo * B,
         B);
  });
  bar.wait();
  transpose(out + (int64_t)rb.lo * ldo, ldo, sT + rb.lo, B, rb.hi - rb.lo, N, accumulate);
}

// out (B,N) (+)= in (B,kn) M[k0 : k0 + kn, :] with M packed in pw (csrc/packed_step.h); in points at
// the column that multiplies row k0. Team share: output columns (panels of pw) split over the team,
// then a barrier: as for mul_wT, every row of `in` must be complete on entry; on exit every row of out
// is (one barrier, like mul_wT, so both paths keep the same barrier count). t: the step, whose parity
// sets the direction the weight is read in (packed::product's `descending`).
template <class T>
void mul_packed(T* out, int ldo, const T* in, int ldi, const packed::PackedWeight<T>& pw, int k0, int kn, int B,
                bool accumulate, int t, int tid, int nth, Barrier& bar) {
  packed::product(out, ldo, in, ldi, pw, k0, kn, B, accumulate, tid, nth, (t & 1) != 0);
  bar.wait();
}

// dh (B,P) += dy (B,P) for batch rows [rb.lo, rb.hi) that are inside their sequence at step t
// (past its length a row's output is a constant 0, so no gradient flows from it); dy may be nullptr.
template <class T>
void add_output_grad(T* dh, const T* dy, const int64_t* lengths, int t, Range rb, int P) {
  if (!dy) return;
  for (int b = rb.lo; b < rb.hi; ++b) {
    if (!row_valid(lengths, t, b)) continue;
    T* d = dh + (int64_t)b * P;
    const T* s = dy + (int64_t)b * P;
#pragma omp simd
    for (int j = 0; j < P; ++j) d[j] += s[j];
  }
}

// True if no entry of a (n) is inf or NaN.
template <class T>
bool all_finite(const T* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// Rows past their length at step t carry dL/dh unchanged, but the step's product dh += dg W_hh still
// adds 0 * W_hh to them, which is NaN where W_hh holds an inf or a NaN (the sequence kernels call this
// only then). Put back their carried value, keep's row (or 0 for keep nullptr): in time order that is
// dh_n's row (every step after t was past the row's length too); in reverse order it is the value the
// row had when it left its sequence, saved by save_carried.
template <class T>
void restore_carried(T* dh, const T* keep, const int64_t* lengths, int t, Range rb, int P) {
  if (!lengths) return;
  for (int b = rb.lo; b < rb.hi; ++b) {
    if (row_valid(lengths, t, b)) continue;
    T* d = dh + (int64_t)b * P;
    if (keep) std::memcpy(d, keep + (int64_t)b * P, sizeof(T) * P);
    else std::memset(d, 0, sizeof(T) * P);
  }
}

// Reverse order, before step t: rows whose sequence ends here (t == length) start carrying dL/dh;
// keep (B,P) takes their current value for restore_carried.
template <class T>
void save_carried(T* keep, const T* dh, const int64_t* lengths, int t, Range rb, int P) {
  for (int b = rb.lo; b < rb.hi; ++b)
    if (lengths[b] == t) std::memcpy(keep + (int64_t)b * P, dh + (int64_t)b * P, sizeof(T) * P);
}

// Time order of a sequence kernel. Forward order visits t = 0 .. T-1; reverse order visits T-1 .. 0
// (each row from its last valid step, its padding first, carried: the reverse direction of a
// bidirectional layer without reversing any array). The state cache hs (T+1 slots) holds h0 in
// slot 0 (forward) or slot T (reverse), and the state entering step t in slot in(t) with the state
// leaving it in slot out(t), so that hs + in(0) is the (T, B, .) block of every step's input state.
struct TimeOrder {
  int Tn;
  bool reverse;
  int at(int s) const { return reverse ? Tn - 1 - s : s; }    // the s-th step visited
  int64_t in(int t) const { return reverse ? t + 1 : t; }     // slot of the state entering step t
  int64_t out(int t) const { return reverse ? t : t + 1; }    // slot of the state leaving step t
  int64_t first() const { return reverse ? Tn : 0; }          // slot of h0
  int64_t last() const { return reverse ? 0 : Tn; }           // slot of the final state
};

// gates (N,G) = x (N,I) W_ih^T + b_ih + b_hh (either bias may be nullptr; both folded in once), the
// input projection of a whole sequence (N = T*B rows). On the packed micro-kernels when x fits L2
// (packed_whole_sequence; team share: panels of W_ih^T), else through the BLAS (team share: columns
// split(G), the same slices solo or in a team).
template <class T>
void input_projection(T* gates, const T* x, const T* w_ih, const T* b_ih, const T* b_hh, int64_t N, int I, int G,
                      int tid = 0, int nth = 1, const packed::PackedWeight<T>* packed_w = nullptr) {
  const bool bias = b_ih || b_hh;
  if (N <= 0) return;  // T*B = 0: no row to hold the bias
  const auto fill_bias = [&](Range c) {  // columns c of every row = b_ih + b_hh (first row, then copied)
    if (!bias) return;
    for (int j = c.lo; j < c.hi; ++j) gates[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh ? b_hh[j] : T(0));
    for (int64_t i = 1; i < N; ++i) std::memcpy(gates + i * G + c.lo, gates + c.lo, sizeof(T) * (c.hi - c.lo));
  };
  if (packed_w) {  // W_ih^T packed by the caller (StepProjection)
    const Range rp = split(packed_w->npanels, tid, nth);
    fill_bias(Range{rp.lo * packed_w->NR, std::min(G, rp.hi * packed_w->NR)});
    packed::product(gates, G, x, I, *packed_w, 0, I, (int)N, bias, tid, nth);
    return;
  }
  if (packed_whole_sequence<T>(N, N * I)) {
    packed::PackedWeight<T> pw(I, G);
    pw.pack(w_ih, 1, I, tid, nth);  // M = W_ih^T: M[k][n] = w_ih[n][k]
    input_projection(gates, x, w_ih, b_ih, b_hh, N, I, G, tid, nth, &pw);
    return;
  }
  for_parts(G, tid, nth, 16, [&](Range c) {
    fill_bias(c);
    gemm(false, true, (int)N, c.hi - c.lo, I, T(1), x, I, w_ih + (int64_t)c.lo * I, I, bias ? T(1) : T(0),
         gates + c.lo, G);
  });
}

// The input projection of a sequence kernel's forward: gates (T,B,G) = x (T,B,I) W_ih^T + b_ih + b_hh.
// On the packed path, when one step's gates take at most kProjectionChunkBytes, it runs in chunks of
// steps (as many as fit those bytes) just before the time loop reaches them, so that each step's product
// adds into gates still in cache rather than gates that a projection of the whole sequence wrote out to
// memory long before (docs/packed-step.md); otherwise it is one input_projection before the loop.
// Team share: panels of W_ih^T, which are the output columns of the packed per-step product over G, so
// a chunk needs no barrier before the step's product (each thread adds only into columns it projected).
constexpr int64_t kProjectionChunkBytes = 256 * 1024;
template <class T>
struct StepProjection {
  T* gates;
  const T *x, *w_ih, *b_ih, *b_hh;
  int Tn, B, I, G;
  int chunk;                    // steps per projection (Tn: the whole sequence at once)
  packed::PackedWeight<T> pw;  // W_ih^T (I, G), packed once per call when chunked (allocated here)

  StepProjection(T* gates_, const T* x_, const T* w_ih_, const T* b_ih_, const T* b_hh_, int Tn_, int B_, int I_,
                 int G_, bool packed_steps)
      : gates(gates_), x(x_), w_ih(w_ih_), b_ih(b_ih_), b_hh(b_hh_), Tn(Tn_), B(B_), I(I_), G(G_) {
    const int64_t step_bytes = std::max<int64_t>((int64_t)B * G * (int64_t)sizeof(T), 1);
    chunk = packed_steps && step_bytes <= kProjectionChunkBytes
                ? (int)std::min<int64_t>(Tn, kProjectionChunkBytes / step_bytes) : Tn;
    if (chunk < Tn) pw.allocate(I, G);
  }
  bool chunked() const { return !pw.empty(); }
  // Before the time loop, which a barrier must follow: the whole sequence's projection, or, chunked,
  // this thread's panels of W_ih^T.
  void prepare(int tid, int nth) {
    if (chunked()) pw.pack(w_ih, 1, I, tid, nth);  // M = W_ih^T: M[k][n] = w_ih[n][k]
    else input_projection(gates, x, w_ih, b_ih, b_hh, (int64_t)Tn * B, I, G, tid, nth);
  }
  // Before the st-th step the loop visits (chunked): the projection of the chunk starting there. In
  // reverse order a chunk is the steps just below the previous one.
  void before(int st, const TimeOrder& order, int tid, int nth) const {
    if (!chunked() || st % chunk) return;
    const int n = std::min(chunk, Tn - st);
    const int t0 = order.reverse ? Tn - st - n : st;  // first step (in time) of the chunk
    input_projection(gates + (int64_t)t0 * B * G, x + (int64_t)t0 * B * I, w_ih, b_ih, b_hh, (int64_t)n * B, I, G,
                     tid, nth, &pw);
  }
};

// The weight and input gradients' products on the packed micro-kernels (packed_whole_sequence):
// dW_ih (G,I) (+)= dg^T x, the first Mh rows of dW_hh (G,P) (+)= dgh^T h, and, if dx is given, dx (N,I)
// = dg W_ih; dg and dgh have row stride ldg (dgh may be dg). x, hs and W_ih are packed here, the gate
// gradients read transposed in place. Team share: panels (columns of each output).
template <class T>
void packed_param_products(T* dx, T* dw_ih, T* dw_hh, const T* dg, const T* dgh, int ldg, const T* x, const T* w_ih,
                           const T* hs, int64_t N, int I, int P, int G, int Mh, bool accumulate, int tid, int nth) {
  packed::PackedWeight<T> px((int)N, I), ph((int)N, P);
  px.pack(x, I, 1, tid, nth);
  ph.pack(hs, P, 1, tid, nth);
  packed::product_at(dw_ih, I, dg, ldg, px, G, accumulate, tid, nth);   // dW_ih = dg^T x
  packed::product_at(dw_hh, P, dgh, ldg, ph, Mh, accumulate, tid, nth);  // dW_hh[:Mh] = dgh^T h
  if (dx) {  // dx = dg W_ih
    packed::PackedWeight<T> pw(G, I);
    pw.pack(w_ih, I, 1, tid, nth);
    packed::product(dx, I, dg, ldg, pw, 0, G, (int)N, false, tid, nth);
  }
}

}  // namespace rec
}  // namespace rnnfast
