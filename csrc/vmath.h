// Element-wise math for gate loops: exp, expm1, sigmoid and tanh as plain arithmetic (no libm and no
// glibc libmvec calls), so that `#pragma omp simd` loops vectorise at every instruction-set level
// (SSE2, AVX2, AVX-512) and the extension links no library newer than the manylinux baseline.
// The same algorithms as rnnfast/_numba/_vmath.py (the numba gate loops):
//
// * exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (ln2 split in a high part with trailing
//   zero bits, so n*ln2_hi is exact, and a low part); a Taylor polynomial for exp(r) (degree 13 for
//   double, 7 for float, each in its own precision); 2^n as 2^n1 * 2^n2 with n1 + n2 = n, so that
//   gradual underflow and overflow to +inf come out of the multiplication without a branch.
//   Rounding to an integer and building 2^k use the "magic number" trick (adding 1.5 * 2^52
//   leaves the integer in the low mantissa bits): no float-to-int conversion, which SSE2/AVX2 lack
//   for 64-bit integers. x is clamped first so the exponents stay in range.
// * expm1(x) = 2^n expm1(r) + (2^n - 1), accurate near 0 (no cancellation when n = 0).
// * sigmoid(x) = 1 / (1 + exp(-x)): exactly 1 for large x, 0 at -inf, 0.5 at 0; its exp is a shortened
//   copy (one 2^n; results below the smallest normal number may come out as 0).
// * tanh(x) = sign(x) * (-u / (u + 2)) with u = expm1(-2|x|) in (-1, 0]: exactly +-1 for large |x|,
//   x itself for tiny x. Its expm1 is a shortened copy (argument in [-40, 0]: one 2^n, no overflow path).
// NaN propagates. Accuracy (python_tests/test_dispatch.py, against long double at every level):
// within 2 ulp (exp), 3 (expm1), 3.5 (sigmoid, tanh).
//
// vlog stays the scalar libm log (used only outside vectorised loops).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rnnfast {
namespace vmath_detail {

inline float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
inline double bits_to_double(uint64_t b) {
  double f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
inline uint64_t double_to_bits(double f) {
  uint64_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

template <class T>
struct C;
template <>
struct C<double> {
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 significant bits: n*ln2_hi exact
  static constexpr double ln2_lo = 1.90821492927058770002e-10;
  static constexpr double lo = -746.0;   // exp(x) rounds to 0 below ~-745.13; n stays within [-1077, 1025]
  static constexpr double hi = 710.0;    // exp(x) overflows above ~709.78
  static constexpr double em1_hi = 700.0;  // expm1 via 2^n (p + 1) above (2^n alone would overflow)
  static constexpr double tanh_lo = -40.0;  // tanh(x) rounds to +-1 for |x| > 19.1
  static constexpr double sig_lo = -708.0;  // 2^n normal (n >= -1021); sigmoid is 1 far earlier
  static constexpr double sig_hi = 710.0;   // n <= 1024: 2^1024 is the bit pattern of +inf
  static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52: x + magic rounds x to an integer
  static constexpr double magic_bias = 6755399441055744.0 + 1023.0;
};
template <>
struct C<float> {
  static constexpr float log2e = 1.44269504f;
  static constexpr float ln2_hi = 0.693145752f;  // 16 significant bits
  static constexpr float ln2_lo = 1.42860677e-06f;
  static constexpr float lo = -104.0f;  // expf underflows to 0 below ~-103.97; n within [-151, 129]
  static constexpr float hi = 89.0f;    // expf overflows above ~88.72
  static constexpr float em1_hi = 80.0f;
  static constexpr float tanh_lo = -20.0f;  // tanhf(x) rounds to +-1 for |x| > 9.01
  static constexpr float sig_lo = -87.0f;  // n >= -126
  static constexpr float sig_hi = 89.0f;   // n <= 128 (+inf)
  static constexpr float magic = 12582912.0f;  // 1.5 * 2^23
  static constexpr float magic_bias = 12582912.0f + 127.0f;
};

// 2^k for an integer-valued k with k + bias in the normal exponent range: k + magic + bias holds
// k + bias in its low mantissa bits, which the shift moves into the exponent field.
inline double pow2i(double k) { return bits_to_double(double_to_bits(k + C<double>::magic_bias) << 52); }
inline float pow2i(float k) { return bits_to_float(float_to_bits(k + C<float>::magic_bias) << 23); }

// x = n ln2 + r, |r| <= ln2/2 (up to rounding); 2^n = s1 * s2. x is clamped (NaN passes through).
template <class T>
inline T reduce(T x, T& s1, T& s2) {
  x = x > C<T>::hi ? C<T>::hi : x;
  x = x < C<T>::lo ? C<T>::lo : x;
  const T n = (x * C<T>::log2e + C<T>::magic) - C<T>::magic;  // round to nearest
  const T n1 = (n * T(0.5) + C<T>::magic) - C<T>::magic;
  s1 = pow2i(n1);
  s2 = pow2i(n - n1);
  return (x - n * C<T>::ln2_hi) - n * C<T>::ln2_lo;
}

// expm1(r) for |r| <= 0.35: Taylor to degree 13 (double; truncation < 1e-18) or 7 (float; < 1e-8).
inline double expm1_poly(double r) {
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  return r + r * (r * p);
}
inline float expm1_poly(float r) {
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  return r + r * (r * p);
}

}  // namespace vmath_detail

template <class T>
inline T vexp(T x) {
  T s1, s2;
  const T r = vmath_detail::reduce(x, s1, s2);
  return ((vmath_detail::expm1_poly(r) + T(1)) * s1) * s2;
}

template <class T>
inline T vexpm1(T x) {
  T s1, s2;
  const T r = vmath_detail::reduce(x, s1, s2);
  const T p = vmath_detail::expm1_poly(r);
  const T s = s1 * s2;  // 2^n, or 0 far below (then the result is -1); no overflow for the x that use it
  const T small = s * p + (s - T(1));
  const T large = ((p + T(1)) * s1) * s2;
  return x < vmath_detail::C<T>::em1_hi ? small : large;
}

// exp(-x) with one 2^n: -x clamped to [sig_lo, sig_hi], where 2^n stays a valid bit pattern (2^n is
// +inf at the top: the result 0 is then off by less than the smallest normal number; at the bottom
// exp(-x) is negligible next to 1).
template <class T>
inline T vsigmoid(T x) {
  using vmath_detail::C;
  T t = -x;
  t = t > C<T>::sig_hi ? C<T>::sig_hi : t;  // NaN passes through
  t = t < C<T>::sig_lo ? C<T>::sig_lo : t;
  const T n = (t * C<T>::log2e + C<T>::magic) - C<T>::magic;
  const T r = (t - n * C<T>::ln2_hi) - n * C<T>::ln2_lo;
  const T e = (vmath_detail::expm1_poly(r) + T(1)) * vmath_detail::pow2i(n);
  return T(1) / (T(1) + e);
}

// expm1(-2|x|) needs neither the overflow path nor the split 2^n: the argument is clamped to
// [tanh_lo, 0], where expm1 rounds to -1 (and tanh to +-1) below.
template <class T>
inline T vtanh(T x) {
  using vmath_detail::C;
  T a = T(-2) * std::fabs(x);
  a = a < C<T>::tanh_lo ? C<T>::tanh_lo : a;  // NaN passes through
  const T n = (a * C<T>::log2e + C<T>::magic) - C<T>::magic;
  const T r = (a - n * C<T>::ln2_hi) - n * C<T>::ln2_lo;
  const T s = vmath_detail::pow2i(n);
  const T u = s * vmath_detail::expm1_poly(r) + (s - T(1));  // expm1(a) in (-1, 0]
  return std::copysign(-u / (u + T(2)), x);
}

inline float vlog(float x) { return std::log(x); }
inline double vlog(double x) { return std::log(x); }

}  // namespace rnnfast
