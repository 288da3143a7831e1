// rnnfast BLAS access.
//
// The C++ kernels do not link a BLAS. At import time Python hands us the addresses of the
// Fortran-ABI ?gemm routines that SciPy exports through scipy.linalg.cython_blas (SciPy's
// bundled OpenBLAS). numba's np.dot calls the very same routines, so the cpp and numba backends
// share one BLAS and one thread pool (see docs/design.md).
//
// All matrices in rnnfast are row-major. gemm() below takes row-major arguments and maps them to
// the column-major Fortran call by swapping the operands:  C = op(A) op(B)  (row-major)  is
// C^T = op(B)^T op(A)^T  (column-major).
#pragma once
#include <cstdint>
#include <stdexcept>

namespace rnnfast {

using sgemm_t = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                         const float*, const int*, const float*, const int*, const float*, float*,
                         const int*);
using dgemm_t = void (*)(const char*, const char*, const int*, const int*, const int*, const double*,
                         const double*, const int*, const double*, const int*, const double*, double*,
                         const int*);

struct BlasTable {
  sgemm_t sgemm = nullptr;
  dgemm_t dgemm = nullptr;
};
BlasTable& blas();  // defined in blas.cpp

// Row-major GEMM:  C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C.
// lda/ldb/ldc are row strides (elements) of A, B, C as stored.
inline void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  const char ta = transA ? 'T' : 'N', tb = transB ? 'T' : 'N';
  if (K <= 0) {  // BLAS would scale C by beta; do it explicitly for clarity
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(int64_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(int64_t)i * ldc + j];
    return;
  }
  blas().sgemm(&tb, &ta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}
inline void gemm(bool transA, bool transB, int M, int N, int K, double alpha, const double* A, int lda,
                 const double* B, int ldb, double beta, double* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  const char ta = transA ? 'T' : 'N', tb = transB ? 'T' : 'N';
  if (K <= 0) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(int64_t)i * ldc + j] = beta == 0.0 ? 0.0 : beta * C[(int64_t)i * ldc + j];
    return;
  }
  blas().dgemm(&tb, &ta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}

}  // namespace rnnfast
