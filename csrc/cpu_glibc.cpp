// Older-glibc compatibility of the linked extension (manylinux_2_28 wheels built on a newer system).
//
// A binary asks the C library for each function by name and version; the linker picks the newest
// version of the build machine's glibc: here exp@GLIBC_2.29, pthread_create@GLIBC_2.34 (when
// libpthread moved into libc), arc4random@GLIBC_2.36 (from the static libstdc++), ... which an
// older glibc does not have, so the wheel would need glibc >= 2.36. CMakeLists.txt links with
// -Wl,--wrap=NAME for each such NAME: every reference to NAME (ours and the static libstdc++'s)
// then goes to __wrap_NAME below, which calls the oldest version of the same function (`.symver`).
// Those versions are the same code in today's glibc (the newer ones changed error reporting of
// exp/log, or only the library holding pthread_*). The static libstdc++ also reads the variable
// __libc_single_threaded (glibc 2.32); a hidden definition here (0: "not known to be
// single-threaded") makes it use atomic reference counts always, which is correct everywhere.
//
// Linux x86-64 glibc only (CMake option RNNFAST_GLIBC_COMPAT); `auditwheel show` lists what remains.
#include <cstddef>
#include <cstdint>

#if defined(__linux__) && defined(__x86_64__) && defined(__GLIBC__)
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

extern "C" {

__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

#define RNNFAST_OLD(ret, name, ver, params, args)              \
  ret rnnfast_old_##name params;                               \
  __asm__(".symver rnnfast_old_" #name "," #name "@" ver);     \
  __attribute__((visibility("hidden"))) ret __wrap_##name params { return rnnfast_old_##name args; }

RNNFAST_OLD(double, exp, "GLIBC_2.2.5", (double x), (x))
RNNFAST_OLD(double, log, "GLIBC_2.2.5", (double x), (x))
RNNFAST_OLD(float, expf, "GLIBC_2.2.5", (float x), (x))
RNNFAST_OLD(float, logf, "GLIBC_2.2.5", (float x), (x))
RNNFAST_OLD(int, pthread_create, "GLIBC_2.2.5",
            (pthread_t * t, const pthread_attr_t* a, void* (*f)(void*), void* arg), (t, a, f, arg))
RNNFAST_OLD(int, pthread_join, "GLIBC_2.2.5", (pthread_t t, void** r), (t, r))
RNNFAST_OLD(int, pthread_detach, "GLIBC_2.2.5", (pthread_t t), (t))
RNNFAST_OLD(int, pthread_once, "GLIBC_2.2.5", (pthread_once_t * o, void (*f)(void)), (o, f))
RNNFAST_OLD(int, __pthread_key_create, "GLIBC_2.2.5", (pthread_key_t * k, void (*d)(void*)), (k, d))
RNNFAST_OLD(int, pthread_key_create, "GLIBC_2.2.5", (pthread_key_t * k, void (*d)(void*)), (k, d))
RNNFAST_OLD(int, pthread_setspecific, "GLIBC_2.2.5", (pthread_key_t k, const void* v), (k, v))
RNNFAST_OLD(int, pthread_sigmask, "GLIBC_2.2.5", (int how, const sigset_t* s, sigset_t* o), (how, s, o))
RNNFAST_OLD(int, pthread_setaffinity_np, "GLIBC_2.3.4", (pthread_t t, size_t n, const cpu_set_t* s), (t, n, s))
RNNFAST_OLD(int, pthread_getaffinity_np, "GLIBC_2.3.4", (pthread_t t, size_t n, cpu_set_t* s), (t, n, s))

// std::random_device's source in the static libstdc++ (rnnfast does not use it): glibc 2.25's getentropy.
__attribute__((visibility("hidden"))) uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  if (getentropy(&v, sizeof v) != 0) v = 0;
  return v;
}

#undef RNNFAST_OLD
}  // extern "C"
#endif
