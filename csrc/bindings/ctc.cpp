// Python bindings of the CTC kernels: the loss (contract in csrc/ctc.h), prefix beam search
// (csrc/ctc_decode.h), the probability-space CTC of MyTorch (csrc/ctc_prob.h) and the scratch the CTC
// kernels keep between calls.
#include "ctc.h"

#include "common.h"
#include "ctc_decode.h"
#include "ctc_prob.h"
#include "team.h"

namespace rnnfast_bindings {
namespace {

template <class T>
void ctc_loss_t(py::object loss, py::object grad, py::object log_probs, py::object targets, py::object input_lengths,
                py::object target_lengths, py::object grad_scale, int64_t blank, bool zero_infinity) {
  const int64_t Tn = dim(log_probs, "log_probs", 0, 3), B = dim(log_probs, "log_probs", 1, 3),
                C = dim(log_probs, "log_probs", 2, 3);
  const int64_t Smax = dim(targets, "targets", 1, 2);
  if (blank < 0 || blank >= C)
    throw py::value_error("blank = " + std::to_string(blank) + " is outside [0, C=" + std::to_string(C) + ")");
  T* pl = Arg<T>::get(loss, "loss", {B}, true);
  T* pg = Arg<T>::get(grad, "grad", {Tn, B, C}, true, true);
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
                              ": labels must be in [0, C=" + std::to_string(C) +
                              ") and differ from blank=" + std::to_string(blank));
    }
  }
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().ctc_loss(pl, pg, plp, pt, pil, ptl, ps, (int)Tn, (int)B, (int)C, (int)Smax, (int)blank,
                                          zero_infinity);
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
                            " frames and C=" + std::to_string(C) + " classes needs " + std::to_string(need >> 20) +
                            " MiB of scratch per thread (about 64*T*W + 32*W*C bytes, "
                            "W = min(beam_width, distinct prefixes)), above the limit of " +
                            std::to_string(rnnfast::kBeamMaxScratch >> 20) + " MiB: use a smaller beam_width";
    PyErr_SetString(PyExc_MemoryError, msg.c_str());
    throw py::error_already_set();
  }
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().ctc_beam_search(pl, pn, ps, plp, pil, (int)Tn, (int)B, (int)C, (int)blank, beam_width,
                                                 (int)top_k);
}

// ---- probability-space CTC, MyTorch semantics (csrc/ctc_prob.h)
template <class T>
void ctc_prob_alpha_beta_t(py::object alpha, py::object beta, py::object gamma, py::object y, py::object ext,
                           py::object skip) {
  const int64_t Tn = dim(y, "y", 0, 2), C = dim(y, "y", 1, 2), S = dim(ext, "ext", 0, 1);
  if (Tn < 1 || S < 1)
    throw py::value_error("y and ext must be non-empty, got T=" + std::to_string(Tn) + ", S=" + std::to_string(S));
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
}

template <class T>
void ctc_prob_loss_t(py::object loss, py::object grad, py::object gamma, py::object work, py::object y,
                     py::object targets, py::object input_lengths, py::object target_lengths, int64_t blank) {
  const int64_t Tn = dim(y, "y", 0, 3), B = dim(y, "y", 1, 3), C = dim(y, "y", 2, 3);
  const int64_t Lpad = dim(targets, "targets", 1, 2), Smax = dim(gamma, "gamma", 2, 3);
  if (blank < 0 || blank >= C)
    throw py::value_error("blank = " + std::to_string(blank) + " is outside [0, C=" + std::to_string(C) + ")");
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
                            " is outside [0, min(Lpad=" + std::to_string(Lpad) +
                            ", (Smax-1)/2=" + std::to_string((Smax - 1) / 2) + ")]");
    for (int64_t i = 0; i < ptl[b]; ++i) {
      const int64_t l = pt[b * Lpad + i];
      if (l < 0 || l >= C || l == blank)
        throw py::value_error("targets[" + std::to_string(b) + ", " + std::to_string(i) + "] = " + std::to_string(l) +
                              ": labels must be in [0, C=" + std::to_string(C) +
                              ") and differ from blank=" + std::to_string(blank));
    }
  }
  py::gil_scoped_release nogil;
  rnnfast_dispatch::kernels<T>().ctc_prob_loss(pl, pg, pgam, pw, py_, pt, pil, ptl, (int)Tn, (int)B, (int)C, (int)Lpad,
                                               (int)Smax, (int)blank);
}

}  // namespace

void bind_ctc(py::module_& m) {
  m.def(
      "ctc_loss",
      [](py::object loss, py::object grad, py::object log_probs, py::object targets, py::object input_lengths,
         py::object target_lengths, py::object grad_scale, int64_t blank, bool zero_infinity) {
        dtype_dispatch(log_probs, "log_probs", [&](auto t) {
          ctc_loss_t<decltype(t)>(loss, grad, log_probs, targets, input_lengths, target_lengths, grad_scale, blank,
                                  zero_infinity);
        });
      },
      py::arg("loss"), py::arg("grad"), py::arg("log_probs"), py::arg("targets"), py::arg("input_lengths"),
      py::arg("target_lengths"), py::arg("grad_scale"), py::arg("blank"), py::arg("zero_infinity"),
      "CTC loss and (optionally) gradient; see csrc/ctc.h.");
  m.def(
      "ctc_beam_search",
      [](py::object labels, py::object lengths, py::object scores, py::object log_probs, py::object input_lengths,
         int64_t blank, int64_t beam_width, int64_t top_k) {
        dtype_dispatch(log_probs, "log_probs", [&](auto t) {
          ctc_beam_search_t<decltype(t)>(labels, lengths, scores, log_probs, input_lengths, blank, beam_width, top_k);
        });
      },
      py::arg("labels"), py::arg("lengths"), py::arg("scores"), py::arg("log_probs"), py::arg("input_lengths"),
      py::arg("blank"), py::arg("beam_width"), py::arg("top_k"), "CTC prefix beam search; see csrc/ctc_decode.h.");
  m.def(
      "ctc_prob_alpha_beta",
      [](py::object alpha, py::object beta, py::object gamma, py::object y, py::object ext, py::object skip) {
        dtype_dispatch(y, "y", [&](auto t) { ctc_prob_alpha_beta_t<decltype(t)>(alpha, beta, gamma, y, ext, skip); });
      },
      py::arg("alpha"), py::arg("beta"), py::arg("gamma"), py::arg("y"), py::arg("ext"), py::arg("skip"),
      "MyTorch CTC alpha, beta (excluding the current frame), gamma of one sequence; see csrc/ctc_prob.h.");
  m.def(
      "ctc_prob_loss",
      [](py::object loss, py::object grad, py::object gamma, py::object work, py::object y, py::object targets,
         py::object input_lengths, py::object target_lengths, int64_t blank) {
        dtype_dispatch(y, "y", [&](auto t) {
          ctc_prob_loss_t<decltype(t)>(loss, grad, gamma, work, y, targets, input_lengths, target_lengths, blank);
        });
      },
      py::arg("loss"), py::arg("grad"), py::arg("gamma"), py::arg("work"), py::arg("y"), py::arg("targets"),
      py::arg("input_lengths"), py::arg("target_lengths"), py::arg("blank"),
      "MyTorch CTC expected-divergence loss, gradient dY and posteriors; see csrc/ctc_prob.h.");

  // scratch of the CTC kernels (csrc/team.h ScratchPool) and the beam search's bound (csrc/ctc_decode.h)
  m.def(
      "release_scratch", []() { return (int64_t)rnnfast::release_all_scratch(); },
      "Free the scratch the CTC kernels keep between calls (loss rows, beam-search tries) that no call is\n"
      "using; returns how many scratch objects were freed. Thread-safe; calls in flight keep theirs.");
  m.def(
      "ctc_beam_scratch_bytes",
      [](int64_t T, int64_t beam_width, int64_t C) {
        return rnnfast::ctc_beam_scratch_bytes(T, rnnfast::ctc_beam_effective_width(T, beam_width, C), C);
      },
      py::arg("T"), py::arg("beam_width"), py::arg("C"),
      "Scratch bytes per thread of ctc_beam_search for T frames (csrc/ctc_decode.h); above\n"
      "beam_scratch_limit (bytes) the kernel raises MemoryError.");
  m.attr("beam_scratch_limit") = rnnfast::kBeamMaxScratch;
}

}  // namespace rnnfast_bindings
