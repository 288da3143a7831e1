// The module rnnfast._core: the instruction-set level, then each kernel family's bindings
// (csrc/bindings/<family>.cpp, checks shared in csrc/bindings/common.h).
#include "common.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnfast compiled kernels (C++17). Arrays are allocated by the caller; see csrc/*.h.";
  rnnfast_dispatch::init_module(m);  // chooses the instruction-set level (csrc/dispatch.h)
  rnnfast_bindings::bind_misc(m);
  rnnfast_bindings::bind_recurrent(m);  // GRU, LSTM, Elman RNN (generated from the kernel contract)
  rnnfast_bindings::bind_ctc(m);
}
