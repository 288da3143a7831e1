// Batch-parallel recurrences.
//
// The rows of a batch are independent through a whole recurrence, so a sequence kernel can give
// each thread a contiguous block of rows and let it run the entire time loop on its block, with
// single-threaded BLAS calls for its per-step products: no synchronisation per step, and the
// element-wise gate math runs on every core (with a multi-threaded BLAS it would run on one).
// Threads are std::threads started once per kernel call (not OpenMP: an OpenMP team spinning
// between steps fights OpenBLAS's own spinning workers for the cores, measured 10-20x slower on
// two cores). The weight-gradient GEMMs after the loop use the BLAS's own threads as usual.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "blas.h"

namespace rnnfast {

// Threads the kernels may use (rnnfast.set_num_threads); defined in blas.cpp.
int& kernel_threads();

// While alive, this thread's BLAS calls run single-threaded (OpenBLAS thread-local setting).
struct SingleThreadedBlas {
  int prev = -1;
  SingleThreadedBlas() {
    if (blas().set_threads_local) prev = blas().set_threads_local(1);
  }
  ~SingleThreadedBlas() {
    if (blas().set_threads_local) blas().set_threads_local(prev);
  }
};

// Number of row blocks to use for a recurrence over B rows whose per-step work is about
// `step_flops` multiply-adds per row: 1 (no threads) unless there are several threads, at least
// 2 rows per block, a thread-local BLAS setting, and enough work per step to amortise the threads.
inline int row_blocks(int B, int64_t step_flops_per_row) {
  const int nt = std::min(kernel_threads(), B / 2);
  if (nt < 2 || !blas().set_threads_local) return 1;
  if ((int64_t)B * step_flops_per_row < (int64_t)1 << 15) return 1;
  return nt;
}

// Calls f(b0, nb, block) for `blocks` contiguous row blocks of [0, B), block 0 on the calling
// thread, the others on new threads, each with single-threaded BLAS; returns when all are done.
template <class F>
void for_row_blocks(int B, int blocks, F&& f) {
  if (blocks <= 1) {
    f(0, B, 0);
    return;
  }
  auto run = [&](int k) {
    const int b0 = (int)((int64_t)B * k / blocks), b1 = (int)((int64_t)B * (k + 1) / blocks);
    SingleThreadedBlas one;
    f(b0, b1 - b0, k);
  };
  std::vector<std::thread> pool;
  pool.reserve(blocks - 1);
  for (int k = 1; k < blocks; ++k) pool.emplace_back(run, k);
  run(0);
  for (auto& th : pool) th.join();
}

}  // namespace rnnfast
