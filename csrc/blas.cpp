#include "blas.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#if defined(__linux__)
#include <malloc.h>
#endif

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
namespace {
struct PoolRegistry {
  std::mutex mu;
  std::vector<ScratchPoolBase*> pools;
};
PoolRegistry& registry() {
  static PoolRegistry* r = new PoolRegistry;  // never destroyed: pools register from static objects
  return *r;
}
#if defined(__unix__) || defined(__APPLE__)
// fork(): lock every pool around it, so that the child never inherits a mutex held by a thread that
// does not exist there (its first CTC call would wait forever).
void before_fork() {
  registry().mu.lock();
  for (ScratchPoolBase* p : registry().pools) p->mu.lock();
}
void after_fork() {
  for (ScratchPoolBase* p : registry().pools) p->mu.unlock();
  registry().mu.unlock();
}
#endif
}  // namespace
void register_scratch_pool(ScratchPoolBase* pool) {
#if defined(__unix__) || defined(__APPLE__)
  static const bool hooked = (pthread_atfork(before_fork, after_fork, after_fork), true);
  (void)hooked;
#endif
  std::lock_guard<std::mutex> lock(registry().mu);
  registry().pools.push_back(pool);
}
size_t release_all_scratch() {
  std::lock_guard<std::mutex> lock(registry().mu);
  size_t n = 0;
  for (ScratchPoolBase* p : registry().pools) n += p->release();
#if defined(__GLIBC__)
  // Scratch of up to 32 MB comes from the heap once glibc has raised its mmap threshold; freed in the
  // middle of the heap it stays resident until trimmed.
  if (n) malloc_trim(0);
#endif
  return n;
}
int team_threads() { return team_n().load(std::memory_order_relaxed); }
void set_team_threads(int n) { team_n().store(std::max(1, n), std::memory_order_relaxed); }
}  // namespace rnnfast
