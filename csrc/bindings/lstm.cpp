// Python bindings of the LSTM kernels (contract in csrc/lstm.h).
#include "common.h"

namespace rnnfast_bindings {
namespace {

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
                    py::object b_ih, py::object b_hh, py::object w_hr, py::object lengths, bool reverse) {
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
  rnnfast_dispatch::kernels<T>().lstm_forward(py_, phn, pcn, phs, pcs, pg, pms, px, ph0, pc0, pwi, pwh, pbi, pbh, pwr,
                                              pl, (int)Tn, (int)B, (int)I, (int)H, (int)P, reverse);
}

template <class T>
void lstm_backward_t(py::object dx, py::object dh0, py::object dc0, py::object dw_ih, py::object dw_hh,
                     py::object db_ih, py::object db_hh, py::object dw_hr, py::object dgates, py::object dhs,
                     py::object dy, py::object dh_n, py::object dc_n, py::object x, py::object w_ih, py::object w_hh,
                     py::object w_hr, py::object hs, py::object cs, py::object gates, py::object ms,
                     py::object lengths, bool reverse) {
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
  rnnfast_dispatch::kernels<T>().lstm_backward(pdx, pdh0, pdc0, pdwi, pdwh, pdbi, pdbh, pdwr, pdg, pdhs, pdy, pdhn,
                                               pdcn, px, pwi, pwh, pwr, phs, pcs, pg, pms, pl, (int)Tn, (int)B, (int)I,
                                               (int)H, (int)P, reverse);
}

template <class T>
void lstm_cell_forward_t(py::object h_new, py::object c_new, py::object gates, py::object m, py::object x, py::object h,
                         py::object c, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh,
                         py::object w_hr) {
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
  rnnfast_dispatch::kernels<T>().lstm_cell_forward(phnew, pcnew, pg, pm, px, ph, pc, pwi, pwh, pbi, pbh, pwr, (int)B,
                                                   (int)I, (int)H, (int)P);
}

template <class T>
void lstm_cell_backward_t(py::object dx, py::object dh, py::object dc, py::object dw_ih, py::object dw_hh,
                          py::object db_ih, py::object db_hh, py::object dw_hr, py::object dgates, py::object dh_new,
                          py::object dc_new, py::object x, py::object h, py::object c, py::object c_new,
                          py::object w_ih, py::object w_hh, py::object w_hr, py::object gates, py::object m) {
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
  rnnfast_dispatch::kernels<T>().lstm_cell_backward(pdx, pdh, pdc, pdwi, pdwh, pdbi, pdbh, pdwr, pdg, pdhn, pdcn, px,
                                                    ph, pc, pcn, pwi, pwh, pwr, pg, pm, (int)B, (int)I, (int)H, (int)P);
}

}  // namespace

void bind_lstm(py::module_& m) {
  m.def(
      "lstm_forward",
      [](py::object y, py::object h_n, py::object c_n, py::object hs, py::object cs, py::object gates, py::object ms,
         py::object x, py::object h0, py::object c0, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh,
         py::object w_hr, py::object lengths, bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          lstm_forward_t<decltype(t)>(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths,
                                      reverse);
        });
      },
      py::arg("y"), py::arg("h_n"), py::arg("c_n"), py::arg("hs"), py::arg("cs"), py::arg("gates"), py::arg("ms"),
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
      py::arg("w_hr"), py::arg("lengths"), py::arg("reverse"));
  m.def(
      "lstm_backward",
      [](py::object dx, py::object dh0, py::object dc0, py::object dw_ih, py::object dw_hh, py::object db_ih,
         py::object db_hh, py::object dw_hr, py::object dgates, py::object dhs, py::object dy, py::object dh_n,
         py::object dc_n, py::object x, py::object w_ih, py::object w_hh, py::object w_hr, py::object hs, py::object cs,
         py::object gates, py::object ms, py::object lengths, bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          lstm_backward_t<decltype(t)>(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x,
                                       w_ih, w_hh, w_hr, hs, cs, gates, ms, lengths, reverse);
        });
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"),
      py::arg("db_hh"), py::arg("dw_hr"), py::arg("dgates"), py::arg("dhs"), py::arg("dy"), py::arg("dh_n"),
      py::arg("dc_n"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("w_hr"), py::arg("hs"), py::arg("cs"),
      py::arg("gates"), py::arg("ms"), py::arg("lengths"), py::arg("reverse"));
  m.def(
      "lstm_cell_forward",
      [](py::object h_new, py::object c_new, py::object gates, py::object m_, py::object x, py::object h, py::object c,
         py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object w_hr) {
        dtype_dispatch(x, "x", [&](auto t) {
          lstm_cell_forward_t<decltype(t)>(h_new, c_new, gates, m_, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr);
        });
      },
      py::arg("h_new"), py::arg("c_new"), py::arg("gates"), py::arg("m"), py::arg("x"), py::arg("h"), py::arg("c"),
      py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("w_hr"));
  m.def(
      "lstm_cell_backward",
      [](py::object dx, py::object dh, py::object dc, py::object dw_ih, py::object dw_hh, py::object db_ih,
         py::object db_hh, py::object dw_hr, py::object dgates, py::object dh_new, py::object dc_new, py::object x,
         py::object h, py::object c, py::object c_new, py::object w_ih, py::object w_hh, py::object w_hr,
         py::object gates, py::object m_) {
        dtype_dispatch(x, "x", [&](auto t) {
          lstm_cell_backward_t<decltype(t)>(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new, dc_new, x, h,
                                            c, c_new, w_ih, w_hh, w_hr, gates, m_);
        });
      },
      py::arg("dx"), py::arg("dh"), py::arg("dc"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"),
      py::arg("db_hh"), py::arg("dw_hr"), py::arg("dgates"), py::arg("dh_new"), py::arg("dc_new"), py::arg("x"),
      py::arg("h"), py::arg("c"), py::arg("c_new"), py::arg("w_ih"), py::arg("w_hh"), py::arg("w_hr"), py::arg("gates"),
      py::arg("m"));
}

}  // namespace rnnfast_bindings
