// Runtime CPU dispatch: which levels this build has, which the CPU/OS supports (cpuid + xgetbv),
// the choice at import (RNNFAST_CPU_CAPABILITY), and the shared state every level uses.
// Compiled once, with the baseline flags (see dispatch.h).
#include "dispatch.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "blas.h"
#include "packed_step.h"
#include "team.h"

#if defined(__x86_64__) || defined(_M_X64)
#define RNNFAST_X86 1
#include <cpuid.h>
#endif

namespace py = pybind11;

// Recorded by CMakeLists.txt (defaults for a build without it).
#ifndef RNNFAST_BUILD_COMPILER
#define RNNFAST_BUILD_COMPILER "unknown"
#endif
#ifndef RNNFAST_BUILD_TYPE
#define RNNFAST_BUILD_TYPE "unknown"
#endif
#ifndef RNNFAST_BUILD_NATIVE
#define RNNFAST_BUILD_NATIVE 0
#endif
#ifndef RNNFAST_BUILD_FLAGS
#define RNNFAST_BUILD_FLAGS ""
#endif
#ifndef RNNFAST_BUILD_DEFINITIONS
#define RNNFAST_BUILD_DEFINITIONS ""
#endif
#ifdef _OPENMP
#define RNNFAST_BUILD_OPENMP true
#else
#define RNNFAST_BUILD_OPENMP false
#endif

// Shared state for the per-level accessors of dispatch_table.cpp.
extern "C" {
void* rnnfast_shared_blas() { return &rnnfast::blas(); }
void* rnnfast_shared_blas_threads() { return &rnnfast::blas_threads(); }
void* rnnfast_shared_team_policy() { return &rnnfast::team_policy(); }
void* rnnfast_shared_team_runs() { return &rnnfast::team_runs(); }
int rnnfast_shared_team_threads() { return rnnfast::team_threads(); }
void rnnfast_shared_set_team_threads(int n) { rnnfast::set_team_threads(n); }
int rnnfast_shared_step_product_mode() { return (int)rnnfast::step_product_mode(); }
void* rnnfast_shared_packed_weights_made() { return &rnnfast::packed_weights_made(); }
// The levels' pool classes are the same header text under another namespace: the same layout.
void rnnfast_shared_register_scratch_pool(void* pool) {
  rnnfast::register_scratch_pool(static_cast<rnnfast::ScratchPoolBase*>(pool));
}
}

// Each compiled level's table (dispatch_table.cpp under that level's namespace).
namespace rnnfast_baseline {
const rnnfast_dispatch::LevelTable& level_table();
}
#if defined(RNNFAST_HAVE_AVX2)
namespace rnnfast_avx2 {
const rnnfast_dispatch::LevelTable& level_table();
}
#endif
#if defined(RNNFAST_HAVE_AVX512)
namespace rnnfast_avx512 {
const rnnfast_dispatch::LevelTable& level_table();
}
#endif

namespace rnnfast_dispatch {
namespace {

const char* const kNames[kNumCapabilities] = {"baseline", "avx2", "avx512"};

#if defined(RNNFAST_X86)
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}
#endif

// RNNFAST_MAX_CPU_CAPABILITY (read at import): the CPU is taken to support at most this level, as
// though it had no more (oneDNN's ONEDNN_MAX_CPU_ISA): what a lesser CPU sees, on this one.
int g_cpu_max = kNumCapabilities - 1;

// The best level the CPU supports and the OS has enabled (saves the vector registers on context switch).
int cpuid_best() {
#if defined(RNNFAST_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return kBaseline;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx || !fma) return kBaseline;
  const uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return kBaseline;  // XMM and YMM state
  if (__get_cpuid_max(0, nullptr) < 7) return kBaseline;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5);
  if (!avx2) return kBaseline;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  // opmask, upper ZMM0-15 and ZMM16-31 state
  if (f && dq && bw && vl && (xcr0 & 0xe6) == 0xe6) return kAvx512;
  return kAvx2;
#else
  return kBaseline;
#endif
}

// What cpuid says, asked once.
int cpu_found() {
  static const int found = cpuid_best();
  return found;
}

// The best level the CPU supports, capped by RNNFAST_MAX_CPU_CAPABILITY: what the rest of rnnfast sees.
int cpu_best() { return cpu_found() < g_cpu_max ? cpu_found() : g_cpu_max; }

// A level's name and compile flags, known without running the level's code: its level_table() is
// compiled with its flags (building the table may use AVX-512 stores), so only a CPU that supports
// the level may call it.
struct LevelInfo {
  const char* name;  // nullptr: not compiled into this build
  const char* flags;
};

#ifndef RNNFAST_LEVEL_LABEL_BASELINE
#define RNNFAST_LEVEL_LABEL_BASELINE "baseline"
#define RNNFAST_LEVEL_FLAGS_BASELINE ""
#endif

LevelInfo level_info(int level) {
  switch (level) {
    case kBaseline:
      return {RNNFAST_LEVEL_LABEL_BASELINE, RNNFAST_LEVEL_FLAGS_BASELINE};
#if defined(RNNFAST_HAVE_AVX2)
    case kAvx2:
      return {RNNFAST_LEVEL_LABEL_AVX2, RNNFAST_LEVEL_FLAGS_AVX2};
#endif
#if defined(RNNFAST_HAVE_AVX512)
    case kAvx512:
      return {RNNFAST_LEVEL_LABEL_AVX512, RNNFAST_LEVEL_FLAGS_AVX512};
#endif
    default:
      return {nullptr, nullptr};
  }
}

bool is_compiled(int level) { return level_info(level).name != nullptr; }

// The table of a compiled level that the CPU supports (the caller checks both).
const LevelTable& table(int level) {
  if (!is_compiled(level) || level > cpu_best())
    throw std::logic_error(std::string("rnnfast: the kernels of level '") + kNames[level] +
                           "' were asked for, but this CPU or build does not have them");
  switch (level) {
#if defined(RNNFAST_HAVE_AVX2)
    case kAvx2:
      return rnnfast_avx2::level_table();
#endif
#if defined(RNNFAST_HAVE_AVX512)
    case kAvx512:
      return rnnfast_avx512::level_table();
#endif
    default:
      return rnnfast_baseline::level_table();
  }
}

// The best level both compiled in and supported.
int best_available() {
  for (int l = cpu_best(); l > kBaseline; --l)
    if (is_compiled(l)) return l;
  return kBaseline;
}

std::atomic<const LevelTable*> g_active{nullptr};
std::atomic<int> g_level{kBaseline};

int parse_level(const std::string& s, const char* what) {
  for (int l = 0; l < kNumCapabilities; ++l)
    if (s == kNames[l]) return l;
  throw std::invalid_argument(std::string(what) + "='" + s + "' is not one of baseline, avx2, avx512");
}

// Makes `level` active; an unknown, uncompiled or unsupported level is an error naming `what`.
void select(int level, const char* what) {
  const int best = best_available();
  if (level > best) {
    std::string why = level > cpu_best() ? std::string(" this CPU (or OS) supports at most '") + kNames[cpu_best()] + "'" +
                                               (cpu_found() > g_cpu_max ? " (RNNFAST_MAX_CPU_CAPABILITY)" : "")
                                         : std::string(" this build of rnnfast has at most '") + kNames[best] + "'";
    throw std::invalid_argument(std::string(what) + "='" + kNames[level] + "' is not available:" + why +
                                " (choose from " + [&] {
                                  std::string s;
                                  for (int l = 0; l <= best; ++l) s += (l ? ", " : "") + std::string(kNames[l]);
                                  return s;
                                }() + ")");
  }
  g_active.store(&table(level), std::memory_order_release);
  g_level.store(level, std::memory_order_release);
}

}  // namespace

const LevelTable& active() {
  const LevelTable* t = g_active.load(std::memory_order_acquire);
  return t ? *t : table(kBaseline);
}

void init_module(py::module_& m) {
  const char* cap = std::getenv("RNNFAST_MAX_CPU_CAPABILITY");
  if (cap && *cap) g_cpu_max = parse_level(cap, "RNNFAST_MAX_CPU_CAPABILITY");
  const char* env = std::getenv("RNNFAST_CPU_CAPABILITY");
  if (env && *env)
    select(parse_level(env, "RNNFAST_CPU_CAPABILITY"), "RNNFAST_CPU_CAPABILITY");
  else
    select(best_available(), "best level");

  m.def("_cpu_capability", []() { return std::string(active().name); },
        "The instruction-set level whose kernels run: 'baseline' (x86-64 SSE2), 'avx2' (AVX2+FMA) or 'avx512'.");
  m.def("_cpu_capabilities", []() {
        py::list l;
        for (int i = 0; i <= best_available(); ++i)
          if (is_compiled(i)) l.append(level_info(i).name);
        return l;
      }, "The levels compiled into this build that this CPU supports, lowest first.");
  m.def("_cpu_capabilities_compiled", []() {
        py::list l;
        for (int i = 0; i < kNumCapabilities; ++i)
          if (is_compiled(i)) l.append(py::make_tuple(level_info(i).name, level_info(i).flags));
        return l;
      }, "(name, compile flags) of every level compiled into this build.");
  m.def("_cpu_best", []() { return std::string(kNames[cpu_best()]); },
        "The best level this CPU and OS support (whether or not compiled in).");
  m.def("_set_cpu_capability", [](const std::string& name) {
        select(parse_level(name, "capability"), "capability");
      }, py::arg("name"),
      "Switch the kernels to another level (for tests; not thread-safe against running kernels' choice of\n"
      "table, which is read once per call). Raises ValueError for an unknown or unsupported level.");
  m.def("_build_info", []() {
        py::dict d;
        d["compiler"] = RNNFAST_BUILD_COMPILER;
        d["build_type"] = RNNFAST_BUILD_TYPE;
        d["native"] = (bool)RNNFAST_BUILD_NATIVE;
        d["common_flags"] = RNNFAST_BUILD_FLAGS;
        d["definitions"] = RNNFAST_BUILD_DEFINITIONS;
        d["openmp"] = RNNFAST_BUILD_OPENMP;
        return d;
      }, "How this extension was built (recorded by CMakeLists.txt): compiler, build type, flags, definitions.");
  m.def("_vmath", [](const std::string& fn, py::array out, py::array x) {
        int f;
        if (fn == "exp") f = kExp;
        else if (fn == "expm1") f = kExpm1;
        else if (fn == "sigmoid") f = kSigmoid;
        else if (fn == "tanh") f = kTanh;
        else throw py::value_error("fn='" + fn + "': expected exp, expm1, sigmoid or tanh");
        if (x.ndim() != 1 || out.ndim() != 1 || out.shape(0) != x.shape(0) || !(x.flags() & py::array::c_style) ||
            !(out.flags() & py::array::c_style) || !out.writeable() || !out.dtype().is(x.dtype()))
          throw py::value_error("_vmath: out and x must be 1-D contiguous arrays of one dtype and length, out writeable");
        const int64_t n = x.shape(0);
        if (x.dtype().is(py::dtype::of<float>()))
          kernels<float>().vmath(f, static_cast<float*>(out.mutable_data()), static_cast<const float*>(x.data()), n);
        else if (x.dtype().is(py::dtype::of<double>()))
          kernels<double>().vmath(f, static_cast<double*>(out.mutable_data()), static_cast<const double*>(x.data()), n);
        else
          throw py::type_error("_vmath: x must be float32 or float64, got " + std::string(py::str(x.dtype())));
      }, py::arg("fn"), py::arg("out"), py::arg("x"),
      "out = fn(x) with the active level's vector math (csrc/vmath.h); for accuracy tests.");
}

}  // namespace rnnfast_dispatch
