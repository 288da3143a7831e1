#include "blas.h"

#include <atomic>
#include <thread>

#include "team.h"

namespace rnnfast {
BlasTable& blas() {
  static BlasTable table;
  return table;
}
BlasThreads& blas_threads() {
  static BlasThreads t;
  return t;
}
namespace {
std::atomic<int>& team_n() {
  static std::atomic<int> n{(int)std::max(1u, std::thread::hardware_concurrency())};
  return n;
}
}  // namespace
TeamPolicy& team_policy() {
  static TeamPolicy p;
  return p;
}
std::atomic<int64_t>& team_runs() {
  static std::atomic<int64_t> n{0};
  return n;
}
int team_threads() { return team_n().load(std::memory_order_relaxed); }
void set_team_threads(int n) { team_n().store(std::max(1, n), std::memory_order_relaxed); }
}  // namespace rnnfast
