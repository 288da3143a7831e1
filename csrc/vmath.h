// Element-wise math for gate loops, written so that `#pragma omp simd` loops vectorise.
//
// With RNNFAST_USE_LIBMVEC (x86-64 glibc, set by CMake) the scalar expf/tanhf/exp/tanh are
// re-declared with GCC's simd attribute, so the vectoriser calls glibc's libmvec variants
// (_ZGVdN8v_expf, ...; accuracy within 4 ulp). Otherwise they are plain scalar libm calls.
#pragma once
#include <cmath>

#if defined(RNNFAST_USE_LIBMVEC)
extern "C" {
__attribute__((simd("notinbranch"))) float expf(float) noexcept;
__attribute__((simd("notinbranch"))) float tanhf(float) noexcept;
__attribute__((simd("notinbranch"))) double exp(double) noexcept;
__attribute__((simd("notinbranch"))) double tanh(double) noexcept;
__attribute__((simd("notinbranch"))) float logf(float) noexcept;
__attribute__((simd("notinbranch"))) double log(double) noexcept;
}
#endif

namespace rnnfast {
inline float vexp(float x) { return ::expf(x); }
inline double vexp(double x) { return ::exp(x); }
inline float vtanh(float x) { return ::tanhf(x); }
inline double vtanh(double x) { return ::tanh(x); }
inline float vlog(float x) { return ::logf(x); }
inline double vlog(double x) { return ::log(x); }
template <class T>
inline T vsigmoid(T x) { return T(1) / (T(1) + vexp(-x)); }
}  // namespace rnnfast
