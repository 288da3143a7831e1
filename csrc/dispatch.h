// Runtime CPU dispatch: the kernels are compiled once per instruction-set level ("capability") and
// the best level the CPU and OS support is chosen when rnnfast._core is imported.
//
// How (details in docs/cpu-dispatch.md): CMake compiles every kernel source (csrc/*.cpp except the
// shared files blas.cpp, dispatch.cpp, ...; the bindings, csrc/bindings/, are shared too) once per
// capability with that level's flags
// (-mavx2 -mfma, -mavx512f ...) and with the namespace renamed on the command line, e.g.
// -Drnnfast=rnnfast_avx2. Everything a kernel source defines or includes in namespace rnnfast,
// including inline header code (vmath.h, recurrent.h, team.h, packed_step.h), becomes
// rnnfast_avx2::..., so no two levels share a symbol and `#if defined(__AVX2__)` in a header sees
// the level being compiled. Each level's dispatch_table.cpp fills a KernelTable with the addresses
// of its kernels; the bindings call kernels<T>().gru_forward(...), which reads the active table.
//
// Adding a kernel: add its name to RNNFAST_KERNEL_LIST (and its header to the includes below).
// Kernel signatures must use only built-in types and pointers to them, so that every level's
// function has the same type.
#pragma once
#include <cstdint>

#include "ctc.h"
#include "ctc_decode.h"
#include "ctc_prob.h"
#include "gru.h"
#include "lstm.h"
#include "rnn.h"

#define RNNFAST_KERNEL_LIST(X)                                                                  \
  X(gru_forward) X(gru_backward) X(gru_cell_forward) X(gru_cell_backward)                       \
  X(lstm_forward) X(lstm_backward) X(lstm_cell_forward) X(lstm_cell_backward)                   \
  X(rnn_forward) X(rnn_backward) X(rnn_cell_forward) X(rnn_cell_backward)                       \
  X(ctc_loss) X(ctc_beam_search) X(ctc_prob_alpha_beta) X(ctc_prob_loss)

// Not inside namespace rnnfast: this name must stay the same in every level's translation units.
namespace rnnfast_dispatch {

enum Capability : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2, kNumCapabilities = 3 };

// The element-wise functions of vmath.h over arrays (tests and accuracy checks).
enum VmathFn : int { kExp = 0, kExpm1 = 1, kSigmoid = 2, kTanh = 3 };

template <class T>
struct KernelTable {
#define RNNFAST_KERNEL_FIELD(name) decltype(&::rnnfast::name<T>) name;
  RNNFAST_KERNEL_LIST(RNNFAST_KERNEL_FIELD)
#undef RNNFAST_KERNEL_FIELD
  void (*vmath)(int fn, T* out, const T* x, int64_t n);
};

struct LevelTable {
  const char* name;      // "baseline", "avx2", "avx512"
  const char* flags;     // the compile flags of this level (show_config)
  KernelTable<float> f32;
  KernelTable<double> f64;
  int packed_isa;        // this level's packed per-step products: 2 AVX-512, 1 AVX2, 0 none (packed_step.h)
};

// The active level's table (set at import; set_capability changes it).
const LevelTable& active();
template <class T>
const KernelTable<T>& kernels();
template <>
inline const KernelTable<float>& kernels<float>() { return active().f32; }
template <>
inline const KernelTable<double>& kernels<double>() { return active().f64; }

}  // namespace rnnfast_dispatch

namespace pybind11 {
class module_;
}
namespace rnnfast_dispatch {
// Chooses the level (RNNFAST_CPU_CAPABILITY or the best supported; throws naming the variable on a
// bad value) and adds _cpu_capability, _set_cpu_capability, ... to the module (dispatch.cpp).
void init_module(pybind11::module_& m);
}  // namespace rnnfast_dispatch
