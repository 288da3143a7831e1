// Shared by the Python bindings of rnnfast._core: one source per kernel family (gru.cpp, lstm.cpp,
// rnn.cpp, ctc.cpp; misc.cpp for BLAS, threads and configuration), each defining bind_<family>(m),
// and module.cpp, the module that calls them. Only these files include pybind11 (and dispatch.cpp).
//
// Every kernel argument arrives as a NumPy array that Python allocated. The checks here are the
// last line of defence (the Python layer validates first and gives friendlier messages): each
// array must have the expected dtype, shape, C-contiguous layout and, for outputs, be writeable,
// so that no kernel can read or write out of bounds. The GIL is released around every kernel.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "blas.h"
#include "dispatch.h"

namespace rnnfast_bindings {

namespace py = pybind11;
using rnnfast::blas;

// One kernel family's functions, added to the module (module.cpp calls each once). bind_recurrent
// (generated, recurrent.cpp) binds every recurrent family (gru.cpp, lstm.cpp, rnn.cpp, also generated).
void bind_misc(py::module_& m);
void bind_recurrent(py::module_& m);
void bind_ctc(py::module_& m);

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}
inline std::string shape_str(const std::vector<int64_t>& v) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << (v.size() == 1 ? ",)" : ")");
  return s.str();
}

// Checked access to one array argument of dtype T.
template <class T>
struct Arg {
  static T* get(const py::object& o, const char* name, const std::vector<int64_t>& shape, bool out,
                bool optional = false) {
    if (o.is_none()) {
      if (optional) return nullptr;
      throw py::value_error(std::string(name) + " must be an array, got None");
    }
    if (!py::isinstance<py::array>(o)) throw py::type_error(std::string(name) + " must be a NumPy array");
    py::array a = py::reinterpret_borrow<py::array>(o);
    if (!a.dtype().is(py::dtype::of<T>()))
      throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                           ", got " + std::string(py::str(a.dtype())));
    bool ok = a.ndim() == (py::ssize_t)shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
    if (!ok)
      throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) + ", got " + shape_str(a));
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
    // a C-contiguous view at an odd byte offset of a buffer: loads through T* would be misaligned
    // (undefined behaviour); the functional layer copies such inputs, this is the last line of defence
    if (reinterpret_cast<uintptr_t>(a.data()) % alignof(T) != 0)
      throw py::value_error(std::string(name) + ": array data is not aligned to " + std::to_string(alignof(T)) +
                            " bytes (a view at an odd byte offset of a buffer); pass an aligned copy, "
                            "e.g. np.array(" +
                            name + ", copy=True)");
    if (out) {
      if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only");
      return static_cast<T*>(a.mutable_data());
    }
    return const_cast<T*>(static_cast<const T*>(a.data()));
  }
};

inline const int64_t* lengths_arg(const py::object& o, int64_t B, int64_t Tn) {
  if (o.is_none()) return nullptr;
  const int64_t* p = Arg<int64_t>::get(o, "lengths", {B}, false);
  for (int64_t b = 0; b < B; ++b)
    if (p[b] < 0 || p[b] > Tn)
      throw py::value_error("lengths[" + std::to_string(b) + "] = " + std::to_string(p[b]) +
                            " is outside [0, T=" + std::to_string(Tn) + "]");
  return p;
}

inline int64_t dim(const py::object& o, const char* name, int i, int ndim) {
  if (!py::isinstance<py::array>(o)) throw py::type_error(std::string(name) + " must be a NumPy array");
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got shape " +
                          shape_str(a));
  return a.shape(i);
}

inline void require_blas() {
  if (!blas().sgemm || !blas().dgemm)
    throw std::runtime_error("rnnfast._core: BLAS not initialised (call rnnfast._core.set_blas first)");
}

// The dtype dispatch of every binding: calls fn(T()) with T = float or double, the dtype of the array
// `key` (called `name` in errors), e.g. dtype_dispatch(x, "x", [&](auto t) { f<decltype(t)>(...); }).
template <class F>
void dtype_dispatch(const py::object& key, const char* name, F&& fn) {
  if (!py::isinstance<py::array>(key)) throw py::type_error(std::string(name) + " must be a NumPy array");
  py::dtype dt = py::reinterpret_borrow<py::array>(key).dtype();
  if (dt.is(py::dtype::of<float>())) return fn(float(0));
  if (dt.is(py::dtype::of<double>())) return fn(double(0));
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + std::string(py::str(dt)));
}

}  // namespace rnnfast_bindings
