"""GRU kernels jitted with numba, mirroring csrc/gru.cpp function by function (same names, same
phases), with the signatures of rnnfast._core (read csrc/gru.h for shapes, layout, gate order
r, z, n, the cache and what is overwritten versus accumulated).

The public functions at the bottom play the part of the bindings: they turn optional arguments
(None) into empty arrays plus flags, so that each kernel compiles once per dtype, then call the
jitted kernel. Matrix products go through SciPy's BLAS (numba's np.dot); the element-wise gate
loops are plain loops that LLVM vectorises, with the vector math of _vmath.py.
"""
import numpy as np
from numba import njit

from .._numpy import _check
from ._common import restore_carried, row_valid, save_carried, slot_in, time_at, transpose
from ._vmath import like, vsigmoid, vtanh

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _step_forward(h_new, y, has_y, g, hn, gh, ghT, h, w_hh, b_hh, lengths, has_len, t, reset_after):
    """One step (gru.cpp step_forward). g (B,3H): on entry x W_ih^T + b_ih, on exit r, z, n.
    b_hh (3H,) is zeros when the model has no bias (the entry points pass that). ghT: flat scratch of
    B*3H for the transposed recurrent product W_hh h^T (the weight on the BLAS' cheaper side)."""
    B, H = h.shape
    G = 3 * H
    Gh = G if reset_after else 2 * H  # reset_after=false: r, z blocks now, n block after r
    sT = ghT[:Gh * B].reshape(Gh, B)
    if B == 1:  # a matrix-vector product (?gemv, as the C++ BLAS wrapper for one row)
        np.dot(w_hh[:Gh], h[0], ghT[:Gh])
    else:
        np.dot(w_hh[:Gh], h.T, sT)  # ghT = W_hh h^T
    transpose(gh[:, :Gh], sT, False)  # gh = h W_hh^T
    for b in range(B):
        gb = g[b]
        hb = h[b]
        ghb = gh[b]
        hnb = hn[b]
        # r and z in one loop over 2H (gru.cpp: one loop over H for both blocks): LLVM cannot prove that
        # stores H apart in one row do not overlap and vectorises only loops with few such pairs.
        for j in range(2 * H):
            gb[j] = vsigmoid(gb[j] + ghb[j] + b_hh[j])
        if reset_after:
            for j in range(H):
                v = ghb[2 * H + j] + b_hh[2 * H + j]
                hnb[j] = v
                ghb[2 * H + j] = gb[j] * v  # r * (h W_hn^T + b_hn), read back below (see there)
        else:
            for j in range(H):
                hnb[j] = gb[j] * hb[j]  # r * h, the input of W_hn
    if not reset_after:  # gh[:, 2H:] = (r*h) W_hn^T
        sT = ghT[:H * B].reshape(H, B)
        np.dot(w_hh[2 * H:], hn.T, sT)
        transpose(gh[:, 2 * H:], sT, False)
    for b in range(B):
        gb = g[b]
        hb = h[b]
        out = h_new[b]
        if not row_valid(lengths, has_len, t, b):  # carry the state, output zero
            out[:] = hb
            if has_y:
                y[b] = 0
            continue
        ghb = gh[b]
        if reset_after:  # n = tanh(x_n + r * hn); the product comes from gh: a loop that stores to
            # g[b, 2H + j] and loads g[b, j] (unknown distance) does not vectorise (4x slower)
            for j in range(H):
                gb[2 * H + j] = vtanh(gb[2 * H + j] + ghb[2 * H + j])
        else:
            for j in range(H):
                gb[2 * H + j] = vtanh(gb[2 * H + j] + ghb[2 * H + j] + b_hh[2 * H + j])
        for j in range(H):
            n = gb[2 * H + j]
            out[j] = n + gb[H + j] * (hb[j] - n)
        if has_y:
            y[b] = out


@_jit
def _step_backward(dh, dgx, dgh, dtmp, sT, h, g, hn, w, lengths, has_len, t, reset_after, w_untransposed):
    """One step backward (gru.cpp step_backward). dh (B,H): on entry dL/dh', on exit dL/dh.
    w (H,3H) = W_hh^T, or W_hh itself (3H,H) when w_untransposed (one-row cell steps, where the BLAS
    reads it in place, and always for reset_after=false); sT: flat scratch of 3*B*H (B*H for reset_after)."""
    B, H = h.shape
    G = 3 * H
    c1 = like(1, g)  # 1 in the arrays' dtype (an int literal would promote float32 math to float64)
    for b in range(B):
        dxb = dgx[b]
        dhb = dh[b]
        if not row_valid(lengths, has_len, t, b):  # state carried: dh passes through
            dxb[:] = 0
            if reset_after:
                dgh[b] = 0
            continue
        gb = g[b]
        hb = h[b]
        hnb = hn[b]
        # gru.cpp's loop split in one loop per output block (see step_forward on vectorisation)
        for j in range(H):  # n block: dn_pre
            z = gb[H + j]
            n = gb[2 * H + j]
            dxb[2 * H + j] = dhb[j] * (c1 - z) * (c1 - n * n)
        for j in range(H):  # z block
            z = gb[H + j]
            dxb[H + j] = dhb[j] * (hb[j] - gb[2 * H + j]) * z * (c1 - z)
        if reset_after:
            dghb = dgh[b]
            for j in range(H):  # r block: dr_pre = dn_pre * (h W_hn^T + b_hn) * r (1 - r), dn_pre
                # recomputed (loading dgx[b, 2H + j] in a loop that stores dgx[b, j] would not vectorise)
                r = gb[j]
                z = gb[H + j]
                n = gb[2 * H + j]
                dxb[j] = dhb[j] * (c1 - z) * (c1 - n * n) * hnb[j] * r * (c1 - r)
            for j in range(H):
                dghb[j] = dxb[j]
            for j in range(H):
                dghb[H + j] = dxb[H + j]
            for j in range(H):
                dghb[2 * H + j] = dxb[2 * H + j] * gb[j]
        for j in range(H):
            dhb[j] = dhb[j] * gb[H + j]
    s = sT[:H * B].reshape(H, B)
    if reset_after:  # dh += dgh W_hh, computed as (W_hh^T dgh^T)^T
        if B == 1:  # matrix-vector products (?gemv)
            if w_untransposed:
                np.dot(dgh[0], w, sT[:H])
            else:
                np.dot(w, dgh[0], sT[:H])
        elif w_untransposed:
            np.dot(w.T, dgh.T, s)
        else:
            np.dot(w, dgh.T, s)
        transpose(dh, s, True)
        return
    # reset_after = false: d(r*h) = dn_pre W_hn, then the r block, then dh += [dr, dz] W_hh[:2H].
    # np.dot takes no leading dimension: the column blocks of dgx are copied into sT, and the weight
    # blocks are rows of W_hh itself (w untransposed: the entry points pass W_hh for reset_after=false).
    a = sT[H * B:2 * H * B].reshape(B, H)
    a[:, :] = dgx[:, 2 * H:]
    np.dot(w[2 * H:].T, a.T, s)
    transpose(dtmp, s, False)
    for b in range(B):
        if not row_valid(lengths, has_len, t, b):
            continue
        gb = g[b]
        hb = h[b]
        drh = dtmp[b]
        dxr = dgx[b]
        dhb = dh[b]
        for j in range(H):
            r = gb[j]
            dxr[j] = drh[j] * hb[j] * r * (c1 - r)
            dhb[j] += drh[j] * r
    a2 = sT[H * B:3 * H * B].reshape(B, 2 * H)
    a2[:, :] = dgx[:, :2 * H]
    np.dot(w[:2 * H].T, a2.T, s)
    transpose(dh, s, True)


@_jit
def _colsum(db, d, ones, accumulate):
    """db (G,) (+)= column sums of d (N, G), as the BLAS product 1^T d (gru.cpp colsum); ones (N,)."""
    if accumulate:
        db += np.dot(ones, d)
    else:
        np.dot(ones, d, db)


@_jit
def _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dgx, dgh, x, w_ih, hs, hn,
                 reset_after, accumulate):
    """Weight, bias and input gradients from the gate gradients of N = T*B rows (gru.cpp param_grads)."""
    H = dw_hh.shape[1]
    if accumulate:
        dw_ih += np.dot(dgx.T, x)
        if reset_after:
            dw_hh += np.dot(dgh.T, hs)
        else:
            dw_hh[:2 * H] += np.dot(np.ascontiguousarray(dgx[:, :2 * H]).T, hs)
            dw_hh[2 * H:] += np.dot(np.ascontiguousarray(dgx[:, 2 * H:]).T, hn)
    else:
        np.dot(dgx.T, x, dw_ih)
        if reset_after:
            np.dot(dgh.T, hs, dw_hh)
        else:
            np.dot(np.ascontiguousarray(dgx[:, :2 * H]).T, hs, dw_hh[:2 * H])
            np.dot(np.ascontiguousarray(dgx[:, 2 * H:]).T, hn, dw_hh[2 * H:])
    if has_dx:
        np.dot(dgx, w_ih, dx)
    if not (has_db_ih or has_db_hh):
        return
    ones = np.ones(dgx.shape[0], dgx.dtype)
    if has_db_ih:
        _colsum(db_ih, dgx, ones, accumulate)
    if not has_db_hh:
        return
    if not reset_after:  # both biases enter the same pre-activations
        if has_db_ih and not accumulate:
            db_hh[:] = db_ih
        else:
            _colsum(db_hh, dgx, ones, accumulate)
        return
    # reset_after: dgh equals dgx in the r and z blocks; only the n block differs
    if has_db_ih and not accumulate:
        db_hh[:2 * H] = db_ih[:2 * H]
        db_hh[2 * H:] = np.dot(ones, dgh)[2 * H:]
    else:
        _colsum(db_hh, dgh, ones, accumulate)


@_jit
def _input_projection(gates, x, w_ih, b_ih, has_bias_ih):
    """gates (N,3H) = x W_ih^T + b_ih."""
    np.dot(x, w_ih.T, gates)
    if has_bias_ih:
        for i in range(gates.shape[0]):
            gates[i] += b_ih


@_jit
def _gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, has_h0, has_bias_ih, has_len,
                 reset_after, reverse):
    T, B, I = x.shape
    G = gates.shape[2]
    first = T if reverse else 0  # slot of h0 (recurrent.h TimeOrder)
    if has_h0:
        hs[first] = h0
    else:
        hs[first] = 0
    _input_projection(gates.reshape(T * B, G), x.reshape(T * B, I), w_ih, b_ih, has_bias_ih)
    sT = np.empty(B * G, x.dtype)
    for s in range(T):
        t = time_at(T, reverse, s)
        _step_forward(hs[slot_in(not reverse, t)], y[t], True, gates[t], hn[t], gh, sT, hs[slot_in(reverse, t)], w_hh,
                      b_hh, lengths, has_len, t, reset_after)
    h_n[:] = hs[T - first]


@_jit
def _gru_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih, w_hh, hs, gates, hn,
                  lengths, has_dx, has_db_ih, has_db_hh, has_dy, has_dh_n, has_len, reset_after, reverse):
    T, B, I = x.shape
    H = w_hh.shape[1]
    G = 3 * H
    dh = dh0  # running dL/dh, ends as dL/dh0
    if has_dh_n:
        dh[:] = dh_n
    else:
        dh[:] = 0
    sT = np.empty(3 * B * H, x.dtype)
    # (H,3H) = W_hh^T, once per call; reset_after=false multiplies by row blocks of W_hh instead
    wT = np.ascontiguousarray(w_hh.T) if reset_after else w_hh
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
        _step_backward(dh, dgx[t], dgh[t] if reset_after else dgh[0], dtmp, sT, hs[slot_in(reverse, t)], gates[t],
                       hn[t], wT, lengths, has_len, t, reset_after, not reset_after)
        if carry:
            restore_carried(dh, keep, has_dh_n or reverse, lengths, t)
    N = T * B
    h_in = 1 if reverse else 0  # hs[h_in:h_in + T]: the state entering each step
    _param_grads(dx.reshape(N, I) if has_dx else dx.reshape(0, I), has_dx, dw_ih, dw_hh, db_ih, db_hh,
                 has_db_ih, has_db_hh, dgx.reshape(N, G), dgh.reshape(dgh.shape[0] * dgh.shape[1], G),
                 x.reshape(N, I), w_ih,
                 hs[h_in:h_in + T].reshape(N, H), hn.reshape(N, H), reset_after, False)


@_jit
def _gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, has_bias_ih, reset_after):
    B = x.shape[0]
    _input_projection(gates, x, w_ih, b_ih, has_bias_ih)
    sT = np.empty(B * gates.shape[1], x.dtype)
    _step_forward(h_new, h_new, False, gates, hn, gh, sT, h, w_hh, b_hh, np.empty(0, np.int64), False, 0,
                  reset_after)


@_jit
def _gru_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h, w_ih, w_hh, gates, hn,
                       has_dx, has_db_ih, has_db_hh, reset_after):
    B, H = h.shape
    dh[:] = dh_new
    # One row: the products with W_hh^T are matrix-vector products that read W_hh in place;
    # transposing W_hh first would cost more than the whole step. reset_after=false: see _step_backward.
    in_place = B == 1 or not reset_after
    sT = np.empty(3 * B * H, x.dtype)
    _step_backward(dh, dgx, dgh, dtmp, sT, h, gates, hn, w_hh if in_place else np.ascontiguousarray(w_hh.T),
                   np.empty(0, np.int64), False, 0, reset_after, in_place)
    _param_grads(dx, has_dx, dw_ih, dw_hh, db_ih, db_hh, has_db_ih, has_db_hh, dgx, dgh, x, w_ih, h, hn,
                 reset_after, True)


# ------------------------------------------------------------------------------- entry points
def _opt(a, ndim, dtype):
    """An optional array: itself, or an empty array of the right rank and dtype standing for None."""
    return np.empty((0,) * ndim, dtype) if a is None else a


def _bias(b, w_hh):
    """b_hh, or zeros (3H,) when the model has none (the gate loops then need no branch)."""
    return np.zeros(w_hh.shape[0], w_hh.dtype) if b is None else b


def gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after, reverse):
    _check.check_gru_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _gru_forward(y, h_n, hs, gates, hn, gh, x, _opt(h0, 2, dt), w_ih, w_hh, _opt(b_ih, 1, dt), _bias(b_hh, w_hh),
                 _opt(lengths, 1, np.int64), h0 is not None, b_ih is not None, lengths is not None,
                 bool(reset_after), bool(reverse))


def gru_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih, w_hh, hs, gates, hn,
                 lengths, reset_after, reverse):
    _check.check_gru_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _gru_backward(_opt(dx, 3, dt), dh0, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt), dgx,
                  dgx[:1] if dgh is None else dgh, dtmp, _opt(dy, 3, dt), _opt(dh_n, 2, dt), x, w_ih, w_hh, hs,
                  gates, hn, _opt(lengths, 1, np.int64), dx is not None, db_ih is not None, db_hh is not None,
                  dy is not None, dh_n is not None, lengths is not None, bool(reset_after), bool(reverse))


def gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after):
    _check.check_gru_cell_forward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, _opt(b_ih, 1, dt), _bias(b_hh, w_hh),
                      b_ih is not None, bool(reset_after))


def gru_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h, w_ih, w_hh, gates, hn,
                      reset_after):
    _check.check_gru_cell_backward(**locals())  # as the bindings check: never out of bounds
    dt = x.dtype
    _gru_cell_backward(_opt(dx, 2, dt), dh, dw_ih, dw_hh, _opt(db_ih, 1, dt), _opt(db_hh, 1, dt), dgx,
                       dgx if dgh is None else dgh, dtmp, dh_new, x, h, w_ih, w_hh, gates, hn, dx is not None,
                       db_ih is not None, db_hh is not None, bool(reset_after))
