#include "blas.h"

namespace rnnfast {
BlasTable& blas() {
  static BlasTable table;
  return table;
}
}  // namespace rnnfast
