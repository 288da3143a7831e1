// Elman RNN kernels (tanh or relu): whole-sequence forward/backward and fused single steps.
//
// Layout (all row-major, contiguous, PyTorch's):
//   x      (T, B, I)      input sequence, time-major
//   h0     (B, H)         initial state; nullptr means zeros
//   w_ih   (H, I)         input weights
//   w_hh   (H, H)         recurrent weights
//   b_ih, b_hh (H,)       biases; nullptr means no bias
//   lengths (B,) int64    valid steps per sequence, 0 <= len <= T; nullptr means all T.
//                         Past its length a row's state is carried unchanged and its output is 0
//                         (PyTorch packed-sequence semantics: h_n = state at the last valid step).
//   relu                  false: h' = tanh(a), true: h' = max(a, 0), a = x W_ih^T + b_ih + h W_hh^T + b_hh
//
// Who allocates: the caller (Python) allocates every array argument: outputs, cache, workspace.
// Internally a kernel allocates one scratch buffer per call (W_hh^T and the transposed per-step
// products, O(H*H + B*H)), before its time loop; nothing is allocated inside the loop. All outputs
// are OVERWRITTEN, except in rnn_cell_backward, where weight and bias gradients are ACCUMULATED
// (+=), as a per-step caller (a MyTorch-style cell) expects.
//
// Forward cache, read by the backward pass:
//   hs    (T+1, B, H)  hs[0] = h0, hs[t+1] = state after step t (carried past a row's length);
//                      reverse: hs[T] = h0, hs[t] = state after step t (csrc/recurrent.h TimeOrder).
// reverse = true runs time backwards, t = T-1 .. 0, as in csrc/gru.h (the reverse direction of a
// bidirectional layer, with no array reversed); the backward pass takes the same flag.
//                      The activation's derivative comes from the new state itself:
//                      tanh' = 1 - h'^2, relu' = (h' > 0).
// Backward workspace: dg (T, B, H) = gradient w.r.t. the pre-activation a (0 past a row's length).
#pragma once
#include <cstdint>

namespace rnnfast {

// Outputs overwritten: y (T,B,H), h_n (B,H) and the cache hs (T+1,B,H).
template <class T>
void rnn_forward(T* y, T* h_n, T* hs, const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const int64_t* lengths, int Tn, int B, int I, int H, bool relu, bool reverse);

// dy (T,B,H) and dh_n (B,H) may each be nullptr (zero); dx may be nullptr (not wanted);
// db_ih/db_hh may be nullptr (no bias).
// Outputs overwritten: dx (T,B,I), dh0 (B,H), dw_ih (H,I), dw_hh (H,H), db_ih, db_hh (H).
template <class T>
void rnn_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dg, const T* dy, const T* dh_n,
                  const T* x, const T* w_ih, const T* w_hh, const T* hs, const int64_t* lengths, int Tn, int B,
                  int I, int H, bool relu, bool reverse);

// One step: h_new (B,H) overwritten (it is also the step's cache). h (B,H) may not alias h_new.
template <class T>
void rnn_cell_forward(T* h_new, const T* x, const T* h, const T* w_ih, const T* w_hh, const T* b_ih,
                      const T* b_hh, int B, int I, int H, bool relu);

// One step backward. dx (B,I) (nullptr: not wanted) and dh (B,H) overwritten; dw_ih, dw_hh, db_ih,
// db_hh ACCUMULATED. Workspace dg (B,H). h: the step's input state, h_new: its output.
template <class T>
void rnn_cell_backward(T* dx, T* dh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dg, const T* dh_new,
                       const T* x, const T* h, const T* h_new, const T* w_ih, const T* w_hh, int B, int I, int H,
                       bool relu);

}  // namespace rnnfast
