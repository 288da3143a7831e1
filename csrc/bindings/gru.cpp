// Python bindings of the GRU kernels (contract in csrc/gru.h).
#include "common.h"

namespace rnnfast_bindings {
namespace {

template <class T>
void gru_forward_t(py::object y, py::object h_n, py::object hs, py::object gates, py::object hn, py::object gh,
                   py::object x, py::object h0, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh,
                   py::object lengths, bool reset_after, bool reverse) {
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
  rnnfast_dispatch::kernels<T>().gru_forward(py_, phn, phs, pg, phnn, pgh, px, ph0, pwi, pwh, pbi, pbh, pl, (int)Tn,
                                             (int)B, (int)I, (int)H, reset_after, reverse);
}

template <class T>
void gru_backward_t(py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih,
                    py::object db_hh, py::object dgx, py::object dgh, py::object dtmp, py::object dy, py::object dh_n,
                    py::object x, py::object w_ih, py::object w_hh, py::object hs, py::object gates, py::object hn,
                    py::object lengths, bool reset_after, bool reverse) {
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
  rnnfast_dispatch::kernels<T>().gru_backward(pdx, pdh0, pdwi, pdwh, pdbi, pdbh, pdgx, pdgh, pdt, pdy, pdhn, px, pwi,
                                              pwh, phs, pg, phn, pl, (int)Tn, (int)B, (int)I, (int)H, reset_after,
                                              reverse);
}

template <class T>
void gru_cell_forward_t(py::object h_new, py::object gates, py::object hn, py::object gh, py::object x, py::object h,
                        py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, bool reset_after) {
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
  rnnfast_dispatch::kernels<T>().gru_cell_forward(pout, pg, phn, pgh, px, ph, pwi, pwh, pbi, pbh, (int)B, (int)I,
                                                  (int)H, reset_after);
}

template <class T>
void gru_cell_backward_t(py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih,
                         py::object db_hh, py::object dgx, py::object dgh, py::object dtmp, py::object dh_new,
                         py::object x, py::object h, py::object w_ih, py::object w_hh, py::object gates, py::object hn,
                         bool reset_after) {
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
  rnnfast_dispatch::kernels<T>().gru_cell_backward(pdx, pdh, pdwi, pdwh, pdbi, pdbh, pdgx, pdgh, pdt, pdhn, px, ph, pwi,
                                                   pwh, pg, phn, (int)B, (int)I, (int)H, reset_after);
}

}  // namespace

void bind_gru(py::module_& m) {
  m.def(
      "gru_forward",
      [](py::object y, py::object h_n, py::object hs, py::object gates, py::object hn, py::object gh, py::object x,
         py::object h0, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object lengths,
         bool reset_after, bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          gru_forward_t<decltype(t)>(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after,
                                     reverse);
        });
      },
      py::arg("y"), py::arg("h_n"), py::arg("hs"), py::arg("gates"), py::arg("hn"), py::arg("gh"), py::arg("x"),
      py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("lengths"),
      py::arg("reset_after"), py::arg("reverse"));
  m.def(
      "gru_backward",
      [](py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
         py::object dgx, py::object dgh, py::object dtmp, py::object dy, py::object dh_n, py::object x, py::object w_ih,
         py::object w_hh, py::object hs, py::object gates, py::object hn, py::object lengths, bool reset_after,
         bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          gru_backward_t<decltype(t)>(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih, w_hh, hs,
                                      gates, hn, lengths, reset_after, reverse);
        });
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
      py::arg("dgx"), py::arg("dgh"), py::arg("dtmp"), py::arg("dy"), py::arg("dh_n"), py::arg("x"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("hs"), py::arg("gates"), py::arg("hn"), py::arg("lengths"), py::arg("reset_after"),
      py::arg("reverse"));
  m.def(
      "gru_cell_forward",
      [](py::object h_new, py::object gates, py::object hn, py::object gh, py::object x, py::object h, py::object w_ih,
         py::object w_hh, py::object b_ih, py::object b_hh, bool reset_after) {
        dtype_dispatch(x, "x", [&](auto t) {
          gru_cell_forward_t<decltype(t)>(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after);
        });
      },
      py::arg("h_new"), py::arg("gates"), py::arg("hn"), py::arg("gh"), py::arg("x"), py::arg("h"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("reset_after"));
  m.def(
      "gru_cell_backward",
      [](py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
         py::object dgx, py::object dgh, py::object dtmp, py::object dh_new, py::object x, py::object h,
         py::object w_ih, py::object w_hh, py::object gates, py::object hn, bool reset_after) {
        dtype_dispatch(x, "x", [&](auto t) {
          gru_cell_backward_t<decltype(t)>(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h, w_ih, w_hh,
                                           gates, hn, reset_after);
        });
      },
      py::arg("dx"), py::arg("dh"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
      py::arg("dgx"), py::arg("dgh"), py::arg("dtmp"), py::arg("dh_new"), py::arg("x"), py::arg("h"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("gates"), py::arg("hn"), py::arg("reset_after"));
}

}  // namespace rnnfast_bindings
