// A team of threads for one recurrent kernel call (C++ backend only).
//
// Why: with the BLAS multi-threaded and the time loop on the calling thread, every step's
// element-wise gate math and transposes run on one core while the BLAS's other threads spin
// (measured: 15-25% of a 2-thread GRU step at B = 32..128). A team instead splits every step
// itself: each thread computes its share of the step's recurrent product (a slice of the weight
// rows, through a single-threaded BLAS call), waits at a barrier, then does the gate math of its
// share of the batch rows. The whole-sequence products (input projection, weight and input
// gradients) are split the same way, so no multi-threaded BLAS call happens while a team runs.
//
// The BLAS is SciPy's OpenBLAS, whose thread count is process-wide: while a team runs it is set
// to 1 (its calls then run in the calling threads) and restored afterwards. Only one team runs at
// a time in the process; a kernel that finds a team busy runs on its calling thread alone.
// OpenBLAS's own workers busy-wait (without yielding) for ~0.1 s after a multi-threaded call: a
// team that starts inside that window shares the cores with them (docs/design.md, "Threads").
//
// Who allocates: run_team starts nth - 1 std::threads per call and joins them before returning
// (no thread outlives the kernel, so no pool of spinning threads competes with the BLAS's).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace rnnfast {

// Thread control of the BLAS (scipy_openblas_set/get_num_threads); null: no team is ever used.
struct BlasThreads {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
};
BlasThreads& blas_threads();  // blas.cpp
// Threads a team may use (rnnfast.set_num_threads); blas.cpp.
int team_threads();
void set_team_threads(int n);
// When a whole-sequence kernel starts a team: batch >= min_batch and batch * hidden >= min_work;
// its size is also capped so that each thread gets at least rows_per_thread batch rows and
// features_per_thread hidden features (a many-core machine does not put 64 threads on 16 rows).
// Defaults 8, 2048, 4, 16; tests lower them to run the team path on small shapes; blas.cpp.
struct TeamPolicy {
  int min_batch = 8;
  int64_t min_work = 2048;
  int rows_per_thread = 4;
  int features_per_thread = 16;
};
TeamPolicy& team_policy();
std::atomic<int64_t>& team_runs();  // teams started so far (tests check that a path ran)
// Team size for a whole-sequence kernel with B rows of H features (1: no team).
inline int seq_threads(int B, int H) {
  const TeamPolicy& p = team_policy();
  if (B < p.min_batch || (int64_t)B * H < p.min_work) return 1;
  const int cap = std::min(B / std::max(1, p.rows_per_thread), H / std::max(1, p.features_per_thread));
  return std::max(1, std::min(team_threads(), cap));
}

// Sense-reversing spin barrier for a team of n threads; spins with pause, then yields.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    if (n_ <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 20000) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

// [lo, hi) of thread tid when n items are split over nth threads in chunks that are multiples of
// align (the last thread takes the remainder).
struct Range {
  int lo, hi;
};
inline Range split(int n, int tid, int nth, int align = 1) {
  const int units = (n + align - 1) / align;
  const int lo = std::min(n, (int)((int64_t)units * tid / nth) * align);
  const int hi = tid == nth - 1 ? n : std::min(n, (int)((int64_t)units * (tid + 1) / nth) * align);
  return {lo, hi};
}

// Deterministic splits. A call runs as a team or, when another team is running, on its caller alone;
// a BLAS product split into row slices is not bitwise equal to the whole product (float32 gradients
// differed by a few ulp between the two). So every product is split into the same `virtual parts`
// however many threads run it: run_team sets the part count of the call (its wanted team size) on
// each of its threads, and thread tid of nth computes parts tid, tid + nth, ... (all of them alone).
// The equality holds while the BLAS runs one thread, as a running team leaves it: OpenBLAS's own
// threads split a product otherwise (with its Haswell kernels, different bits).
// Element-wise work (each row computed the same way by any thread) needs no such care.
inline int& virtual_parts() {
  static thread_local int n = 1;
  return n;
}
// fn(Range) for this thread's parts of n items split into virtual_parts() chunks aligned to align
// (empty chunks skipped). Cell kernels outside run_team: one part, the whole range.
template <class F>
void for_parts(int n, int tid, int nth, int align, F&& fn) {
  const int nv = std::max(virtual_parts(), nth);
  for (int v = tid; v < nv; v += nth) {
    const Range r = split(n, v, nv, align);
    if (r.hi > r.lo) fn(r);
  }
}

// CPUs for a team of up to n threads: the caller's current CPU first, then other CPUs the process
// may run on (fewer than n when fewer are allowed; {caller's} only where this cannot be known).
inline std::vector<int> team_cpus(int n) {
  std::vector<int> out;
#if defined(__linux__)
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const int here = sched_getcpu();
  if (here < 0 || pthread_getaffinity_np(pthread_self(), sizeof(allowed), &allowed) != 0) return {0};
  out.push_back(here);
  for (int c = 0; c < CPU_SETSIZE && (int)out.size() < n; ++c)
    if (c != here && CPU_ISSET(c, &allowed)) out.push_back(c);
#else
  out.push_back(0);
#endif
  return out;
}

inline void pin_to_cpu(int cpu) {
#if defined(__linux__)
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
#endif
}

// Runs body(tid, nth, barrier) on nth threads, the caller being tid 0, with the BLAS single-threaded;
// on the caller alone (nth = 1) when nth_wanted <= 1, the BLAS thread control is missing or another
// team is running. body must call barrier.wait() the same number of times on every thread.
template <class F>
void run_team(int nth_wanted, F&& body) {
  static std::atomic<bool> busy{false};
  // the products' split (for_parts) depends on the wanted size only, not on who runs them
  const int parts = std::max(1, nth_wanted);
  struct PartsScope {  // sets this thread's virtual_parts() for the call, restores it after
    int saved;
    explicit PartsScope(int n) : saved(virtual_parts()) { virtual_parts() = n; }
    ~PartsScope() { virtual_parts() = saved; }
  };
  const auto solo = [&body, parts] {
    PartsScope scope(parts);
    Barrier one(1);
    body(0, 1, one);
  };
  BlasThreads& bt = blas_threads();
  bool expected = false;
  if (nth_wanted <= 1 || !bt.set || !bt.get || !busy.compare_exchange_strong(expected, true)) return solo();
  const int saved = bt.get();
  // A BLAS limited by threadpoolctl limits the team too. Each helper is pinned to a CPU other than
  // the caller's: left to itself, the scheduler of the project VM started a new thread on the
  // caller's CPU in about half the calls (measured), and a team sharing one CPU waits a time slice
  // at every barrier (8x slower).
  const std::vector<int> cpus = team_cpus(std::min(nth_wanted, saved));
  const int nth = (int)cpus.size();
  if (nth <= 1) {
    busy.store(false);
    return solo();
  }
  // Helpers wait at a start gate until all of them exist: if the system refuses a thread, the ones
  // already started are released without running body and the call runs on the caller alone.
  std::atomic<int> gate{0};  // 0: wait, 1: run, -1: abandon
  Barrier bar(nth);
  std::vector<std::thread> helpers;
  helpers.reserve(nth - 1);
  try {
    for (int i = 1; i < nth; ++i)
      helpers.emplace_back([&body, &bar, &cpus, &gate, i, nth, parts] {
        pin_to_cpu(cpus[i]);
        virtual_parts() = parts;
        int g;
        while ((g = gate.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
        if (g > 0) body(i, nth, bar);
      });
  } catch (...) {
    gate.store(-1, std::memory_order_release);
    for (auto& h : helpers) h.join();
    busy.store(false);
    return solo();
  }
  bt.set(1);
  team_runs().fetch_add(1, std::memory_order_relaxed);
  gate.store(1, std::memory_order_release);
  {
    PartsScope scope(parts);
    body(0, nth, bar);
  }
  for (auto& h : helpers) h.join();
  bt.set(saved);
  busy.store(false);
}

// Runs fn(i) for every item 0 <= i < n on up to nth threads (the caller and nth - 1 std::threads
// started for the call, items handed out one at a time), for the CTC kernels' batch loops. No thread
// outlives the call, so a process may fork afterwards (an OpenMP pool of idle workers made the
// first parallel region of a forked child hang). An exception thrown by fn on any thread is caught
// there (none may escape a thread: std::terminate), the other threads stop taking items, and the
// first exception is rethrown on the caller after every thread has joined. If a thread cannot be
// started, the items run on the threads that exist.
template <class F>
void parallel_items(int nth, int64_t n, F&& fn) {
  if (n <= 0) return;
  nth = (int)std::max<int64_t>(1, std::min<int64_t>(nth, n));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (int64_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  };
  std::vector<std::thread> helpers;
  if (nth > 1) {
    try {
      helpers.reserve(nth - 1);
      for (int i = 1; i < nth; ++i) helpers.emplace_back(work);
    } catch (...) {  // fewer threads than asked: the ones started and the caller do all items
    }
  }
  work();
  for (auto& h : helpers) h.join();
  if (error) std::rethrow_exception(error);
}

// A pool of per-call scratch objects kept between calls (so warm calls touch no fresh pages), shared
// by all threads: take() hands out a free one (or a new one), give() returns it, release() frees
// the free ones (rnnfast._core.release_scratch; objects in use are kept). Fork-safe: the mutex is
// held across fork() (pthread_atfork in blas.cpp locks every pool), so a child never inherits it locked.
class ScratchPoolBase {
 public:
  virtual ~ScratchPoolBase() = default;
  virtual size_t release() = 0;  // objects freed
  std::mutex mu;
};
void register_scratch_pool(ScratchPoolBase* pool);  // blas.cpp; release_all_scratch() frees them all
size_t release_all_scratch();

template <class S>
class ScratchPool : public ScratchPoolBase {
 public:
  ScratchPool() { register_scratch_pool(this); }
  std::unique_ptr<S> take() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!free_.empty()) {
        std::unique_ptr<S> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    return std::make_unique<S>();
  }
  void give(std::unique_ptr<S> s) {
    std::lock_guard<std::mutex> lock(mu);
    free_.push_back(std::move(s));
  }
  size_t release() override {
    std::vector<std::unique_ptr<S>> drop;
    {
      std::lock_guard<std::mutex> lock(mu);
      drop.swap(free_);
    }
    return drop.size();
  }

 private:
  std::vector<std::unique_ptr<S>> free_;
};

// One scratch object of `pool` for the current scope, returned to the pool at its end (also when
// an exception unwinds).
template <class S>
struct PooledScratch {
  ScratchPool<S>& pool;
  std::unique_ptr<S> s;
  explicit PooledScratch(ScratchPool<S>& p) : pool(p), s(p.take()) {}
  ~PooledScratch() {
    if (s) pool.give(std::move(s));
  }
  S& operator*() { return *s; }
  S* operator->() { return s.get(); }
};

}  // namespace rnnfast
