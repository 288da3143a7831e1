#include "blas.h"

#include <thread>

namespace rnnfast {
BlasTable& blas() {
  static BlasTable table;
  return table;
}
int& kernel_threads() {
  static int n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}
}  // namespace rnnfast
