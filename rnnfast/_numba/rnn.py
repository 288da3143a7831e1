"""Elman RNN kernels jitted with numba, mirroring csrc/rnn.cpp function by function (same names,
same phases, same small-batch/BLAS split), with the signatures of rnnfast._core (read csrc/rnn.h
for shapes, layout, the cache and what is overwritten versus accumulated).

The public functions at the bottom play the part of the bindings: they turn optional arguments
(None) into empty arrays plus flags, so that each kernel compiles once per dtype, then call the
jitted kernel.
"""
import numpy as np
from numba import njit

from .._numpy import _check
from ._common import mul_wT as _mul_wT
from ._common import restore_carried, row_valid, save_carried, slot_in, time_at, transpose
from ._vmath import like, vtanh

_jit = njit(cache=True, nogil=True, error_model="numpy")

SMALL_BATCH = 1  # batches up to this size use _small_matmul for the per-step products (as rnn.cpp)


@_jit
def _small_matmul(out, inp, Wt, accumulate):
    """out (B,N) (+)= inp (B,K) Wt, Wt (K,N): axpy form over contiguous rows of Wt (small batches)."""
    B, K = inp.shape
    N = Wt.shape[1]
    for b in range(B):
        o = out[b]
        if not accumulate:
            o[:] = 0
        for k in range(K):
            a = inp[b, k]
            w = Wt[k]
            for j in range(N):
                o[j] += a * w[j]


@_jit
def _rec_product(out, inp, W, Wt, sT, accumulate):
    """out (B,H) (+)= inp (B,H) W^T given W (BLAS path) and Wt = W^T (small-batch path); sT: flat, 2*B*H."""
    if inp.shape[0] <= SMALL_BATCH:
        _small_matmul(out, inp, Wt, accumulate)
    else:
        _mul_wT(out, inp, W, sT, accumulate)


@_jit
def _input_projection(a, x, w_ih, b_ih, b_hh, has_bias_ih, has_bias_hh):
    """a (N,H) = x W_ih^T + b_ih + b_hh."""
    np.dot(x, w_ih.T, a)
    if has_bias_ih or has_bias_hh:
        bias = np.zeros(a.shape[1], a.dtype)
        if has_bias_ih:
            bias += b_ih
        if has_bias_hh:
            bias += b_hh
        for i in range(a.shape[0]):
            a[i] += bias


@_jit
def _step_forward(a, y, has_y, sT, h, w_hh, whT, lengths, has_len, t, relu):
    """One step forward (rnn.cpp step_forward): a (B,H) in: input part, out: the new state."""
    B, H = a.shape
    _rec_product(a, h, w_hh, whT, sT, True)  # a += h W_hh^T
    z0 = like(0, a)  # 0 in the arrays' dtype (an int literal would promote float32 to float64)
    for b in range(B):
        if not row_valid(lengths, has_len, t, b):  # carry the state, output zero
            a[b] = h[b]
            if has_y:
                y[b] = 0
            continue
        ab = a[b]
        if relu:
            for j in range(H):
                ab[j] = z0 if ab[j] < 0 else ab[j]  # NaN propagates (as torch)
        else:
            for j in range(H):
                ab[j] = vtanh(ab[j])
        if has_y:
            y[b] = ab


@_jit
def _step_backward(dh, dg, sT, h_new, w_hh, wT, lengths, has_len, t, relu):
    """One step backward (rnn.cpp step_backward): dh in: dL/dh', out: dL/dh; writes dg (B,H)."""
    B, H = dh.shape
    c1 = like(1, dh)  # 1 in the arrays' dtype (an int literal would promote float32 math to float64)
    for b in range(B):
        dgb = dg[b]
        dhb = dh[b]
        if not row_valid(lengths, has_len, t, b):  # state carried: dh passes through
            dgb[:] = 0
            continue
        hb = h_new[b]
        if relu:
            for j in range(H):
                dgb[j] = dhb[j] if hb[j] > 0 else c1 - c1  # (a typed zero)
                dhb[j] = 0  # h enters only through a
        else:
            for j in range(H):
                dgb[j] = dhb[j] * (c1 - hb[j] * hb[j])
                dhb[j] = 0
    _rec_product(dh, dg, wT, w_hh, sT, True)  # dh += dg W_hh


@_jit
def _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dg, x, w_ih, hs, accumulate):
    """Weight, bias and input gradients from dg (N,H) (rnn.cpp param_grads)."""
    if accumulate:
        dw_ih += np.dot(dg.T, x)
        dw_hh += np.dot(dg.T, hs)
    else:
        np.dot(dg.T, x, dw_ih)
        np.dot(dg.T, hs, dw_hh)
    if has_dx:
        np.dot(dg, w_ih, dx)
    if has_db_ih or has_db_hh:  # both biases get the same gradient: one pass over dg
        dbsum = np.zeros(dg.shape[1], dg.dtype)
        for i in range(dg.shape[0]):
            dbsum += dg[i]
        if has_db_ih:
            if accumulate:
                db_ih += dbsum
            else:
                db_ih[:] = dbsum
        if has_db_hh:
            if accumulate:
                db_hh += dbsum
            else:
                db_hh[:] = dbsum


@_jit
def _transpose_if(w_hh, needed):
    """W_hh^T when the chosen per-step path needs it, else empty (rnn.cpp CallScratch)."""
    return np.ascontiguousarray(w_hh.T) if needed else np.empty((0, 0), w_hh.dtype)


@_jit
def _rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, has_h0, has_bias_ih, has_bias_hh,
                 has_len, reverse):
    T, B, I = x.shape
    H = hs.shape[2]
    first = T if reverse else 0  # slot of h0 (recurrent.h TimeOrder)
    if has_h0:
        hs[first] = h0
    else:
        hs[first] = 0
    out0 = 0 if reverse else 1  # into the slots of the states leaving each step
    _input_projection(hs[out0:out0 + T].reshape(T * B, H), x.reshape(T * B, I), w_ih, b_ih, b_hh, has_bias_ih,
                      has_bias_hh)
    whT = _transpose_if(w_hh, B <= SMALL_BATCH)
    sT = np.empty(2 * B * H, x.dtype)
    for s in range(T):
        t = time_at(T, reverse, s)
        _step_forward(hs[slot_in(not reverse, t)], y[t], True, sT, hs[slot_in(reverse, t)], w_hh, whT, lengths,
                      has_len, t, relu)
    h_n[:] = hs[T - first]


@_jit
def _rnn_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs, lengths, relu, has_dx,
                  has_db_ih, has_db_hh, has_dy, has_dh_n, has_len, reverse):
    T, B, I = x.shape
    H = hs.shape[2]
    dh = dh0  # running dL/dh, ends as dL/dh0
    if has_dh_n:
        dh[:] = dh_n
    else:
        dh[:] = 0
    wT = _transpose_if(w_hh, B > SMALL_BATCH)
    sT = np.empty(2 * B * H, x.dtype)
    carry = has_len and not np.isfinite(w_hh).all()
    keep = np.empty_like(dh) if carry and reverse else dh_n  # carried rows' dL/dh (restore_carried)
    for s in range(T - 1, -1, -1):
        t = time_at(T, reverse, s)
        if has_dy:
            for b in range(B):
                if row_valid(lengths, has_len, t, b):  # output is a constant 0 elsewhere
                    dh[b] += dy[t, b]
        if carry and reverse:
            save_carried(keep, dh, lengths, t)
        _step_backward(dh, dg[t], sT, hs[slot_in(not reverse, t)], w_hh, wT, lengths, has_len, t, relu)
        if carry:
            restore_carried(dh, keep, has_dh_n or reverse, lengths, t)
    N = T * B
    h_in = 1 if reverse else 0  # hs[h_in:h_in + T]: the state entering each step
    _param_grads(dx.reshape(N, I) if has_dx else dx.reshape(0, I), has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih,
                 has_db_hh, dg.reshape(N, H), x.reshape(N, I), w_ih, hs[h_in:h_in + T].reshape(N, H), False)


@_jit
def _rnn_cell_forward(h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu, has_bias_ih, has_bias_hh):
    B, H = h.shape
    _input_projection(h_new, x, w_ih, b_ih, b_hh, has_bias_ih, has_bias_hh)
    whT = _transpose_if(w_hh, B <= SMALL_BATCH)
    sT = np.empty(2 * B * H, x.dtype)
    _step_forward(h_new, h_new, False, sT, h, w_hh, whT, np.empty(0, np.int64), False, 0, relu)


@_jit
def _rnn_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih, w_hh, relu, has_dx,
                       has_db_ih, has_db_hh):
    B, H = h.shape
    dh[:] = dh_new
    wT = _transpose_if(w_hh, B > SMALL_BATCH)
    sT = np.empty(2 * B * H, x.dtype)
    _step_backward(dh, dg, sT, h_new, w_hh, wT, np.empty(0, np.int64), False, 0, relu)
    _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dg, x, w_ih, h, True)


# ------------------------------------------------------------------------------- entry points
def _opt(a, ndim, dtype):
    """An optional array: itself, or an empty array of the right rank and dtype standing for None."""
    return np.empty((0,) * ndim, dtype) if a is None else a


def rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse):
    _check.check_rnn_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _rnn_forward(y, h_n, hs, x, _opt(h0, 2, dt), w_ih, w_hh, _opt(b_ih, 1, dt), _opt(b_hh, 1, dt),
                 _opt(lengths, 1, np.int64), bool(relu), h0 is not None, b_ih is not None, b_hh is not None,
                 lengths is not None, bool(reverse))


def rnn_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs, lengths, relu, reverse):
    _check.check_rnn_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _rnn_backward(_opt(dx, 3, dt), dh0, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt), dg, _opt(dy, 3, dt),
                  _opt(dh_n, 2, dt), x, w_ih, w_hh, hs, _opt(lengths, 1, np.int64), bool(relu), dx is not None,
                  db_ih is not None, db_hh is not None, dy is not None, dh_n is not None, lengths is not None,
                  bool(reverse))


def rnn_cell_forward(h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu):
    _check.check_rnn_cell_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _rnn_cell_forward(h_new, x, h, w_ih, w_hh, _opt(b_ih, 1, dt), _opt(b_hh, 1, dt), bool(relu), b_ih is not None,
                      b_hh is not None)


def rnn_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih, w_hh, relu):
    _check.check_rnn_cell_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _rnn_cell_backward(_opt(dx, 2, dt), dh, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt), dg, dh_new, x, h,
                       h_new, w_ih, w_hh, bool(relu), dx is not None, db_ih is not None, db_hh is not None)
