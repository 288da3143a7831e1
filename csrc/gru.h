// GRU kernels: whole-sequence forward/backward and fused single steps.
//
// Layout (all row-major, contiguous, PyTorch's):
//   x      (T, B, I)      input sequence, time-major
//   h0     (B, H)         initial state; nullptr means zeros
//   w_ih   (3H, I)        input weights, gate blocks in order r, z, n
//   w_hh   (3H, H)        recurrent weights, same gate order
//   b_ih, b_hh (3H,)      biases; nullptr means no bias
//   lengths (B,) int64    valid steps per sequence, 0 <= len <= T; nullptr means all T.
//                         Past its length a row's state is carried unchanged and its output is 0
//                         (PyTorch packed-sequence semantics: h_n = state at the last valid step).
// Equations (reset_after = true, PyTorch / ONNX linear_before_reset=1):
//   r = s(W_ir x + b_ir + W_hr h + b_hr)        z = s(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))          h' = (1 - z) * n + z * h
// reset_after = false (original GRU, Keras reset_after=False, ONNX linear_before_reset=0):
//   n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
//
// Who allocates: the caller (Python) allocates every array argument: outputs, cache, workspace.
// Internally a kernel allocates one scratch buffer per call (W_hh^T and the transposed per-step
// products, O(H*H + B*H)), before its time loop; nothing is allocated inside the loop. All outputs are OVERWRITTEN, except in
// gru_cell_backward, where weight and bias gradients are ACCUMULATED (+=), as a per-step
// caller (a MyTorch-style cell) expects.
//
// reverse = true runs time backwards, t = T-1 .. 0 (the reverse direction of a bidirectional layer,
// with no array reversed): a row is inside its sequence at t < length, as forwards, so it carries h0
// through its padding and then reads x[length-1], ..., x[0]; y[t] is its state after reading x[t];
// h_n the state after t = 0. The backward pass takes the same flag.
//
// Forward cache, read by the backward pass:
//   hs    (T+1, B, H)  hs[0] = h0, hs[t+1] = state after step t (carried past a row's length);
//                      reverse: hs[T] = h0, hs[t] = state after step t (csrc/recurrent.h TimeOrder)
//   gates (T, B, 3H)   r, z, n after the nonlinearity
//   hn    (T, B, H)    reset_after: W_hn h + b_hn (pre-reset); else r * h (input of W_hn)
// Workspace: gh (B, 3H) in forward; dgx, dgh (T, B, 3H) and dtmp (B, H) in backward.
//   dgx = gradient w.r.t. the input-side pre-activations  (x W_ih^T + b_ih)
//   dgh = gradient w.r.t. the hidden-side pre-activations (h W_hh^T + b_hh); reset_after=false
//         does not use dgh (it equals dgx) and accepts nullptr.
#pragma once
#include <cstdint>

namespace rnnfast {

template <class T>
void gru_forward(T* y, T* h_n, T* hs, T* gates, T* hn, T* gh,
                 const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                 const int64_t* lengths, int Tn, int B, int I, int H, bool reset_after, bool reverse);

// dy (T,B,H) and dh_n (B,H) may each be nullptr (zero). db_ih/db_hh may be nullptr (no bias).
// Outputs overwritten: dx (T,B,I), dh0 (B,H), dw_ih (3H,I), dw_hh (3H,H), db_ih, db_hh (3H).
template <class T>
void gru_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgx, T* dgh, T* dtmp,
                  const T* dy, const T* dh_n, const T* x, const T* w_ih, const T* w_hh, const T* hs,
                  const T* gates, const T* hn, const int64_t* lengths, int Tn, int B, int I, int H,
                  bool reset_after, bool reverse);

// One step. h_new (B,H) overwritten; gates (B,3H) and hn (B,H) are the step's cache; gh (B,3H)
// workspace. h may not alias h_new.
template <class T>
void gru_cell_forward(T* h_new, T* gates, T* hn, T* gh, const T* x, const T* h, const T* w_ih,
                      const T* w_hh, const T* b_ih, const T* b_hh, int B, int I, int H, bool reset_after);

// One step backward. dx (B,I) and dh (B,H) overwritten; dw_ih, dw_hh, db_ih, db_hh ACCUMULATED.
// Workspace dgx, dgh (B,3H), dtmp (B,H).
template <class T>
void gru_cell_backward(T* dx, T* dh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgx, T* dgh, T* dtmp,
                       const T* dh_new, const T* x, const T* h, const T* w_ih, const T* w_hh,
                       const T* gates, const T* hn, int B, int I, int H, bool reset_after);

}  // namespace rnnfast
