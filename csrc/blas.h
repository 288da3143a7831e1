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

using sgemv_t = void (*)(const char*, const int*, const int*, const float*, const float*, const int*, const float*,
                         const int*, const float*, float*, const int*);
using dgemv_t = void (*)(const char*, const int*, const int*, const double*, const double*, const int*,
                         const double*, const int*, const double*, double*, const int*);

struct BlasTable {
  sgemm_t sgemm = nullptr;
  dgemm_t dgemm = nullptr;
  sgemv_t sgemv = nullptr;  // optional: products with one row or column go through ?gemv
  dgemv_t dgemv = nullptr;
};
BlasTable& blas();  // defined in blas.cpp

inline void fortran_gemm(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
                         const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
                         const int* ldc) {
  blas().sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void fortran_gemm(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
                         const double* a, const int* lda, const double* b, const int* ldb, const double* beta,
                         double* c, const int* ldc) {
  blas().dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline bool fortran_gemv(const char* t, const int* m, const int* n, const float* alpha, const float* a, const int* lda,
                         const float* x, const int* incx, const float* beta, float* y, const int* incy) {
  if (!blas().sgemv) return false;
  blas().sgemv(t, m, n, alpha, a, lda, x, incx, beta, y, incy);
  return true;
}
inline bool fortran_gemv(const char* t, const int* m, const int* n, const double* alpha, const double* a,
                         const int* lda, const double* x, const int* incx, const double* beta, double* y,
                         const int* incy) {
  if (!blas().dgemv) return false;
  blas().dgemv(t, m, n, alpha, a, lda, x, incx, beta, y, incy);
  return true;
}

// Row-major GEMM:  C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C.
// lda/ldb/ldc are row strides (elements) of A, B, C as stored. A product with a single output
// column (N = 1) or row (M = 1) is a matrix-vector product and goes through ?gemv: ?gemm would
// repack the whole matrix on every call (measured 2-4x slower for one-row recurrent steps).
template <class T>
inline void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                 T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // BLAS would scale C by beta; do it explicitly for clarity
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(int64_t)i * ldc + j] = beta == T(0) ? T(0) : beta * C[(int64_t)i * ldc + j];
    return;
  }
  if (N == 1) {  // y (M, stride ldc) = op(A) x, x = op(B)'s only column
    const int incx = transB ? 1 : ldb;
    const char t = transA ? 'N' : 'T';  // row-major A (M,K) is the column-major (K x M) matrix
    const int m = transA ? M : K, n = transA ? K : M;
    if (fortran_gemv(&t, &m, &n, &alpha, A, &lda, B, &incx, &beta, C, &ldc)) return;
  } else if (M == 1) {  // y (N) = op(B)^T a, a = op(A)'s only row; C's row is contiguous
    const int inca = transA ? lda : 1, one = 1;
    const char t = transB ? 'T' : 'N';  // row-major B (K,N) is the column-major (N x K) matrix
    const int m = transB ? K : N, n = transB ? N : K;
    if (fortran_gemv(&t, &m, &n, &alpha, B, &ldb, A, &inca, &beta, C, &one)) return;
  }
  const char ta = transA ? 'T' : 'N', tb = transB ? 'T' : 'N';
  fortran_gemm(&tb, &ta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}

}  // namespace rnnfast
