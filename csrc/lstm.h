// LSTM kernels (optionally with a projection, PyTorch's proj_size): whole-sequence forward/backward
// and fused single steps.
//
// Layout (all row-major, contiguous, PyTorch's). H = hidden size, P = size of the state h
// (P = proj_size when w_hr is given, else P = H):
//   x      (T, B, I)      input sequence, time-major
//   h0     (B, P)         initial state; nullptr means zeros
//   c0     (B, H)         initial cell state; nullptr means zeros
//   w_ih   (4H, I)        input weights, gate blocks in order i, f, g, o
//   w_hh   (4H, P)        recurrent weights, same gate order
//   b_ih, b_hh (4H,)      biases; nullptr means no bias
//   w_hr   (P, H)         projection weights; nullptr means no projection (then P must equal H)
//   lengths (B,) int64    valid steps per sequence, 0 <= len <= T; nullptr means all T.
//                         Past its length a row's h and c are carried unchanged and its output is 0
//                         (PyTorch packed-sequence semantics: h_n, c_n = states at the last valid step).
// Equations (PyTorch):
//   [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh      i, f, o = sigmoid(.), g = tanh(.)
//   c' = f * c + i * g        m = o * tanh(c')        h' = m W_hr^T (projection) or m
//
// Who allocates: the caller (Python) allocates every array argument: outputs, cache, workspace.
// Internally a kernel allocates one scratch buffer per call (transposed weights and per-step
// products, O(4H*P + P*H + B*max(4H,P))), before its time loop; nothing is allocated inside the loop.
// All outputs are OVERWRITTEN, except in lstm_cell_backward, where weight and bias gradients are
// ACCUMULATED (+=), as a per-step caller (a MyTorch-style cell) expects.
//
// Forward cache, read by the backward pass:
//   hs    (T+1, B, P)  hs[0] = h0, hs[t+1] = state after step t (carried past a row's length);
//                      reverse: hs[T] = h0, hs[t] = state after step t (csrc/recurrent.h TimeOrder)
//   cs    (T+1, B, H)  cell states, same convention
// reverse = true runs time backwards, t = T-1 .. 0, as in csrc/gru.h (the reverse direction of a
// bidirectional layer, with no array reversed); the backward pass takes the same flag.
//   gates (T, B, 4H)   i, f, g, o after the nonlinearity (rows past their length: unspecified)
//   ms    (T, B, H)    projection only (else nullptr): m = o * tanh(c'), the input of W_hr
//                      (0 for rows past their length)
// Backward workspace: dgates (T, B, 4H) = gradient w.r.t. the gate pre-activations (the same for
// the input and the hidden side); dhs (T, B, P), projection only (else nullptr): dL/dh' per step.
#pragma once
#include <cstdint>

namespace rnnfast {

// Outputs overwritten: y (T,B,P), h_n (B,P), c_n (B,H), and the cache hs, cs, gates, ms.
template <class T>
void lstm_forward(T* y, T* h_n, T* c_n, T* hs, T* cs, T* gates, T* ms, const T* x, const T* h0, const T* c0,
                  const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr,
                  const int64_t* lengths, int Tn, int B, int I, int H, int P, bool reverse);

// dy (T,B,P), dh_n (B,P), dc_n (B,H) may each be nullptr (zero). dx may be nullptr (not wanted).
// db_ih/db_hh may be nullptr (no bias); dw_hr and dhs are nullptr without a projection.
// Outputs overwritten: dx (T,B,I), dh0 (B,P), dc0 (B,H), dw_ih (4H,I), dw_hh (4H,P), db_ih, db_hh
// (4H), dw_hr (P,H).
template <class T>
void lstm_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dgates, T* dhs,
                   const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* w_ih, const T* w_hh,
                   const T* w_hr, const T* hs, const T* cs, const T* gates, const T* ms,
                   const int64_t* lengths, int Tn, int B, int I, int H, int P, bool reverse);

// One step. h_new (B,P) and c_new (B,H) overwritten; gates (B,4H) and, with a projection, m (B,H)
// are the step's cache (m is nullptr without one). h (B,P), c (B,H) may not alias h_new, c_new.
template <class T>
void lstm_cell_forward(T* h_new, T* c_new, T* gates, T* m, const T* x, const T* h, const T* c, const T* w_ih,
                       const T* w_hh, const T* b_ih, const T* b_hh, const T* w_hr, int B, int I, int H, int P);

// One step backward. dh_new (B,P) and dc_new (B,H) may be nullptr (zero). dx (B,I) (nullptr: not
// wanted), dh (B,P) and dc (B,H) overwritten; dw_ih, dw_hh, db_ih, db_hh, dw_hr ACCUMULATED.
// Workspace dgates (B,4H). h, c: the step's inputs; c_new, gates, m: its forward outputs/cache.
template <class T>
void lstm_cell_backward(T* dx, T* dh, T* dc, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dw_hr, T* dgates,
                        const T* dh_new, const T* dc_new, const T* x, const T* h, const T* c, const T* c_new,
                        const T* w_ih, const T* w_hh, const T* w_hr, const T* gates, const T* m, int B, int I,
                        int H, int P);

}  // namespace rnnfast
