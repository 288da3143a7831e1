// The process-wide choice of the per-step product path (packed_step.h): the packed micro-kernels
// where the build has them, the BLAS otherwise or when asked for (_core._set_step_product, tests).
#include "packed_step.h"

#include <atomic>

namespace rnnfast {
namespace {
// "packed" means: the packed kernels wherever the kernel's translation unit has them (use_packed()
// checks that unit's instruction set), so a build that compiles this file for the baseline and the
// kernels per instruction set still uses them.
std::atomic<int> g_mode{(int)StepProduct::packed};
}  // namespace

StepProduct step_product_mode() { return (StepProduct)g_mode.load(std::memory_order_relaxed); }
void set_step_product_mode(StepProduct m) { g_mode.store((int)m, std::memory_order_relaxed); }
std::atomic<int64_t>& packed_weights_made() {
  static std::atomic<int64_t> n{0};
  return n;
}
const char* packed_isa_name() { return packed::kIsa == 2 ? "avx512" : packed::kIsa == 1 ? "avx2" : "none"; }

}  // namespace rnnfast
