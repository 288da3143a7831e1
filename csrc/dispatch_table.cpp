// One instruction-set level's kernel table, compiled once per level like the kernel sources (so
// namespace rnnfast here is that level's, e.g. rnnfast_avx2; see dispatch.h).
#include <cstdint>

#include "blas.h"
#include "dispatch.h"
#include "packed_step.h"
#include "team.h"
#include "vmath.h"

#ifndef RNNFAST_CPU_LEVEL_NAME
#error "dispatch_table.cpp is compiled once per level with -DRNNFAST_CPU_LEVEL_NAME=... (CMakeLists.txt)"
#endif
#ifndef RNNFAST_CPU_LEVEL_FLAGS
#define RNNFAST_CPU_LEVEL_FLAGS ""
#endif

// The process-wide state (BLAS table, thread settings) exists once, in blas.cpp's namespace; each
// level reaches it through these accessors (dispatch.cpp) instead of owning a copy.
extern "C" {
void* rnnfast_shared_blas();
void* rnnfast_shared_blas_threads();
void* rnnfast_shared_team_policy();
void* rnnfast_shared_team_runs();
int rnnfast_shared_team_threads();
void rnnfast_shared_set_team_threads(int n);
int rnnfast_shared_step_product_mode();
void* rnnfast_shared_packed_weights_made();
void rnnfast_shared_register_scratch_pool(void* pool);
}

namespace rnnfast {

// Same layout as the shared definitions: the same header text, compiled under another name.
BlasTable& blas() { return *static_cast<BlasTable*>(rnnfast_shared_blas()); }
BlasThreads& blas_threads() { return *static_cast<BlasThreads*>(rnnfast_shared_blas_threads()); }
TeamPolicy& team_policy() { return *static_cast<TeamPolicy*>(rnnfast_shared_team_policy()); }
std::atomic<int64_t>& team_runs() { return *static_cast<std::atomic<int64_t>*>(rnnfast_shared_team_runs()); }
int team_threads() { return rnnfast_shared_team_threads(); }
void set_team_threads(int n) { rnnfast_shared_set_team_threads(n); }
StepProduct step_product_mode() { return (StepProduct)rnnfast_shared_step_product_mode(); }
std::atomic<int64_t>& packed_weights_made() {
  return *static_cast<std::atomic<int64_t>*>(rnnfast_shared_packed_weights_made());
}
void register_scratch_pool(ScratchPoolBase* pool) { rnnfast_shared_register_scratch_pool(pool); }

namespace {

template <class T>
void vmath_apply(int fn, T* out, const T* x, int64_t n) {
  switch (fn) {
    case rnnfast_dispatch::kExp:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = vexp(x[i]);
      break;
    case rnnfast_dispatch::kExpm1:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = vexpm1(x[i]);
      break;
    case rnnfast_dispatch::kSigmoid:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = vsigmoid(x[i]);
      break;
    case rnnfast_dispatch::kTanh:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = vtanh(x[i]);
      break;
    default:
      break;
  }
}

template <class T>
rnnfast_dispatch::KernelTable<T> make_table() {
  rnnfast_dispatch::KernelTable<T> t;
#define RNNFAST_KERNEL_ADDR(name) t.name = &name<T>;
  RNNFAST_KERNEL_LIST(RNNFAST_KERNEL_ADDR)
#undef RNNFAST_KERNEL_ADDR
  t.vmath = &vmath_apply<T>;
  return t;
}

}  // namespace

const rnnfast_dispatch::LevelTable& level_table() {
  static const rnnfast_dispatch::LevelTable table{RNNFAST_CPU_LEVEL_NAME, RNNFAST_CPU_LEVEL_FLAGS,
                                                  make_table<float>(), make_table<double>(), packed::kIsa};
  return table;
}

}  // namespace rnnfast
