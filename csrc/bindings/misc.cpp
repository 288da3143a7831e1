// Python bindings of the process-wide settings: the BLAS functions, thread counts and team policy
// (csrc/blas.h, csrc/team.h), the per-step product switch (csrc/packed_step.h) and build facts.
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "packed_step.h"
#include "team.h"

namespace rnnfast_bindings {
namespace {

#ifdef _OPENMP
constexpr bool kHasOpenmp = true;
#else
constexpr bool kHasOpenmp = false;
#endif
#ifdef RNNFAST_USE_LIBMVEC
constexpr bool kHasLibmvec = true;
#else
constexpr bool kHasLibmvec = false;
#endif

void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  rnnfast::set_team_threads(n);
}

int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return rnnfast::team_threads();
#endif
}

}  // namespace

void bind_misc(py::module_& m) {
  m.def(
      "set_blas",
      [](uintptr_t sgemm, uintptr_t dgemm, uintptr_t sgemv, uintptr_t dgemv) {
        blas().sgemm = reinterpret_cast<rnnfast::sgemm_t>(sgemm);
        blas().dgemm = reinterpret_cast<rnnfast::dgemm_t>(dgemm);
        blas().sgemv = reinterpret_cast<rnnfast::sgemv_t>(sgemv);
        blas().dgemv = reinterpret_cast<rnnfast::dgemv_t>(dgemv);
      },
      py::arg("sgemm"), py::arg("dgemm"), py::arg("sgemv") = 0, py::arg("dgemv") = 0,
      "Install the Fortran-ABI ?gemm (and optionally ?gemv) addresses (from scipy.linalg.cython_blas).");
  m.def(
      "set_blas_threads",
      [](uintptr_t set, uintptr_t get) {
        rnnfast::blas_threads().set = reinterpret_cast<void (*)(int)>(set);
        rnnfast::blas_threads().get = reinterpret_cast<int (*)()>(get);
      },
      py::arg("set"), py::arg("get"),
      "Install the BLAS's set/get_num_threads (0, 0: none), which kernel teams use (csrc/team.h).");
  m.def("blas_ready", []() { return blas().sgemm != nullptr && blas().dgemm != nullptr; });
  m.def(
      "set_num_threads", [](int n) { set_num_threads(n); }, py::arg("n"),
      "Threads of the kernels' own loops and teams (BLAS threads are set from Python).");
  m.def("get_team_threads", []() { return rnnfast::team_threads(); });
  m.def(
      "set_team_policy",
      [](int min_batch, int64_t min_work, int rows_per_thread, int features_per_thread) {
        rnnfast::team_policy().min_batch = min_batch;
        rnnfast::team_policy().min_work = min_work;
        rnnfast::team_policy().rows_per_thread = rows_per_thread;
        rnnfast::team_policy().features_per_thread = features_per_thread;
      },
      py::arg("min_batch"), py::arg("min_work"), py::arg("rows_per_thread") = 4, py::arg("features_per_thread") = 16,
      "Whole-sequence kernels start a thread team when batch >= min_batch and batch*hidden >= min_work, with at\n"
      "most batch/rows_per_thread and hidden/features_per_thread threads (csrc/team.h).");
  m.def(
      "team_runs", []() { return (int64_t)rnnfast::team_runs().load(); },
      "How many thread teams the kernels have started (for tests).");
  m.def("get_team_policy", []() {
    const auto& p = rnnfast::team_policy();
    return py::make_tuple(p.min_batch, p.min_work, p.rows_per_thread, p.features_per_thread);
  });
  // Private switch of the per-step recurrent products (csrc/packed_step.h), for tests and measurements.
  m.def(
      "_set_step_product",
      [](const std::string& name) {
        if (name == "blas") return rnnfast::set_step_product_mode(rnnfast::StepProduct::blas);
        if (name != "packed" && name != "auto")
          throw py::value_error("_set_step_product: name must be 'auto', 'blas' or 'packed', got '" + name + "'");
        if (std::string(rnnfast::packed_isa_name()) == "none")
          throw py::value_error(
              "_set_step_product: this build has no packed per-step kernels (needs AVX2+FMA "
              "or AVX-512 at compile time)");
        rnnfast::set_step_product_mode(name == "auto" ? rnnfast::StepProduct::automatic
                                                      : rnnfast::StepProduct::packed);
      },
      py::arg("name"),
      "Per-step recurrent products through the BLAS ('blas'), the packed micro-kernels ('packed'), or the "
      "packed ones for calls of at least 64 step rows T * B ('auto', the default).");
  m.def(
      "_step_product",
      []() {
        const auto m = rnnfast::step_product_mode();
        const bool none = std::string(rnnfast::packed_isa_name()) == "none";
        const char* path = none || m == rnnfast::StepProduct::blas
                               ? "blas"
                               : (m == rnnfast::StepProduct::packed ? "packed" : "auto");
        return py::make_tuple(path, rnnfast::packed_isa_name(),
                              (int64_t)rnnfast::packed_weights_made().load());
      },
      "(mode: 'auto', 'packed' or 'blas' ('blas' in a build without packed kernels), instruction set of the "
      "packed kernels: 'avx512', 'avx2' or 'none', weights packed so far).");
  m.def("get_num_threads", []() { return get_num_threads(); });
  m.attr("has_openmp") = kHasOpenmp;
  m.attr("has_libmvec") = kHasLibmvec;
}

}  // namespace rnnfast_bindings
