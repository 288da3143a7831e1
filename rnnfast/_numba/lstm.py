"""LSTM kernels jitted with numba, mirroring csrc/lstm.cpp function by function (same names, same
phases, same small-batch/BLAS split), with the signatures of rnnfast._core (read csrc/lstm.h for
shapes, layout, gate order i, f, g, o, the cache and what is overwritten versus accumulated).

The public functions at the bottom play the part of the bindings: they turn optional arguments
(None) into empty arrays plus flags, so that each kernel compiles once per dtype, then call the
jitted kernel. Matrix products go through SciPy's BLAS (numba's np.dot), element-wise loops are
plain loops that LLVM vectorises.
"""
import numpy as np
from numba import njit

from .._numpy import _check
from ._common import mul_wT as _mul_wT
from ._common import restore_carried, row_valid, save_carried, slot_in, time_at, transpose
from ._vmath import like, vsigmoid, vtanh

_jit = njit(cache=True, nogil=True, error_model="numpy")

SMALL_BATCH = 1  # batches up to this size use _small_matmul for the per-step products (as lstm.cpp)


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
    """out (B,N) (+)= inp (B,K) W^T given W (N,K) (BLAS path) and Wt = W^T (small-batch path);
    sT: flat scratch of at least B*(N+K)."""
    if inp.shape[0] <= SMALL_BATCH:
        _small_matmul(out, inp, Wt, accumulate)
    else:
        _mul_wT(out, inp, W, sT, accumulate)


@_jit
def _input_projection(gates, x, w_ih, b_ih, b_hh, has_bias_ih, has_bias_hh):
    """gates (N,4H) = x W_ih^T + b_ih + b_hh."""
    np.dot(x, w_ih.T, gates)
    if has_bias_ih or has_bias_hh:
        G = gates.shape[1]
        bias = np.zeros(G, gates.dtype)
        if has_bias_ih:
            bias += b_ih
        if has_bias_hh:
            bias += b_hh
        for i in range(gates.shape[0]):
            gates[i] += bias


@_jit
def _step_forward(h_new, c_new, y, has_y, g, m, sT, h, c, w_hh, whT, w_hr, wrT, has_proj, lengths, has_len, t):
    """One step forward (lstm.cpp step_forward): g (B,4H) in: input part, out: i, f, g, o."""
    B, H = c.shape
    _rec_product(g, h, w_hh, whT, sT, True)  # g += h W_hh^T
    for b in range(B):
        if not row_valid(lengths, has_len, t, b):  # carry the states, output zero
            c_new[b] = c[b]
            if has_proj:
                m[b] = 0
            else:
                h_new[b] = h[b]
                if has_y:
                    y[b] = 0
            continue
        gb = g[b]
        mb = m[b] if has_proj else h_new[b]  # without a projection h' = m
        cb = c[b]
        cn = c_new[b]
        # The C++ loop of lstm.cpp split in simple loops: LLVM cannot prove that stores to blocks of one
        # row H apart do not overlap, and vectorises a loop only with few such pairs (runtime checks).
        # (loops from 0: LLVM did not vectorise `for j in range(2 * H, 3 * H)`)
        for j in range(2 * H):
            gb[j] = vsigmoid(gb[j])  # i, f
        for j in range(H):
            gb[2 * H + j] = vtanh(gb[2 * H + j])  # g
        for j in range(H):
            gb[3 * H + j] = vsigmoid(gb[3 * H + j])  # o
        for j in range(H):
            cv = gb[H + j] * cb[j] + gb[j] * gb[2 * H + j]
            cn[j] = cv
            mb[j] = gb[3 * H + j] * vtanh(cv)
        if not has_proj and has_y:
            y[b] = mb
    if not has_proj:
        return
    _rec_product(h_new, m, w_hr, wrT, sT, False)  # h' = m W_hr^T
    for b in range(B):
        if not row_valid(lengths, has_len, t, b):
            h_new[b] = h[b]
            if has_y:
                y[b] = 0
        elif has_y:
            y[b] = h_new[b]


@_jit
def _step_backward(dh, dc, dg, dhp, dm, sT, c, c_new, g, w_hh, wT, w_hr, wrT, has_proj, lengths, has_len, t):
    """One step backward (lstm.cpp step_backward): dh, dc in: dL/dh', dL/dc'; out: dL/dh, dL/dc."""
    B, H = c.shape
    c1 = like(1, c)  # 1 in the arrays' dtype (an int literal would promote float32 math to float64)
    if has_proj:  # dm = dh W_hr
        for b in range(B):
            if row_valid(lengths, has_len, t, b):
                dhp[b] = dh[b]
            else:
                dhp[b] = 0
        _rec_product(dm, dh, wrT, w_hr, sT, False)
    else:
        dm = dh  # h' = m
    for b in range(B):
        if not row_valid(lengths, has_len, t, b):  # states carried: dh, dc pass through
            dg[b] = 0
            continue
        gb = g[b]
        dgb = dg[b]
        cb = c[b]
        cn = c_new[b]
        dmb = dm[b]
        dcb = dc[b]
        # lstm.cpp's loop split in simple loops (one output block each, see step_forward);
        # dcb holds the total dL/dc' in between.
        for j in range(H):
            o = gb[3 * H + j]
            tc = vtanh(cn[j])
            dmj = dmb[j]
            dcb[j] = dcb[j] + dmj * o * (c1 - tc * tc)  # total dL/dc'
            dgb[3 * H + j] = dmj * tc * o * (c1 - o)
        for j in range(H):
            i = gb[j]
            dgb[j] = dcb[j] * gb[2 * H + j] * i * (c1 - i)
        for j in range(H):
            f = gb[H + j]
            dgb[H + j] = dcb[j] * cb[j] * f * (c1 - f)
        for j in range(H):
            gc = gb[2 * H + j]
            dgb[2 * H + j] = dcb[j] * gb[j] * (c1 - gc * gc)
        for j in range(H):
            dcb[j] = dcb[j] * gb[H + j]
        dh[b] = 0  # h enters the step only through the gates
    _rec_product(dh, dg, wT, w_hh, sT, True)  # dh += dg W_hh


@_jit
def _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dw_hr, has_proj, dg, dhp, x, w_ih,
                 hs, ms, accumulate):
    """Weight, bias and input gradients from the gate gradients dg (N,4H) (lstm.cpp param_grads)."""
    G = dg.shape[1]
    if accumulate:
        dw_ih += np.dot(dg.T, x)
        dw_hh += np.dot(dg.T, hs)
        if has_proj:
            dw_hr += np.dot(dhp.T, ms)
    else:
        np.dot(dg.T, x, dw_ih)
        np.dot(dg.T, hs, dw_hh)
        if has_proj:
            np.dot(dhp.T, ms, dw_hr)
    if has_dx:
        np.dot(dg, w_ih, dx)
    if has_db_ih or has_db_hh:  # both biases get the same gradient: one pass over dg
        dbsum = np.zeros(G, dg.dtype)
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
def _transposes(w_hh, w_hr, has_proj, needed):
    """W_hh^T and W_hr^T when the chosen per-step path needs them, else empty (lstm.cpp CallScratch)."""
    if needed:
        whT = np.ascontiguousarray(w_hh.T)
        wrT = np.ascontiguousarray(w_hr.T) if has_proj else np.empty((0, 0), w_hh.dtype)
    else:
        whT = np.empty((0, 0), w_hh.dtype)
        wrT = np.empty((0, 0), w_hh.dtype)
    return whT, wrT


@_jit
def _lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, has_h0, has_c0,
                  has_bias_ih, has_bias_hh, has_proj, has_len, reverse):
    T, B, I = x.shape
    G = gates.shape[2]
    P = hs.shape[2]
    first = T if reverse else 0  # slot of h0 (recurrent.h TimeOrder)
    if has_h0:
        hs[first] = h0
    else:
        hs[first] = 0
    if has_c0:
        cs[first] = c0
    else:
        cs[first] = 0
    _input_projection(gates.reshape(T * B, G), x.reshape(T * B, I), w_ih, b_ih, b_hh, has_bias_ih, has_bias_hh)
    whT, wrT = _transposes(w_hh, w_hr, has_proj, B <= SMALL_BATCH)
    sT = np.empty(2 * B * max(G, P), x.dtype)
    for s in range(T):
        t = time_at(T, reverse, s)
        i, o = slot_in(reverse, t), slot_in(not reverse, t)
        _step_forward(hs[o], cs[o], y[t], True, gates[t], ms[t] if has_proj else ms[0], sT, hs[i], cs[i],
                      w_hh, whT, w_hr, wrT, has_proj, lengths, has_len, t)
    h_n[:] = hs[T - first]
    c_n[:] = cs[T - first]


@_jit
def _lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x, w_ih, w_hh,
                   w_hr, hs, cs, gates, ms, lengths, has_dx, has_db_ih, has_db_hh, has_proj, has_dy, has_dh_n,
                   has_dc_n, has_len, reverse):
    T, B, I = x.shape
    G = dgates.shape[2]
    P = hs.shape[2]
    H = cs.shape[2]
    dh = dh0  # running dL/dh and dL/dc, end as dL/dh0 and dL/dc0
    dc = dc0
    if has_dh_n:
        dh[:] = dh_n
    else:
        dh[:] = 0
    if has_dc_n:
        dc[:] = dc_n
    else:
        dc[:] = 0
    wT, wrT = _transposes(w_hh, w_hr, has_proj, B > SMALL_BATCH)
    dm = np.empty((B, H), x.dtype)
    sT = np.empty(2 * B * max(G, P), x.dtype)
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
        _step_backward(dh, dc, dgates[t], dhs[t] if has_proj else dhs[0], dm, sT, cs[slot_in(reverse, t)],
                       cs[slot_in(not reverse, t)], gates[t], w_hh, wT, w_hr, wrT, has_proj, lengths, has_len, t)
        if carry:
            restore_carried(dh, keep, has_dh_n or reverse, lengths, t)
    N = T * B
    h_in = 1 if reverse else 0  # hs[h_in:h_in + T]: the state entering each step
    _param_grads(dx.reshape(N, I) if has_dx else dx.reshape(0, I), has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dw_hr, has_proj,
                 dgates.reshape(N, G), dhs.reshape(-1, P), x.reshape(N, I), w_ih,
                 hs[h_in:h_in + T].reshape(N, P),
                 ms.reshape(-1, H), False)


@_jit
def _lstm_cell_forward(h_new, c_new, gates, m, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, has_bias_ih, has_bias_hh,
                       has_proj):
    B = x.shape[0]
    G = gates.shape[1]
    P = h.shape[1]
    _input_projection(gates, x, w_ih, b_ih, b_hh, has_bias_ih, has_bias_hh)
    whT, wrT = _transposes(w_hh, w_hr, has_proj, B <= SMALL_BATCH)
    sT = np.empty(2 * B * max(G, P), x.dtype)
    _step_forward(h_new, c_new, h_new, False, gates, m, sT, h, c, w_hh, whT, w_hr, wrT, has_proj,
                  np.empty(0, np.int64), False, 0)


@_jit
def _lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new, dc_new, x, h, c, c_new,
                        w_ih, w_hh, w_hr, gates, m, has_dx, has_db_ih, has_db_hh, has_proj, has_dh_new, has_dc_new):
    B = x.shape[0]
    G = dgates.shape[1]
    P = h.shape[1]
    H = c.shape[1]
    if has_dh_new:
        dh[:] = dh_new
    else:
        dh[:] = 0
    if has_dc_new:
        dc[:] = dc_new
    else:
        dc[:] = 0
    wT, wrT = _transposes(w_hh, w_hr, has_proj, B > SMALL_BATCH)
    dhp = np.empty((B, P), x.dtype)
    dm = np.empty((B, H), x.dtype)
    sT = np.empty(2 * B * max(G, P), x.dtype)
    _step_backward(dh, dc, dgates, dhp, dm, sT, c, c_new, gates, w_hh, wT, w_hr, wrT, has_proj,
                   np.empty(0, np.int64), False, 0)
    _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dw_hr, has_proj, dgates, dhp, x, w_ih,
                 h, m, True)


# ------------------------------------------------------------------------------- entry points
def _opt(a, ndim, dtype):
    """An optional array: itself, or an empty array of the right rank and dtype standing for None."""
    return np.empty((0,) * ndim, dtype) if a is None else a


def lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
    _check.check_lstm_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _lstm_forward(y, h_n, c_n, hs, cs, gates, _opt(ms, 3, dt) if w_hr is not None else np.empty((1, 0, 0), dt),
                  x, _opt(h0, 2, dt), _opt(c0, 2, dt), w_ih, w_hh, _opt(b_ih, 1, dt), _opt(b_hh, 1, dt),
                  _opt(w_hr, 2, dt), _opt(lengths, 1, np.int64), h0 is not None, c0 is not None, b_ih is not None,
                  b_hh is not None, w_hr is not None, lengths is not None, bool(reverse))


def lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x, w_ih, w_hh, w_hr,
                  hs, cs, gates, ms, lengths, reverse):
    _check.check_lstm_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    proj = w_hr is not None
    _lstm_backward(_opt(dx, 3, dt), dh0, dc0, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt),
                   _opt(dw_hr, 2, dt), dgates, dhs if proj else np.empty((1, 0, 0), dt), _opt(dy, 3, dt),
                   _opt(dh_n, 2, dt), _opt(dc_n, 2, dt), x, w_ih, w_hh, _opt(w_hr, 2, dt), hs, cs, gates,
                   ms if proj else np.empty((1, 0, 0), dt), _opt(lengths, 1, np.int64), dx is not None,
                   db_ih is not None, db_hh is not None, proj, dy is not None, dh_n is not None, dc_n is not None,
                   lengths is not None, bool(reverse))


def lstm_cell_forward(h_new, c_new, gates, m, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
    _check.check_lstm_cell_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _lstm_cell_forward(h_new, c_new, gates, _opt(m, 2, dt), x, h, c, w_ih, w_hh, _opt(b_ih, 1, dt),
                       _opt(b_hh, 1, dt), _opt(w_hr, 2, dt), b_ih is not None, b_hh is not None, w_hr is not None)


def lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new, dc_new, x, h, c, c_new, w_ih,
                       w_hh, w_hr, gates, m):
    _check.check_lstm_cell_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _lstm_cell_backward(_opt(dx, 2, dt), dh, dc, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt),
                        _opt(dw_hr, 2, dt), dgates, _opt(dh_new, 2, dt), _opt(dc_new, 2, dt), x, h, c, c_new, w_ih,
                        w_hh, _opt(w_hr, 2, dt), gates, _opt(m, 2, dt), dx is not None, db_ih is not None,
                        db_hh is not None, w_hr is not None, dh_new is not None, dc_new is not None)
