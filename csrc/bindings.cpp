// The one file of Python bindings: rnnfast._core.
//
// Every kernel argument arrives as a NumPy array that Python allocated. The checks here are the
// last line of defence (the Python layer validates first and gives friendlier messages): each
// array must have the expected dtype, shape, C-contiguous layout and, for outputs, be writeable,
// so that no kernel can read or write out of bounds. The GIL is released around every kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "ctc.h"
#include "dispatch.h"
#include "ctc_decode.h"
#include "ctc_prob.h"
#include "gru.h"
#include "lstm.h"
#include "packed_step.h"
#include "rnn.h"
#include "team.h"

namespace py = pybind11;
using rnnfast::blas;

namespace {

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}
std::string shape_str(const std::vector<int64_t>& v) {
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
    if (!(a.flags() & py::array::c_style))
      throw py::value_error(std::string(name) + " must be C-contiguous");
    // a C-contiguous view at an odd byte offset of a buffer: loads through T* would be misaligned
    // (undefined behaviour); the functional layer copies such inputs, this is the last line of defence
    if (reinterpret_cast<uintptr_t>(a.data()) % alignof(T) != 0)
      throw py::value_error(std::string(name) + ": array data is not aligned to " + std::to_string(alignof(T)) +
                            " bytes (a view at an odd byte offset of a buffer); pass an aligned copy, "
                            "e.g. np.array(" + name + ", copy=True)");
    if (out) {
      if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only");
      return static_cast<T*>(a.mutable_data());
    }
    return const_cast<T*>(static_cast<const T*>(a.data()));
  }
};

const int64_t* lengths_arg(const py::object& o, int64_t B, int64_t Tn) {
  if (o.is_none()) return nullptr;
  const int64_t* p = Arg<int64_t>::get(o, "lengths", {B}, false);
  for (int64_t b = 0; b < B; ++b)
    if (p[b] < 0 || p[b] > Tn)
      throw py::value_error("lengths[" + std::to_string(b) + "] = " + std::to_string(p[b]) +
                            " is outside [0, T=" + std::to_string(Tn) + "]");
  return p;
}

int64_t dim(const py::object& o, const char* name, int i, int ndim) {
  if (!py::isinstance<py::array>(o)) throw py::type_error(std::string(name) + " must be a NumPy array");
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got shape " +
                          shape_str(a));
  return a.shape(i);
}

void require_blas() {
  if (!blas().sgemm || !blas().dgemm)
    throw std::runtime_error("rnnfast._core: BLAS not initialised (call rnnfast._core.set_blas first)");
}

// ---------------------------------------------------------------------------------------- GRU
template <class T>
void gru_forward_t(py::object y, py::object h_n, py::object hs, py::object gates, py::object hn, py::object gh,
                   py::object x, py::object h0, py::object w_ih, py::object w_hh, py::object b_ih,
                   py::object b_hh, py::object lengths, bool reset_after) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* py_ = Arg<T>::get(y, "y", {Tn, B, H}, true);
  T* phn = Arg<T>::get(h_n, "h_n", {B, H}, true);
  T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, H}, true);
  T* pg = Arg<T>::get(gates, "gates", {Tn, B, 3 * H}, true);
  T* phnn = Arg<T>::get(hn, "hn", {Tn, B, H}, true);
  T* pgh = Arg<T>::get(gh, "gh", {B, 3 * H}, true);
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* ph0 = Arg<T>::get(h0, "h0", {B, H}, false, true);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {3 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {3 * H, H}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {3 * H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {3 * H}, false, true);
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().gru_forward(py_, phn, phs, pg, phnn, pgh, px, ph0, pwi, pwh, pbi, pbh, pl, (int)Tn, (int)B, (int)I,
                          (int)H, reset_after);
}

template <class T>
void gru_backward_t(py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih,
                    py::object db_hh, py::object dgx, py::object dgh, py::object dtmp, py::object dy,
                    py::object dh_n, py::object x, py::object w_ih, py::object w_hh, py::object hs,
                    py::object gates, py::object hn, py::object lengths, bool reset_after) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pdx = Arg<T>::get(dx, "dx", {Tn, B, I}, true, true);
  T* pdh0 = Arg<T>::get(dh0, "dh0", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {3 * H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {3 * H, H}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {3 * H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {3 * H}, true, true);
  T* pdgx = Arg<T>::get(dgx, "dgx", {Tn, B, 3 * H}, true);
  T* pdgh = Arg<T>::get(dgh, "dgh", {Tn, B, 3 * H}, true, !reset_after);
  T* pdt = Arg<T>::get(dtmp, "dtmp", {B, H}, true);
  const T* pdy = Arg<T>::get(dy, "dy", {Tn, B, H}, false, true);
  const T* pdhn = Arg<T>::get(dh_n, "dh_n", {B, H}, false, true);
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {3 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {3 * H, H}, false);
  const T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, H}, false);
  const T* pg = Arg<T>::get(gates, "gates", {Tn, B, 3 * H}, false);
  const T* phn = Arg<T>::get(hn, "hn", {Tn, B, H}, false);
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().gru_backward(pdx, pdh0, pdwi, pdwh, pdbi, pdbh, pdgx, pdgh, pdt, pdy, pdhn, px, pwi, pwh, phs, pg,
                           phn, pl, (int)Tn, (int)B, (int)I, (int)H, reset_after);
}

template <class T>
void gru_cell_forward_t(py::object h_new, py::object gates, py::object hn, py::object gh, py::object x,
                        py::object h, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh,
                        bool reset_after) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pout = Arg<T>::get(h_new, "h_new", {B, H}, true);
  T* pg = Arg<T>::get(gates, "gates", {B, 3 * H}, true);
  T* phn = Arg<T>::get(hn, "hn", {B, H}, true);
  T* pgh = Arg<T>::get(gh, "gh", {B, 3 * H}, true);
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {3 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {3 * H, H}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {3 * H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {3 * H}, false, true);
  if (pout == ph) throw py::value_error("h_new must not alias h");
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().gru_cell_forward(pout, pg, phn, pgh, px, ph, pwi, pwh, pbi, pbh, (int)B, (int)I, (int)H, reset_after);
}

template <class T>
void gru_cell_backward_t(py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih,
                         py::object db_hh, py::object dgx, py::object dgh, py::object dtmp, py::object dh_new,
                         py::object x, py::object h, py::object w_ih, py::object w_hh, py::object gates,
                         py::object hn, bool reset_after) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pdx = Arg<T>::get(dx, "dx", {B, I}, true, true);
  T* pdh = Arg<T>::get(dh, "dh", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {3 * H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {3 * H, H}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {3 * H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {3 * H}, true, true);
  T* pdgx = Arg<T>::get(dgx, "dgx", {B, 3 * H}, true);
  T* pdgh = Arg<T>::get(dgh, "dgh", {B, 3 * H}, true, !reset_after);
  T* pdt = Arg<T>::get(dtmp, "dtmp", {B, H}, true);
  const T* pdhn = Arg<T>::get(dh_new, "dh_new", {B, H}, false);
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {3 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {3 * H, H}, false);
  const T* pg = Arg<T>::get(gates, "gates", {B, 3 * H}, false);
  const T* phn = Arg<T>::get(hn, "hn", {B, H}, false);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().gru_cell_backward(pdx, pdh, pdwi, pdwh, pdbi, pdbh, pdgx, pdgh, pdt, pdhn, px, ph, pwi, pwh, pg, phn,
                                (int)B, (int)I, (int)H, reset_after);
}

// ---- LSTM / RNN (contracts in lstm.h, rnn.h)
// LSTM sizes: H = hidden, P = state size (w_hr's rows with a projection, else H).
inline void lstm_sizes(const py::object& w_hh, const py::object& w_hr, int64_t& H, int64_t& P) {
  if (w_hr.is_none()) {
    H = P = dim(w_hh, "w_hh", 1, 2);
  } else {
    P = dim(w_hr, "w_hr", 0, 2);
    H = dim(w_hr, "w_hr", 1, 2);
  }
}

template <class T>
void lstm_forward_t(py::object y, py::object h_n, py::object c_n, py::object hs, py::object cs, py::object gates,
                    py::object ms, py::object x, py::object h0, py::object c0, py::object w_ih, py::object w_hh,
                    py::object b_ih, py::object b_hh, py::object w_hr, py::object lengths) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  int64_t H, P;
  lstm_sizes(w_hh, w_hr, H, P);
  const bool proj = !w_hr.is_none();
  T* py_ = Arg<T>::get(y, "y", {Tn, B, P}, true);
  T* phn = Arg<T>::get(h_n, "h_n", {B, P}, true);
  T* pcn = Arg<T>::get(c_n, "c_n", {B, H}, true);
  T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, P}, true);
  T* pcs = Arg<T>::get(cs, "cs", {Tn + 1, B, H}, true);
  T* pg = Arg<T>::get(gates, "gates", {Tn, B, 4 * H}, true);
  T* pms = proj ? Arg<T>::get(ms, "ms", {Tn, B, H}, true) : nullptr;
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* ph0 = Arg<T>::get(h0, "h0", {B, P}, false, true);
  const T* pc0 = Arg<T>::get(c0, "c0", {B, H}, false, true);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {4 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {4 * H, P}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {4 * H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {4 * H}, false, true);
  const T* pwr = Arg<T>::get(w_hr, "w_hr", {P, H}, false, true);
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().lstm_forward(py_, phn, pcn, phs, pcs, pg, pms, px, ph0, pc0, pwi, pwh, pbi, pbh, pwr, pl, (int)Tn,
                           (int)B, (int)I, (int)H, (int)P);
}

template <class T>
void lstm_backward_t(py::object dx, py::object dh0, py::object dc0, py::object dw_ih, py::object dw_hh,
                     py::object db_ih, py::object db_hh, py::object dw_hr, py::object dgates, py::object dhs,
                     py::object dy, py::object dh_n, py::object dc_n, py::object x, py::object w_ih,
                     py::object w_hh, py::object w_hr, py::object hs, py::object cs, py::object gates,
                     py::object ms, py::object lengths) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  int64_t H, P;
  lstm_sizes(w_hh, w_hr, H, P);
  const bool proj = !w_hr.is_none();
  T* pdx = Arg<T>::get(dx, "dx", {Tn, B, I}, true, true);
  T* pdh0 = Arg<T>::get(dh0, "dh0", {B, P}, true);
  T* pdc0 = Arg<T>::get(dc0, "dc0", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {4 * H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {4 * H, P}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {4 * H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {4 * H}, true, true);
  T* pdwr = proj ? Arg<T>::get(dw_hr, "dw_hr", {P, H}, true) : nullptr;
  T* pdg = Arg<T>::get(dgates, "dgates", {Tn, B, 4 * H}, true);
  T* pdhs = proj ? Arg<T>::get(dhs, "dhs", {Tn, B, P}, true) : nullptr;
  const T* pdy = Arg<T>::get(dy, "dy", {Tn, B, P}, false, true);
  const T* pdhn = Arg<T>::get(dh_n, "dh_n", {B, P}, false, true);
  const T* pdcn = Arg<T>::get(dc_n, "dc_n", {B, H}, false, true);
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {4 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {4 * H, P}, false);
  const T* pwr = Arg<T>::get(w_hr, "w_hr", {P, H}, false, true);
  const T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, P}, false);
  const T* pcs = Arg<T>::get(cs, "cs", {Tn + 1, B, H}, false);
  const T* pg = Arg<T>::get(gates, "gates", {Tn, B, 4 * H}, false);
  const T* pms = proj ? Arg<T>::get(ms, "ms", {Tn, B, H}, false) : nullptr;
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().lstm_backward(pdx, pdh0, pdc0, pdwi, pdwh, pdbi, pdbh, pdwr, pdg, pdhs, pdy, pdhn, pdcn, px, pwi, pwh,
                            pwr, phs, pcs, pg, pms, pl, (int)Tn, (int)B, (int)I, (int)H, (int)P);
}

template <class T>
void lstm_cell_forward_t(py::object h_new, py::object c_new, py::object gates, py::object m, py::object x,
                         py::object h, py::object c, py::object w_ih, py::object w_hh, py::object b_ih,
                         py::object b_hh, py::object w_hr) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  int64_t H, P;
  lstm_sizes(w_hh, w_hr, H, P);
  const bool proj = !w_hr.is_none();
  T* phnew = Arg<T>::get(h_new, "h_new", {B, P}, true);
  T* pcnew = Arg<T>::get(c_new, "c_new", {B, H}, true);
  T* pg = Arg<T>::get(gates, "gates", {B, 4 * H}, true);
  T* pm = proj ? Arg<T>::get(m, "m", {B, H}, true) : nullptr;
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, P}, false);
  const T* pc = Arg<T>::get(c, "c", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {4 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {4 * H, P}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {4 * H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {4 * H}, false, true);
  const T* pwr = Arg<T>::get(w_hr, "w_hr", {P, H}, false, true);
  if (phnew == ph) throw py::value_error("h_new must not alias h");
  if (pcnew == pc) throw py::value_error("c_new must not alias c");
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().lstm_cell_forward(phnew, pcnew, pg, pm, px, ph, pc, pwi, pwh, pbi, pbh, pwr, (int)B, (int)I, (int)H,
                                (int)P);
}

template <class T>
void lstm_cell_backward_t(py::object dx, py::object dh, py::object dc, py::object dw_ih, py::object dw_hh,
                          py::object db_ih, py::object db_hh, py::object dw_hr, py::object dgates,
                          py::object dh_new, py::object dc_new, py::object x, py::object h, py::object c,
                          py::object c_new, py::object w_ih, py::object w_hh, py::object w_hr, py::object gates,
                          py::object m) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  int64_t H, P;
  lstm_sizes(w_hh, w_hr, H, P);
  const bool proj = !w_hr.is_none();
  T* pdx = Arg<T>::get(dx, "dx", {B, I}, true, true);
  T* pdh = Arg<T>::get(dh, "dh", {B, P}, true);
  T* pdc = Arg<T>::get(dc, "dc", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {4 * H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {4 * H, P}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {4 * H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {4 * H}, true, true);
  T* pdwr = proj ? Arg<T>::get(dw_hr, "dw_hr", {P, H}, true) : nullptr;
  T* pdg = Arg<T>::get(dgates, "dgates", {B, 4 * H}, true);
  const T* pdhn = Arg<T>::get(dh_new, "dh_new", {B, P}, false, true);
  const T* pdcn = Arg<T>::get(dc_new, "dc_new", {B, H}, false, true);
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, P}, false);
  const T* pc = Arg<T>::get(c, "c", {B, H}, false);
  const T* pcn = Arg<T>::get(c_new, "c_new", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {4 * H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {4 * H, P}, false);
  const T* pwr = Arg<T>::get(w_hr, "w_hr", {P, H}, false, true);
  const T* pg = Arg<T>::get(gates, "gates", {B, 4 * H}, false);
  const T* pm = proj ? Arg<T>::get(m, "m", {B, H}, false) : nullptr;
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().lstm_cell_backward(pdx, pdh, pdc, pdwi, pdwh, pdbi, pdbh, pdwr, pdg, pdhn, pdcn, px, ph, pc, pcn, pwi,
                                 pwh, pwr, pg, pm, (int)B, (int)I, (int)H, (int)P);
}

template <class T>
void rnn_forward_t(py::object y, py::object h_n, py::object hs, py::object x, py::object h0, py::object w_ih,
                   py::object w_hh, py::object b_ih, py::object b_hh, py::object lengths, bool relu) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* py_ = Arg<T>::get(y, "y", {Tn, B, H}, true);
  T* phn = Arg<T>::get(h_n, "h_n", {B, H}, true);
  T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, H}, true);
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* ph0 = Arg<T>::get(h0, "h0", {B, H}, false, true);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {H, H}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {H}, false, true);
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().rnn_forward(py_, phn, phs, px, ph0, pwi, pwh, pbi, pbh, pl, (int)Tn, (int)B, (int)I, (int)H, relu);
}

template <class T>
void rnn_backward_t(py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih,
                    py::object db_hh, py::object dg, py::object dy, py::object dh_n, py::object x, py::object w_ih,
                    py::object w_hh, py::object hs, py::object lengths, bool relu) {
  const int64_t Tn = dim(x, "x", 0, 3), B = dim(x, "x", 1, 3), I = dim(x, "x", 2, 3);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pdx = Arg<T>::get(dx, "dx", {Tn, B, I}, true, true);
  T* pdh0 = Arg<T>::get(dh0, "dh0", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {H, H}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {H}, true, true);
  T* pdg = Arg<T>::get(dg, "dg", {Tn, B, H}, true);
  const T* pdy = Arg<T>::get(dy, "dy", {Tn, B, H}, false, true);
  const T* pdhn = Arg<T>::get(dh_n, "dh_n", {B, H}, false, true);
  const T* px = Arg<T>::get(x, "x", {Tn, B, I}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {H, H}, false);
  const T* phs = Arg<T>::get(hs, "hs", {Tn + 1, B, H}, false);
  const int64_t* pl = lengths_arg(lengths, B, Tn);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().rnn_backward(pdx, pdh0, pdwi, pdwh, pdbi, pdbh, pdg, pdy, pdhn, px, pwi, pwh, phs, pl, (int)Tn, (int)B,
                           (int)I, (int)H, relu);
}

template <class T>
void rnn_cell_forward_t(py::object h_new, py::object x, py::object h, py::object w_ih, py::object w_hh,
                        py::object b_ih, py::object b_hh, bool relu) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pout = Arg<T>::get(h_new, "h_new", {B, H}, true);
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {H, H}, false);
  const T* pbi = Arg<T>::get(b_ih, "b_ih", {H}, false, true);
  const T* pbh = Arg<T>::get(b_hh, "b_hh", {H}, false, true);
  if (pout == ph) throw py::value_error("h_new must not alias h");
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().rnn_cell_forward(pout, px, ph, pwi, pwh, pbi, pbh, (int)B, (int)I, (int)H, relu);
}

template <class T>
void rnn_cell_backward_t(py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih,
                         py::object db_hh, py::object dg, py::object dh_new, py::object x, py::object h,
                         py::object h_new, py::object w_ih, py::object w_hh, bool relu) {
  const int64_t B = dim(x, "x", 0, 2), I = dim(x, "x", 1, 2);
  const int64_t H = dim(w_hh, "w_hh", 1, 2);
  T* pdx = Arg<T>::get(dx, "dx", {B, I}, true, true);
  T* pdh = Arg<T>::get(dh, "dh", {B, H}, true);
  T* pdwi = Arg<T>::get(dw_ih, "dw_ih", {H, I}, true);
  T* pdwh = Arg<T>::get(dw_hh, "dw_hh", {H, H}, true);
  T* pdbi = Arg<T>::get(db_ih, "db_ih", {H}, true, true);
  T* pdbh = Arg<T>::get(db_hh, "db_hh", {H}, true, true);
  T* pdg = Arg<T>::get(dg, "dg", {B, H}, true);
  const T* pdhn = Arg<T>::get(dh_new, "dh_new", {B, H}, false);
  const T* px = Arg<T>::get(x, "x", {B, I}, false);
  const T* ph = Arg<T>::get(h, "h", {B, H}, false);
  const T* phn = Arg<T>::get(h_new, "h_new", {B, H}, false);
  const T* pwi = Arg<T>::get(w_ih, "w_ih", {H, I}, false);
  const T* pwh = Arg<T>::get(w_hh, "w_hh", {H, H}, false);
  require_blas();
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().rnn_cell_backward(pdx, pdh, pdwi, pdwh, pdbi, pdbh, pdg, pdhn, px, ph, phn, pwi, pwh, (int)B, (int)I,
                                (int)H, relu);
}

// Dispatch on the dtype of the array named `key` (float32 or float64).
// ---------------------------------------------------------------------------------------- CTC
template <class T>
void ctc_loss_t(py::object loss, py::object grad, py::object alpha, py::object beta, py::object log_probs,
                py::object targets, py::object input_lengths, py::object target_lengths, py::object grad_scale,
                int64_t blank, bool zero_infinity) {
  const int64_t Tn = dim(log_probs, "log_probs", 0, 3), B = dim(log_probs, "log_probs", 1, 3),
                C = dim(log_probs, "log_probs", 2, 3);
  const int64_t Smax = dim(targets, "targets", 1, 2), Smax2 = dim(alpha, "alpha", 2, 3);
  if (blank < 0 || blank >= C)
    throw py::value_error("blank = " + std::to_string(blank) + " is outside [0, C=" + std::to_string(C) + ")");
  if (Smax2 < 2 * Smax + 3)
    throw py::value_error("alpha: last dimension must be at least 2*Smax+3 = " + std::to_string(2 * Smax + 3));
  T* pl = Arg<T>::get(loss, "loss", {B}, true);
  T* pg = Arg<T>::get(grad, "grad", {Tn, B, C}, true, true);
  T* pa = Arg<T>::get(alpha, "alpha", {B, Tn, Smax2}, true);
  T* pb = Arg<T>::get(beta, "beta", {B, Tn, Smax2}, true);
  const T* plp = Arg<T>::get(log_probs, "log_probs", {Tn, B, C}, false);
  const int64_t* pt = Arg<int64_t>::get(targets, "targets", {B, Smax}, false);
  const int64_t* pil = Arg<int64_t>::get(input_lengths, "input_lengths", {B}, false);
  const int64_t* ptl = Arg<int64_t>::get(target_lengths, "target_lengths", {B}, false);
  const T* ps = Arg<T>::get(grad_scale, "grad_scale", {B}, false, true);
  for (int64_t b = 0; b < B; ++b) {
    if (pil[b] < 0 || pil[b] > Tn)
      throw py::value_error("input_lengths[" + std::to_string(b) + "] = " + std::to_string(pil[b]) +
                            " is outside [0, T=" + std::to_string(Tn) + "]");
    if (ptl[b] < 0 || ptl[b] > Smax)
      throw py::value_error("target_lengths[" + std::to_string(b) + "] = " + std::to_string(ptl[b]) +
                            " is outside [0, S=" + std::to_string(Smax) + "]");
    for (int64_t i = 0; i < ptl[b]; ++i) {
      const int64_t l = pt[b * Smax + i];
      if (l < 0 || l >= C || l == blank)
        throw py::value_error("targets[" + std::to_string(b) + ", " + std::to_string(i) + "] = " + std::to_string(l) +
                              ": labels must be in [0, C=" + std::to_string(C) + ") and differ from blank=" +
                              std::to_string(blank));
    }
  }
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().ctc_loss(pl, pg, pa, pb, plp, pt, pil, ptl, ps, (int)Tn, (int)B, (int)C, (int)Smax, (int)Smax2,
                       (int)blank, zero_infinity);
}

template <class T>
void ctc_beam_search_t(py::object labels, py::object lengths, py::object scores, py::object log_probs,
                       py::object input_lengths, int64_t blank, int64_t beam_width, int64_t top_k) {
  const int64_t Tn = dim(log_probs, "log_probs", 0, 3), B = dim(log_probs, "log_probs", 1, 3),
                C = dim(log_probs, "log_probs", 2, 3);
  if (blank < 0 || blank >= C)
    throw py::value_error("blank = " + std::to_string(blank) + " is outside [0, C=" + std::to_string(C) + ")");
  if (beam_width < 1 || top_k < 1)
    throw py::value_error("beam_width and top_k must be >= 1, got " + std::to_string(beam_width) + ", " +
                          std::to_string(top_k));
  if (top_k > INT32_MAX || Tn > INT32_MAX || C > INT32_MAX)
    throw py::value_error("top_k, T and C must be below 2**31, got " + std::to_string(top_k) + ", " +
                          std::to_string(Tn) + ", " + std::to_string(C));
  int64_t* pl = Arg<int64_t>::get(labels, "labels", {B, top_k, Tn}, true);
  int64_t* pn = Arg<int64_t>::get(lengths, "lengths", {B, top_k}, true);
  T* ps = Arg<T>::get(scores, "scores", {B, top_k}, true);
  const T* plp = Arg<T>::get(log_probs, "log_probs", {Tn, B, C}, false);
  const int64_t* pil = Arg<int64_t>::get(input_lengths, "input_lengths", {B}, false);
  for (int64_t b = 0; b < B; ++b)
    if (pil[b] < 0 || pil[b] > Tn)
      throw py::value_error("input_lengths[" + std::to_string(b) + "] = " + std::to_string(pil[b]) +
                            " is outside [0, T=" + std::to_string(Tn) + "]");
  // beam_width is a Python int (int64 here, never truncated); its scratch is bounded (ctc_decode.h)
  const int64_t W = rnnfast::ctc_beam_effective_width(Tn, beam_width, C);
  const int64_t need = rnnfast::ctc_beam_scratch_bytes(Tn, W, C);
  if (need > rnnfast::kBeamMaxScratch) {
    const std::string msg = "beam_search: beam_width=" + std::to_string(beam_width) + " over T=" + std::to_string(Tn) +
                            " frames and C=" + std::to_string(C) + " classes needs " +
                            std::to_string(need >> 20) + " MiB of scratch per thread (about 64*T*W + 32*W*C bytes, "
                            "W = min(beam_width, distinct prefixes)), above the limit of " +
                            std::to_string(rnnfast::kBeamMaxScratch >> 20) + " MiB: use a smaller beam_width";
    PyErr_SetString(PyExc_MemoryError, msg.c_str());
    throw py::error_already_set();
  }
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().ctc_beam_search(pl, pn, ps, plp, pil, (int)Tn, (int)B, (int)C, (int)blank, beam_width, (int)top_k);
}

#define RNNFAST_DISPATCH(fn, key, ...)                                                  \
  do {                                                                                   \
    if (!py::isinstance<py::array>(key)) throw py::type_error(#key " must be a NumPy array"); \
    py::dtype dt = py::reinterpret_borrow<py::array>(key).dtype();                      \
    if (dt.is(py::dtype::of<float>())) return fn<float>(__VA_ARGS__);                  \
    if (dt.is(py::dtype::of<double>())) return fn<double>(__VA_ARGS__);                \
    throw py::type_error(#key ": expected float32 or float64, got " + std::string(py::str(dt))); \
  } while (0)

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnfast compiled kernels (C++17). Arrays are allocated by the caller; see csrc/*.h.";
  rnnfast_dispatch::init_module(m);  // chooses the instruction-set level (csrc/dispatch.h)

  m.def("set_blas", [](uintptr_t sgemm, uintptr_t dgemm, uintptr_t sgemv, uintptr_t dgemv) {
        blas().sgemm = reinterpret_cast<rnnfast::sgemm_t>(sgemm);
        blas().dgemm = reinterpret_cast<rnnfast::dgemm_t>(dgemm);
        blas().sgemv = reinterpret_cast<rnnfast::sgemv_t>(sgemv);
        blas().dgemv = reinterpret_cast<rnnfast::dgemv_t>(dgemv);
      }, py::arg("sgemm"), py::arg("dgemm"), py::arg("sgemv") = 0, py::arg("dgemv") = 0,
      "Install the Fortran-ABI ?gemm (and optionally ?gemv) addresses (from scipy.linalg.cython_blas).");
  m.def("set_blas_threads", [](uintptr_t set, uintptr_t get) {
        rnnfast::blas_threads().set = reinterpret_cast<void (*)(int)>(set);
        rnnfast::blas_threads().get = reinterpret_cast<int (*)()>(get);
      }, py::arg("set"), py::arg("get"),
      "Install the BLAS's set/get_num_threads (0, 0: none), which kernel teams use (csrc/team.h).");
  m.def("release_scratch", []() { return (int64_t)rnnfast::release_all_scratch(); },
        "Free the scratch the CTC kernels keep between calls (loss rows, beam-search tries) that no call is\n"
        "using; returns how many scratch objects were freed. Thread-safe; calls in flight keep theirs.");
  m.def("ctc_beam_scratch_bytes", [](int64_t T, int64_t beam_width, int64_t C) {
        return rnnfast::ctc_beam_scratch_bytes(T, rnnfast::ctc_beam_effective_width(T, beam_width, C), C);
      }, py::arg("T"), py::arg("beam_width"), py::arg("C"),
      "Scratch bytes per thread of ctc_beam_search for T frames (csrc/ctc_decode.h); above\n"
      "beam_scratch_limit (bytes) the kernel raises MemoryError.");
  m.attr("beam_scratch_limit") = rnnfast::kBeamMaxScratch;
  m.def("blas_ready", []() { return blas().sgemm != nullptr && blas().dgemm != nullptr; });
  m.def("set_num_threads", [](int n) {
#ifdef _OPENMP
        omp_set_num_threads(n);
#endif
        rnnfast::set_team_threads(n);
      }, py::arg("n"), "Threads of the kernels' own loops and teams (BLAS threads are set from Python).");
  m.def("get_team_threads", []() { return rnnfast::team_threads(); });
  m.def("set_team_policy", [](int min_batch, int64_t min_work, int rows_per_thread, int features_per_thread) {
        rnnfast::team_policy().min_batch = min_batch;
        rnnfast::team_policy().min_work = min_work;
        rnnfast::team_policy().rows_per_thread = rows_per_thread;
        rnnfast::team_policy().features_per_thread = features_per_thread;
      }, py::arg("min_batch"), py::arg("min_work"), py::arg("rows_per_thread") = 4, py::arg("features_per_thread") = 16,
      "Whole-sequence kernels start a thread team when batch >= min_batch and batch*hidden >= min_work, with at\n"
      "most batch/rows_per_thread and hidden/features_per_thread threads (csrc/team.h).");
  m.def("team_runs", []() { return (int64_t)rnnfast::team_runs().load(); },
        "How many thread teams the kernels have started (for tests).");
  m.def("get_team_policy", []() {
        const auto& p = rnnfast::team_policy();
        return py::make_tuple(p.min_batch, p.min_work, p.rows_per_thread, p.features_per_thread);
      });
  // Private switch of the per-step recurrent products (csrc/packed_step.h), for tests and measurements.
  m.def("_set_step_product", [](const std::string& name) {
        if (name == "blas") return rnnfast::set_step_product_mode(rnnfast::StepProduct::blas);
        if (name != "packed")
          throw py::value_error("_set_step_product: name must be 'blas' or 'packed', got '" + name + "'");
        if (std::string(rnnfast::packed_isa_name()) == "none")
          throw py::value_error("_set_step_product: this build has no packed per-step kernels (needs AVX2+FMA "
                                "or AVX-512 at compile time)");
        rnnfast::set_step_product_mode(rnnfast::StepProduct::packed);
      }, py::arg("name"), "Per-step recurrent products through the BLAS ('blas') or the packed micro-kernels.");
  m.def("_step_product", []() {
        const bool packed = rnnfast::step_product_mode() == rnnfast::StepProduct::packed &&
                            std::string(rnnfast::packed_isa_name()) != "none";
        return py::make_tuple(packed ? "packed" : "blas",
                              rnnfast::packed_isa_name(), (int64_t)rnnfast::packed_weights_made().load());
      }, "(path in use, instruction set of the packed kernels: 'avx512', 'avx2' or 'none', weights packed so far).");
  m.def("get_num_threads", []() {
#ifdef _OPENMP
        return omp_get_max_threads();
#else
        return rnnfast::team_threads();
#endif
      });
  m.attr("has_openmp") =
#ifdef _OPENMP
      true;
#else
      false;
#endif
  m.attr("has_libmvec") =
#ifdef RNNFAST_USE_LIBMVEC
      true;
#else
      false;
#endif

  m.def("gru_forward",
        [](py::object y, py::object h_n, py::object hs, py::object gates, py::object hn, py::object gh, py::object x,
           py::object h0, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object lengths,
           bool reset_after) {
          RNNFAST_DISPATCH(gru_forward_t, x, y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths,
                           reset_after);
        },
        py::arg("y"), py::arg("h_n"), py::arg("hs"), py::arg("gates"), py::arg("hn"), py::arg("gh"), py::arg("x"),
        py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("lengths"),
        py::arg("reset_after"));
  m.def("gru_backward",
        [](py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
           py::object dgx, py::object dgh, py::object dtmp, py::object dy, py::object dh_n, py::object x,
           py::object w_ih, py::object w_hh, py::object hs, py::object gates, py::object hn, py::object lengths,
           bool reset_after) {
          RNNFAST_DISPATCH(gru_backward_t, x, dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih,
                           w_hh, hs, gates, hn, lengths, reset_after);
        },
        py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        py::arg("dgx"), py::arg("dgh"), py::arg("dtmp"), py::arg("dy"), py::arg("dh_n"), py::arg("x"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("hs"), py::arg("gates"), py::arg("hn"), py::arg("lengths"),
        py::arg("reset_after"));
  m.def("gru_cell_forward",
        [](py::object h_new, py::object gates, py::object hn, py::object gh, py::object x, py::object h,
           py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, bool reset_after) {
          RNNFAST_DISPATCH(gru_cell_forward_t, x, h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after);
        },
        py::arg("h_new"), py::arg("gates"), py::arg("hn"), py::arg("gh"), py::arg("x"), py::arg("h"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("reset_after"));
  m.def("gru_cell_backward",
        [](py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
           py::object dgx, py::object dgh, py::object dtmp, py::object dh_new, py::object x, py::object h,
           py::object w_ih, py::object w_hh, py::object gates, py::object hn, bool reset_after) {
          RNNFAST_DISPATCH(gru_cell_backward_t, x, dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h,
                           w_ih, w_hh, gates, hn, reset_after);
        },
        py::arg("dx"), py::arg("dh"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        py::arg("dgx"), py::arg("dgh"), py::arg("dtmp"), py::arg("dh_new"), py::arg("x"), py::arg("h"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"), py::arg("hn"), py::arg("reset_after"));

  // lstm_* / rnn_* kernels
  m.def("lstm_forward",
        [](py::object y, py::object h_n, py::object c_n, py::object hs, py::object cs, py::object gates, py::object ms,
           py::object x, py::object h0, py::object c0, py::object w_ih, py::object w_hh, py::object b_ih,
           py::object b_hh, py::object w_hr, py::object lengths) {
          RNNFAST_DISPATCH(lstm_forward_t, x, y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr,
                           lengths);
        },
        py::arg("y"), py::arg("h_n"), py::arg("c_n"), py::arg("hs"), py::arg("cs"), py::arg("gates"), py::arg("ms"),
        py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
        py::arg("b_hh"), py::arg("w_hr"), py::arg("lengths"));
  m.def("lstm_backward",
        [](py::object dx, py::object dh0, py::object dc0, py::object dw_ih, py::object dw_hh, py::object db_ih,
           py::object db_hh, py::object dw_hr, py::object dgates, py::object dhs, py::object dy, py::object dh_n,
           py::object dc_n, py::object x, py::object w_ih, py::object w_hh, py::object w_hr, py::object hs,
           py::object cs, py::object gates, py::object ms, py::object lengths) {
          RNNFAST_DISPATCH(lstm_backward_t, x, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n,
                           dc_n, x, w_ih, w_hh, w_hr, hs, cs, gates, ms, lengths);
        },
        py::arg("dx"), py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"),
        py::arg("db_hh"), py::arg("dw_hr"), py::arg("dgates"), py::arg("dhs"), py::arg("dy"), py::arg("dh_n"),
        py::arg("dc_n"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("w_hr"), py::arg("hs"),
        py::arg("cs"), py::arg("gates"), py::arg("ms"), py::arg("lengths"));
  m.def("lstm_cell_forward",
        [](py::object h_new, py::object c_new, py::object gates, py::object m_, py::object x, py::object h,
           py::object c, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object w_hr) {
          RNNFAST_DISPATCH(lstm_cell_forward_t, x, h_new, c_new, gates, m_, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr);
        },
        py::arg("h_new"), py::arg("c_new"), py::arg("gates"), py::arg("m"), py::arg("x"), py::arg("h"), py::arg("c"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("w_hr"));
  m.def("lstm_cell_backward",
        [](py::object dx, py::object dh, py::object dc, py::object dw_ih, py::object dw_hh, py::object db_ih,
           py::object db_hh, py::object dw_hr, py::object dgates, py::object dh_new, py::object dc_new, py::object x,
           py::object h, py::object c, py::object c_new, py::object w_ih, py::object w_hh, py::object w_hr,
           py::object gates, py::object m_) {
          RNNFAST_DISPATCH(lstm_cell_backward_t, x, dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new,
                           dc_new, x, h, c, c_new, w_ih, w_hh, w_hr, gates, m_);
        },
        py::arg("dx"), py::arg("dh"), py::arg("dc"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"),
        py::arg("db_hh"), py::arg("dw_hr"), py::arg("dgates"), py::arg("dh_new"), py::arg("dc_new"), py::arg("x"),
        py::arg("h"), py::arg("c"), py::arg("c_new"), py::arg("w_ih"), py::arg("w_hh"), py::arg("w_hr"),
        py::arg("gates"), py::arg("m"));
  m.def("rnn_forward",
        [](py::object y, py::object h_n, py::object hs, py::object x, py::object h0, py::object w_ih, py::object w_hh,
           py::object b_ih, py::object b_hh, py::object lengths, bool relu) {
          RNNFAST_DISPATCH(rnn_forward_t, x, y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu);
        },
        py::arg("y"), py::arg("h_n"), py::arg("hs"), py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("lengths"), py::arg("relu"));
  m.def("rnn_backward",
        [](py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
           py::object dg, py::object dy, py::object dh_n, py::object x, py::object w_ih, py::object w_hh,
           py::object hs, py::object lengths, bool relu) {
          RNNFAST_DISPATCH(rnn_backward_t, x, dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs,
                           lengths, relu);
        },
        py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        py::arg("dg"), py::arg("dy"), py::arg("dh_n"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("hs"),
        py::arg("lengths"), py::arg("relu"));
  m.def("rnn_cell_forward",
        [](py::object h_new, py::object x, py::object h, py::object w_ih, py::object w_hh, py::object b_ih,
           py::object b_hh, bool relu) {
          RNNFAST_DISPATCH(rnn_cell_forward_t, x, h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu);
        },
        py::arg("h_new"), py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
        py::arg("b_hh"), py::arg("relu"));
  m.def("rnn_cell_backward",
        [](py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
           py::object dg, py::object dh_new, py::object x, py::object h, py::object h_new, py::object w_ih,
           py::object w_hh, bool relu) {
          RNNFAST_DISPATCH(rnn_cell_backward_t, x, dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih,
                           w_hh, relu);
        },
        py::arg("dx"), py::arg("dh"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        py::arg("dg"), py::arg("dh_new"), py::arg("x"), py::arg("h"), py::arg("h_new"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("relu"));

  // ctc_* kernels
  m.def("ctc_loss",
        [](py::object loss, py::object grad, py::object alpha, py::object beta, py::object log_probs,
           py::object targets, py::object input_lengths, py::object target_lengths, py::object grad_scale,
           int64_t blank, bool zero_infinity) {
          RNNFAST_DISPATCH(ctc_loss_t, log_probs, loss, grad, alpha, beta, log_probs, targets, input_lengths,
                           target_lengths, grad_scale, blank, zero_infinity);
        },
        py::arg("loss"), py::arg("grad"), py::arg("alpha"), py::arg("beta"), py::arg("log_probs"), py::arg("targets"),
        py::arg("input_lengths"), py::arg("target_lengths"), py::arg("grad_scale"), py::arg("blank"),
        py::arg("zero_infinity"), "CTC loss and (optionally) gradient; see csrc/ctc.h.");
  m.def("ctc_beam_search",
        [](py::object labels, py::object lengths, py::object scores, py::object log_probs, py::object input_lengths,
           int64_t blank, int64_t beam_width, int64_t top_k) {
          RNNFAST_DISPATCH(ctc_beam_search_t, log_probs, labels, lengths, scores, log_probs, input_lengths, blank,
                           beam_width, top_k);
        },
        py::arg("labels"), py::arg("lengths"), py::arg("scores"), py::arg("log_probs"), py::arg("input_lengths"),
        py::arg("blank"), py::arg("beam_width"), py::arg("top_k"), "CTC prefix beam search; see csrc/ctc_decode.h.");

  // @@CTC_PROB_BINDINGS@@ probability-space CTC, MyTorch semantics (see csrc/ctc_prob.h). The per-dtype
  // bodies are generic lambdas (RNNFAST_DISPATCH needs a named function template, which cannot be
  // declared inside this body); `dtype_dispatch` calls them with a float or double tag.
  {
    auto dtype_dispatch = [](const py::object& key, const char* name, auto&& fn) {
      if (!py::isinstance<py::array>(key)) throw py::type_error(std::string(name) + " must be a NumPy array");
      py::dtype dt = py::reinterpret_borrow<py::array>(key).dtype();
      if (dt.is(py::dtype::of<float>())) return fn(float(0));
      if (dt.is(py::dtype::of<double>())) return fn(double(0));
      throw py::type_error(std::string(name) + ": expected float32 or float64, got " + std::string(py::str(dt)));
    };
    m.def("ctc_prob_alpha_beta",
          [dtype_dispatch](py::object alpha, py::object beta, py::object gamma, py::object y, py::object ext,
                           py::object skip) {
            dtype_dispatch(y, "y", [&](auto tag) {
              using T = decltype(tag);
              const int64_t Tn = dim(y, "y", 0, 2), C = dim(y, "y", 1, 2), S = dim(ext, "ext", 0, 1);
              if (Tn < 1 || S < 1)
                throw py::value_error("y and ext must be non-empty, got T=" + std::to_string(Tn) +
                                      ", S=" + std::to_string(S));
              T* pa = Arg<T>::get(alpha, "alpha", {Tn, S}, true, true);
              T* pb = Arg<T>::get(beta, "beta", {Tn, S}, true, true);
              T* pg = Arg<T>::get(gamma, "gamma", {Tn, S}, true, true);
              if (pg && !(pa && pb)) throw py::value_error("gamma needs alpha and beta (both not None)");
              const T* py_ = Arg<T>::get(y, "y", {Tn, C}, false);
              const int64_t* pe = Arg<int64_t>::get(ext, "ext", {S}, false);
              const int64_t* ps = Arg<int64_t>::get(skip, "skip", {S}, false);
              for (int64_t s = 0; s < S; ++s)
                if (pe[s] < 0 || pe[s] >= C)
                  throw py::value_error("ext[" + std::to_string(s) + "] = " + std::to_string(pe[s]) +
                                        " is outside [0, C=" + std::to_string(C) + ")");
              py::gil_scoped_release nogil;
              rnnfast_dispatch::kernels<T>().ctc_prob_alpha_beta(pa, pb, pg, py_, pe, ps, (int)Tn, (int)C, (int)S);
            });
          },
          py::arg("alpha"), py::arg("beta"), py::arg("gamma"), py::arg("y"), py::arg("ext"), py::arg("skip"),
          "MyTorch CTC alpha, beta (excluding the current frame), gamma of one sequence; see csrc/ctc_prob.h.");
    m.def("ctc_prob_loss",
          [dtype_dispatch](py::object loss, py::object grad, py::object gamma, py::object work, py::object y,
                           py::object targets, py::object input_lengths, py::object target_lengths, int64_t blank) {
            dtype_dispatch(y, "y", [&](auto tag) {
              using T = decltype(tag);
              const int64_t Tn = dim(y, "y", 0, 3), B = dim(y, "y", 1, 3), C = dim(y, "y", 2, 3);
              const int64_t Lpad = dim(targets, "targets", 1, 2), Smax = dim(gamma, "gamma", 2, 3);
              if (blank < 0 || blank >= C)
                throw py::value_error("blank = " + std::to_string(blank) + " is outside [0, C=" + std::to_string(C) +
                                      ")");
              T* pl = Arg<T>::get(loss, "loss", {B}, true);
              T* pg = Arg<T>::get(grad, "grad", {Tn, B, C}, true, true);
              T* pgam = Arg<T>::get(gamma, "gamma", {B, Tn, Smax}, true);
              T* pw = Arg<T>::get(work, "work", {B, 2, Smax}, true);
              const T* py_ = Arg<T>::get(y, "y", {Tn, B, C}, false);
              const int64_t* pt = Arg<int64_t>::get(targets, "targets", {B, Lpad}, false);
              const int64_t* pil = Arg<int64_t>::get(input_lengths, "input_lengths", {B}, false);
              const int64_t* ptl = Arg<int64_t>::get(target_lengths, "target_lengths", {B}, false);
              for (int64_t b = 0; b < B; ++b) {
                if (pil[b] < 0 || pil[b] > Tn)
                  throw py::value_error("input_lengths[" + std::to_string(b) + "] = " + std::to_string(pil[b]) +
                                        " is outside [0, T=" + std::to_string(Tn) + "]");
                if (ptl[b] < 0 || ptl[b] > Lpad || 2 * ptl[b] + 1 > Smax)
                  throw py::value_error("target_lengths[" + std::to_string(b) + "] = " + std::to_string(ptl[b]) +
                                        " is outside [0, min(Lpad=" + std::to_string(Lpad) + ", (Smax-1)/2=" +
                                        std::to_string((Smax - 1) / 2) + ")]");
                for (int64_t i = 0; i < ptl[b]; ++i) {
                  const int64_t l = pt[b * Lpad + i];
                  if (l < 0 || l >= C || l == blank)
                    throw py::value_error("targets[" + std::to_string(b) + ", " + std::to_string(i) + "] = " +
                                          std::to_string(l) + ": labels must be in [0, C=" + std::to_string(C) +
                                          ") and differ from blank=" + std::to_string(blank));
                }
              }
              py::gil_scoped_release nogil;
              rnnfast_dispatch::kernels<T>().ctc_prob_loss(pl, pg, pgam, pw, py_, pt, pil, ptl, (int)Tn, (int)B, (int)C, (int)Lpad,
                                        (int)Smax, (int)blank);
            });
          },
          py::arg("loss"), py::arg("grad"), py::arg("gamma"), py::arg("work"), py::arg("y"), py::arg("targets"),
          py::arg("input_lengths"), py::arg("target_lengths"), py::arg("blank"),
          "MyTorch CTC expected-divergence loss, gradient dY and posteriors; see csrc/ctc_prob.h.");
  }
}
