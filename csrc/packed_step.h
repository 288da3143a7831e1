// Packed per-step recurrent products: out (B,N) (+)= in (B,K) M, with M (K,N) a recurrent weight
// (forward: M = W_hh^T; backward: M = W_hh) that stays the same for every step of a call.
//
// Why: a BLAS ?gemm repacks its operands on every call. For the small per-step products of a
// recurrence (B = 1..128 rows against a K x N weight) that repacking costs as much as the arithmetic,
// and the BLAS needs the result transposed back (rec::mul_wT). Here M is packed once per kernel call
// into column panels, and a register-blocked FMA micro-kernel streams them at every step, writing the
// product straight into the batch-major output rows. Layout and measurements: docs/packed-step.md.
//
// Packed layout: panel p holds columns [p NR, p NR + NR) of M as K rows of NR contiguous values
// (zero-padded past N), panel after panel: data[p K NR + k NR + j] = M[k][p NR + j]. A product over a
// sub-range [k0, k0 + kn) of M's rows (GRU: the n block) reads rows k0.. of every panel.
// Micro-kernel: MR rows of `in` x NR = 2 vectors of columns in 2 MR accumulator registers; every k
// loads the panel's two vectors once and broadcasts MR values of `in` into MR x 2 FMAs.
//
// Instruction set: chosen at compile time (__AVX512F__, else __AVX2__ and __FMA__); a build without
// either has no packed path (packed_available() is false) and the kernels keep the BLAS products.
// Everything here has internal linkage, so translation units compiled for different instruction sets
// can each include it. The process-wide choice BLAS/packed (step_product_mode) is in packed_step.cpp.
//
// Who allocates: PackedWeight allocates its panels once per kernel call (before the time loop).
// Team share: panels split(npanels) over the team, for packing and for every product, so a thread only
// reads panels it packed itself; on exit of product() only this thread's output columns are written.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "team.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace rnnfast {

// Per-step product path, process-wide (packed_step.cpp; bindings: _core._set_step_product).
// automatic: packed where the packing pays for itself (use_packed(rows)); packed: always; blas: never.
enum class StepProduct : int { blas = 0, packed = 1, automatic = 2 };
StepProduct step_product_mode();
void set_step_product_mode(StepProduct m);
const char* packed_isa_name();  // "avx512", "avx2" or "none": the packed path of packed_step.cpp's build
std::atomic<int64_t>& packed_weights_made();  // weights packed so far (tests check that the path ran)

namespace {
namespace packed {

#if defined(__AVX512F__)
constexpr int kIsa = 2;  // AVX-512: 32 vector registers
template <class T>
struct V;
template <>
struct V<float> {
  using R = __m512;
  static constexpr int W = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_load_ps(p); }
  static R bcast(const float* p) { return _mm512_set1_ps(*p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm512_storeu_ps(p, v); }
};
template <>
struct V<double> {
  using R = __m512d;
  static constexpr int W = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const double* p) { return _mm512_load_pd(p); }
  static R bcast(const double* p) { return _mm512_set1_pd(*p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R loadu(const double* p) { return _mm512_loadu_pd(p); }
  static void storeu(double* p, R v) { _mm512_storeu_pd(p, v); }
};
constexpr int kMaxRows = 8;  // 8 x 2 accumulators of 32: measured best (docs/packed-step.md)
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kIsa = 1;  // AVX2 + FMA: 16 vector registers
template <class T>
struct V;
template <>
struct V<float> {
  using R = __m256;
  static constexpr int W = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_load_ps(p); }
  static R bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm256_storeu_ps(p, v); }
};
template <>
struct V<double> {
  using R = __m256d;
  static constexpr int W = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const double* p) { return _mm256_load_pd(p); }
  static R bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R loadu(const double* p) { return _mm256_loadu_pd(p); }
  static void storeu(double* p, R v) { _mm256_storeu_pd(p, v); }
};
constexpr int kMaxRows = 6;  // 6 x 2 accumulators + 2 panel vectors + 1 broadcast of 16 registers
#else
constexpr int kIsa = 0;
constexpr int kMaxRows = 1;
#endif

constexpr bool available() { return kIsa != 0; }

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// Columns per panel: two vectors.
template <class T>
constexpr int panel_width() {
  return 2 * V<T>::W;
}
#else
template <class T>
constexpr int panel_width() {
  return 1;
}
#endif

// A recurrent weight packed into panels (see the top of this file). Allocated once per kernel call.
template <class T>
struct PackedWeight {
  static constexpr int NR = panel_width<T>();
  int K = 0, N = 0, npanels = 0;
  T* data = nullptr;
  std::unique_ptr<T, decltype(&std::free)> mem{nullptr, &std::free};

  PackedWeight() = default;
  PackedWeight(int K_, int N_) { allocate(K_, N_); }
  void allocate(int K_, int N_) {
    K = K_;
    N = N_;
    npanels = (N + NR - 1) / NR;
    const size_t bytes = ((size_t)npanels * K * NR * sizeof(T) + 63) / 64 * 64;
    void* p = bytes ? std::aligned_alloc(64, bytes) : nullptr;
    if (bytes && !p) throw std::bad_alloc();
    mem.reset(static_cast<T*>(p));
    data = mem.get();
    packed_weights_made().fetch_add(1, std::memory_order_relaxed);
  }
  bool empty() const { return data == nullptr; }
  const T* panel(int p) const { return data + (size_t)p * K * NR; }

  // Packs M[k][n] = src[k sk + n sn] (M = W^T of a row-major W (N,K): sk = 1, sn = ldw; M = W (K,N)
  // itself: sk = ldw, sn = 1). Team share: panels split(npanels), the same split as product().
  void pack(const T* src, int64_t sk, int64_t sn, int tid = 0, int nth = 1) {
    const Range rp = split(npanels, tid, nth);
    for (int p = rp.lo; p < rp.hi; ++p) {
      T* d = data + (size_t)p * K * NR;
      const int n0 = p * NR, nc = std::min(NR, N - n0);
      if (sn == 1) {  // rows of M are contiguous
        for (int k = 0; k < K; ++k) {
          const T* s = src + k * sk + n0;
          T* dk = d + (size_t)k * NR;
          for (int j = 0; j < nc; ++j) dk[j] = s[j];
          for (int j = nc; j < NR; ++j) dk[j] = T(0);
        }
      } else {  // columns of M are contiguous (rows of W): read along them
        for (int j = 0; j < nc; ++j) {
          const T* s = src + (n0 + j) * sn;
          for (int k = 0; k < K; ++k) d[(size_t)k * NR + j] = s[k * sk];
        }
        for (int j = nc; j < NR; ++j)
          for (int k = 0; k < K; ++k) d[(size_t)k * NR + j] = T(0);
      }
    }
  }
};

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// Loops over the accumulator registers must be unrolled completely: else GCC keeps the accumulator
// arrays in memory and stores them at every k (measured 8-15 instead of 100+ GFLOP/s).
#if defined(__clang__)
#define RNNFAST_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define RNNFAST_UNROLL _Pragma("GCC unroll 16")
#else
#define RNNFAST_UNROLL
#endif
// MR rows x NR columns: out[i][0..nc) (+)= sum_k in[i][k] panel[k][..]; KS independent accumulator
// sets over k (few rows: the FMA latency, not the throughput, would bound one set). TA: `in` is given
// transposed, element (i, k) at in[k ldi + i] (the MR values of one k are then contiguous).
// REV: k runs from kn - 1 down to 0 (the panel read backwards; see product()).
template <class T, int MR, int KS, bool TA = false, bool REV = false>
inline void tile(T* out, int64_t ldo, const T* in, int64_t ldi, const T* pan, int kn, int nc, bool accumulate) {
  using Vt = V<T>;
  using R = typename Vt::R;
  constexpr int W = Vt::W, NR = 2 * W;
  R c0[KS][MR], c1[KS][MR];
  RNNFAST_UNROLL
  for (int s = 0; s < KS; ++s)
    RNNFAST_UNROLL
    for (int i = 0; i < MR; ++i) c0[s][i] = c1[s][i] = Vt::zero();
  const T* a[MR];
  RNNFAST_UNROLL
  for (int i = 0; i < MR; ++i) a[i] = TA ? in + i : in + i * ldi;
  const int64_t sk = TA ? ldi : 1;  // distance between consecutive k of one row of `in`
  const int nb = kn / KS, r = kn - nb * KS;  // r: the remainder rows (after the blocks; REV: before)
  for (int j = 0; j < nb; ++j) {
    const int k = REV ? kn - (j + 1) * KS : j * KS;
    RNNFAST_UNROLL
    for (int s = 0; s < KS; ++s) {
      const int ks = REV ? k + KS - 1 - s : k + s;
      const T* p = pan + (size_t)ks * NR;
      const R b0 = Vt::load(p), b1 = Vt::load(p + W);
      RNNFAST_UNROLL
      for (int i = 0; i < MR; ++i) {
        const R av = Vt::bcast(a[i] + ks * sk);
        c0[s][i] = Vt::fma(av, b0, c0[s][i]);
        c1[s][i] = Vt::fma(av, b1, c1[s][i]);
      }
    }
  }
  for (int j = 0; j < r; ++j) {
    const int k = REV ? r - 1 - j : nb * KS + j;
    const T* p = pan + (size_t)k * NR;
    const R b0 = Vt::load(p), b1 = Vt::load(p + W);
    RNNFAST_UNROLL
    for (int i = 0; i < MR; ++i) {
      const R av = Vt::bcast(a[i] + k * sk);
      c0[0][i] = Vt::fma(av, b0, c0[0][i]);
      c1[0][i] = Vt::fma(av, b1, c1[0][i]);
    }
  }
  RNNFAST_UNROLL
  for (int s = 1; s < KS; ++s)
    RNNFAST_UNROLL
    for (int i = 0; i < MR; ++i) {
      c0[0][i] = Vt::add(c0[0][i], c0[s][i]);
      c1[0][i] = Vt::add(c1[0][i], c1[s][i]);
    }
  if (nc == NR) {
    RNNFAST_UNROLL
    for (int i = 0; i < MR; ++i) {
      T* o = out + i * ldo;
      if (accumulate) {
        c0[0][i] = Vt::add(c0[0][i], Vt::loadu(o));
        c1[0][i] = Vt::add(c1[0][i], Vt::loadu(o + W));
      }
      Vt::storeu(o, c0[0][i]);
      Vt::storeu(o + W, c1[0][i]);
    }
  } else {  // last panel of a matrix whose N is not a multiple of NR: through a small buffer
    alignas(64) T buf[NR];
    RNNFAST_UNROLL
    for (int i = 0; i < MR; ++i) {
      T* o = out + i * ldo;
      Vt::storeu(buf, c0[0][i]);
      Vt::storeu(buf + W, c1[0][i]);
      if (accumulate)
        for (int j = 0; j < nc; ++j) o[j] += buf[j];
      else
        for (int j = 0; j < nc; ++j) o[j] = buf[j];
    }
  }
}

template <class T, int MR, bool TA = false, bool REV = false>
inline void tile_rows(T* out, int64_t ldo, const T* in, int64_t ldi, const T* pan, int kn, int nc, bool accumulate) {
  constexpr int KS = MR == 1 ? 4 : MR <= 3 ? 2 : 1;
  tile<T, MR, KS, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
}

// A remainder of 1 .. kMaxRows - 1 rows (TA: `in` transposed, rows i at in + i).
template <class T, bool TA = false, bool REV = false>
inline void tile_any(int mr, T* out, int64_t ldo, const T* in, int64_t ldi, const T* pan, int kn, int nc,
                     bool accumulate) {
  switch (mr) {
    case 1: return tile_rows<T, 1, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
    case 2: return tile_rows<T, 2, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
    case 3: return tile_rows<T, 3, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
    case 4: return tile_rows<T, 4, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
    case 5: return tile_rows<T, 5, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
#if defined(__AVX512F__)
    case 6: return tile_rows<T, 6, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
    case 7: return tile_rows<T, 7, TA, REV>(out, ldo, in, ldi, pan, kn, nc, accumulate);
#endif
    default: return;
  }
}
#endif

// Blocking of the whole-sequence products (product() over T*B rows, product_at()): rows of `in` per
// block so that a block (rows x kn values) takes about kRowBlockBytes of L2, and rows of K per block of
// product_at and of a large per-step product.
constexpr int64_t kRowBlockBytes = 256 * 1024;
constexpr int kKBlock = 256;
// A per-step product takes K blocks when its `in` is larger than this (see product()), with its `out`
// in chunks of about kOutChunkBytes.
constexpr int64_t kKBlockInBytes = 1 << 20;
constexpr int64_t kOutChunkBytes = 128 * 1024;
template <class T>
inline int row_block(int kn) {
  const int64_t rows = kRowBlockBytes / ((int64_t)std::max(kn, 1) * (int64_t)sizeof(T));
  return (int)std::max<int64_t>(kMaxRows, rows / kMaxRows * kMaxRows);
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// Every row of one panel: B rows of out in tiles of kMaxRows and one remainder tile (TA: `in` given
// transposed, row b at in + b; REV: k descending, see product()).
template <class T, bool TA, bool REV>
inline void tiles(T* out, int64_t ldo, const T* in, int64_t ldi, const T* pan, int kn, int nc, int B,
                  bool accumulate) {
  const int64_t sb = TA ? 1 : ldi;  // distance between consecutive rows of `in`
  int b = 0;
  for (; b + kMaxRows <= B; b += kMaxRows)
    tile_rows<T, kMaxRows, TA, REV>(out + b * ldo, ldo, in + b * sb, ldi, pan, kn, nc, accumulate);
  if (b < B) tile_any<T, TA, REV>(B - b, out + b * ldo, ldo, in + b * sb, ldi, pan, kn, nc, accumulate);
}
#endif

// out (B, N) (+)= in (B, kn) M[k0 : k0 + kn, :], M packed in pw; out and in are row-major with row
// strides ldo, ldi (in points at the column that multiplies row k0 of M). Team share: panels
// split(npanels), i.e. output columns; the caller waits at a barrier before reading other columns.
// descending: this thread's panels last to first and each from its last row to its first, i.e. its
// share of M read in exactly the opposite order. A recurrence alternates the direction from step to
// step, so that each step starts on the panels the previous step read last, which are still in L1: a
// weight larger than L1 (LSTM, H = 64: 64 KB per step) then streams only its excess from L2 (one row:
// ~7% less time per LSTM call at (T,B,I,H) = (100,1,32,64), docs/packed-step.md). The direction changes
// the order of the sums over k, so callers take it from the step index t (the same for every thread of
// a team, and for a solo run).
template <class T>
inline void product(T* out, int64_t ldo, const T* in, int64_t ldi, const PackedWeight<T>& pw, int k0, int kn, int B,
                    bool accumulate, int tid = 0, int nth = 1, bool descending = false) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int NR = PackedWeight<T>::NR;
  const Range rp = split(pw.npanels, tid, nth);
  if (kn <= 0) {
    if (!accumulate)
      for (int b = 0; b < B; ++b)
        for (int n = rp.lo * NR; n < std::min(pw.N, rp.hi * NR); ++n) out[b * ldo + n] = T(0);
    return;
  }
  // K in blocks of kKBlock rows when the step's `in` (B x kn) exceeds kKBlockInBytes, more than L2
  // holds (backward LSTM at (B,H) = (128,1024): dg of 128 x 4096, 2 MB): a block's rows of a panel then
  // stay in L1 across the row tiles and its slice of `in` in L2 across the panels, so the weight streams
  // from L3 once per step instead of once per row block (11 times there). Descending reads the blocks
  // last to first too. Measured, 1 thread AVX2 (Zen 3), backward at (T,B,I,H) = (50,128,512,1024):
  // LSTM 1913 -> 1811 ms, GRU 1398 -> 1378 ms (min of 5-7 interleaved calls; docs/packed-step.md).
  const bool kblocks = B > kMaxRows && kn > kKBlock && (int64_t)B * kn * (int64_t)sizeof(T) > kKBlockInBytes;
  const int kc = kblocks ? kKBlock : kn;
  const int nkb = (kn + kc - 1) / kc;
  // Rows in blocks whose slice of `in` (bn x kc) stays in L2 while every panel passes over it (a
  // whole-sequence product of T*B rows; without it each panel streamed all of `in` from memory). A
  // per-step product (B <= the block) is one block.
  const int mb = row_block<T>(kc);
  const int np = rp.hi - rp.lo;
  for (int b0 = 0; b0 < B; b0 += mb) {
    const int bn = std::min(mb, B - b0);
    T* ob = out + (int64_t)b0 * ldo;
    // K blocks: the panels in chunks whose block of `out` (bn rows x the chunk's columns, about
    // kOutChunkBytes) stays in L2 while the K blocks add to it
    const int pc = nkb == 1 ? np : std::max(1, (int)(kOutChunkBytes / ((int64_t)bn * NR * (int64_t)sizeof(T))));
    for (int c0 = 0; c0 < np; c0 += pc) {
      const int cn = std::min(pc, np - c0);
      for (int kq = 0; kq < nkb; ++kq) {
        const int kb = descending ? nkb - 1 - kq : kq;
        const int kk = kb * kc, kl = std::min(kc, kn - kk);
        const bool acc = accumulate || kq > 0;
        const T* ib = in + (int64_t)b0 * ldi + kk;
        for (int q = c0; q < c0 + cn; ++q) {
          const int p = descending ? rp.hi - 1 - q : rp.lo + q;
          const T* pan = pw.panel(p) + (size_t)(k0 + kk) * NR;
          const int n0 = p * NR, nc = std::min(NR, pw.N - n0);
          if (descending) tiles<T, false, true>(ob + n0, ldo, ib, ldi, pan, kl, nc, bn, acc);
          else tiles<T, false, false>(ob + n0, ldo, ib, ldi, pan, kl, nc, bn, acc);
        }
      }
    }
  }
#else
  (void)out, (void)ldo, (void)in, (void)ldi, (void)pw, (void)k0, (void)kn, (void)B, (void)accumulate, (void)tid,
      (void)nth, (void)descending;
#endif
}

// out (M, N) (+)= A^T X for A (K, M) with row stride lda and X (K, N) packed in pw (pw.K = K): the
// weight gradients of a call (A = the gate gradients of its K = T*B rows, X = its inputs or states)
// without transposing A: the MR values of `in` a micro-kernel step broadcasts are contiguous in A.
// Team share: panels split(npanels) (columns of out), the split pw.pack uses; every thread tiles the
// rows of out alike, so the result does not depend on the team size.
template <class T>
inline void product_at(T* out, int64_t ldo, const T* a, int64_t lda, const PackedWeight<T>& pw, int M,
                       bool accumulate, int tid = 0, int nth = 1) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int NR = PackedWeight<T>::NR;
  const Range rp = split(pw.npanels, tid, nth);
  if (pw.K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i)
        for (int n = rp.lo * NR; n < std::min(pw.N, rp.hi * NR); ++n) out[i * ldo + n] = T(0);
    return;
  }
  // K in blocks of kc rows (GEMM's k blocking): a block's rows of every panel (kc * NR values) stay in
  // L1 across the row tiles and its rows of A in L2 across the panels; each block adds to `out`.
  const int kc = kKBlock;
  for (int k0 = 0; k0 < pw.K; k0 += kc) {
    const int kn = std::min(kc, pw.K - k0);
    const bool acc = accumulate || k0 > 0;
    const T* ak = a + (int64_t)k0 * lda;
    for (int p = rp.lo; p < rp.hi; ++p) {
      const T* pan = pw.panel(p) + (size_t)k0 * NR;
      const int n0 = p * NR, nc = std::min(NR, pw.N - n0);
      tiles<T, true, false>(out + n0, ldo, ak, lda, pan, kn, nc, M, acc);
    }
  }
#else
  (void)out, (void)ldo, (void)a, (void)lda, (void)pw, (void)M, (void)accumulate, (void)tid, (void)nth;
#endif
}

}  // namespace packed

// Whether the sequence kernels of this build use the packed per-step products now.
// Packing W_hh costs about as much as kPackedMinRows rows of per-step products save (measured: a
// one-row GRU step at H = 256 saves 1.6 us, packing its W_hh costs ~100 us, fresh pages included), so
// the automatic mode packs only for calls of at least that many step rows (T * B).
constexpr int64_t kPackedMinRows = 64;
inline bool use_packed(int64_t rows) {
  const StepProduct m = step_product_mode();
  return packed::available() &&
         (m == StepProduct::packed || (m == StepProduct::automatic && rows >= kPackedMinRows));
}

// Whether a call's whole-sequence products (input projection, weight and input gradients) go through
// the packed micro-kernels too (product() in row blocks, product_at() in K blocks): on the packed path,
// when the operand the blocking keeps in L2 is at most kWholeSequenceBytes (`elems` elements: the input
// projection's x, the weight gradients' dW). A team splits them by panels (output columns), which every
// thread tiles alike, so a team, a solo run and a busy team's solo caller get the same bits. There
// OpenBLAS spends about as much time packing its operands (the transposed gate gradients above all) as
// multiplying: backward at (T,B,I,H) = (100,16,64,128), one thread: GRU 6.3 -> 5.5 ms, LSTM 7.9 ->
// 6.9 ms; beyond, its large-GEMM kernel is as fast (the GRU's input projection at (200,32,128,256), x
// of 3.2 MB: 40.8 ms forward with OpenBLAS, 42.8 ms here) and it keeps them. docs/packed-step.md.
constexpr int64_t kWholeSequenceBytes = 1 << 20;
template <class T>
inline bool packed_whole_sequence(int64_t rows, int64_t elems) {
  return use_packed(rows) && elems * (int64_t)sizeof(T) <= kWholeSequenceBytes;
}

}  // namespace
}  // namespace rnnfast
