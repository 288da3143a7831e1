// The process-wide choice of the per-step product path (packed_step.h): the packed micro-kernels
// where the build has them, the BLAS otherwise or when asked for (_core._set_step_product, tests).
#include "packed_step.h"

#include "dispatch.h"

#include <atomic>

namespace rnnfast {
namespace {
// "automatic" (the default) and "packed" mean: the packed kernels wherever the kernel's translation unit
// has them (use_packed()
// checks that unit's instruction set), so a build that compiles this file for the baseline and the
// kernels per instruction set still uses them.
std::atomic<int> g_mode{(int)StepProduct::automatic};
}  // namespace

StepProduct step_product_mode() { return (StepProduct)g_mode.load(std::memory_order_relaxed); }
void set_step_product_mode(StepProduct m) { g_mode.store((int)m, std::memory_order_relaxed); }
std::atomic<int64_t>& packed_weights_made() {
  static std::atomic<int64_t> n{0};
  return n;
}
// A native build compiles this file with the kernels' flags; a dispatching build compiles it once for
// the baseline, and the active level's table says which packed kernels its kernels have.
const char* packed_isa_name() {
  const int isa = packed::kIsa != 0 ? packed::kIsa : rnnfast_dispatch::active().packed_isa;
  return isa == 2 ? "avx512" : isa == 1 ? "avx2" : "none";
}

}  // namespace rnnfast
