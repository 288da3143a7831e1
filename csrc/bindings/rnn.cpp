// Python bindings of the Elman RNN kernels (contract in csrc/rnn.h).
#include "common.h"

namespace rnnfast_bindings {
namespace {

template <class T>
void rnn_forward_t(py::object y, py::object h_n, py::object hs, py::object x, py::object h0, py::object w_ih,
                   py::object w_hh, py::object b_ih, py::object b_hh, py::object lengths, bool relu,
                   bool reverse) {
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
  rnnfast_dispatch::kernels<T>().rnn_forward(py_, phn, phs, px, ph0, pwi, pwh, pbi, pbh, pl, (int)Tn, (int)B, (int)I,
                                             (int)H, relu, reverse);
}

template <class T>
void rnn_backward_t(py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih,
                    py::object db_hh, py::object dg, py::object dy, py::object dh_n, py::object x, py::object w_ih,
                    py::object w_hh, py::object hs, py::object lengths, bool relu, bool reverse) {
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
  rnnfast_dispatch::kernels<T>().rnn_backward(pdx, pdh0, pdwi, pdwh, pdbi, pdbh, pdg, pdy, pdhn, px, pwi, pwh, phs, pl,
                                              (int)Tn, (int)B, (int)I, (int)H, relu, reverse);
}

template <class T>
void rnn_cell_forward_t(py::object h_new, py::object x, py::object h, py::object w_ih, py::object w_hh, py::object b_ih,
                        py::object b_hh, bool relu) {
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
  rnnfast_dispatch::kernels<T>().rnn_cell_backward(pdx, pdh, pdwi, pdwh, pdbi, pdbh, pdg, pdhn, px, ph, phn, pwi, pwh,
                                                   (int)B, (int)I, (int)H, relu);
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def(
      "rnn_forward",
      [](py::object y, py::object h_n, py::object hs, py::object x, py::object h0, py::object w_ih, py::object w_hh,
         py::object b_ih, py::object b_hh, py::object lengths, bool relu, bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          rnn_forward_t<decltype(t)>(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse);
        });
      },
      py::arg("y"), py::arg("h_n"), py::arg("hs"), py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("b_ih"), py::arg("b_hh"), py::arg("lengths"), py::arg("relu"), py::arg("reverse"));
  m.def(
      "rnn_backward",
      [](py::object dx, py::object dh0, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
         py::object dg, py::object dy, py::object dh_n, py::object x, py::object w_ih, py::object w_hh, py::object hs,
         py::object lengths, bool relu, bool reverse) {
        dtype_dispatch(x, "x", [&](auto t) {
          rnn_backward_t<decltype(t)>(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs, lengths,
                                      relu, reverse);
        });
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
      py::arg("dg"), py::arg("dy"), py::arg("dh_n"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("hs"),
      py::arg("lengths"), py::arg("relu"), py::arg("reverse"));
  m.def(
      "rnn_cell_forward",
      [](py::object h_new, py::object x, py::object h, py::object w_ih, py::object w_hh, py::object b_ih,
         py::object b_hh, bool relu) {
        dtype_dispatch(x, "x",
                       [&](auto t) { rnn_cell_forward_t<decltype(t)>(h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu); });
      },
      py::arg("h_new"), py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
      py::arg("relu"));
  m.def(
      "rnn_cell_backward",
      [](py::object dx, py::object dh, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh,
         py::object dg, py::object dh_new, py::object x, py::object h, py::object h_new, py::object w_ih,
         py::object w_hh, bool relu) {
        dtype_dispatch(x, "x", [&](auto t) {
          rnn_cell_backward_t<decltype(t)>(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih, w_hh,
                                           relu);
        });
      },
      py::arg("dx"), py::arg("dh"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
      py::arg("dg"), py::arg("dh_new"), py::arg("x"), py::arg("h"), py::arg("h_new"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("relu"));
}

}  // namespace rnnfast_bindings
