"""GRU reference kernels in NumPy. Same contract as csrc/gru.h (read that header for shapes,
layout, the cache and what is overwritten versus accumulated); written for clarity, not speed."""
import numpy as np

from . import _check
from ._common import time_order
from ._common import valid as _valid


def _sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5  # = 1 / (1 + exp(-a)), without overflow


def _step_forward(g, hn, h, w_hh, b_hh, reset_after):
    """g (B,3H): x W_ih^T + b_ih on entry, r|z|n on exit; hn (B,H) cache. Returns h' (B,H)."""
    H = h.shape[1]
    bh = np.zeros(3 * H, h.dtype) if b_hh is None else b_hh
    if reset_after:
        gh = h @ w_hh.T + bh
        r = _sigmoid(g[:, :H] + gh[:, :H])
        z = _sigmoid(g[:, H:2 * H] + gh[:, H:2 * H])
        hn[...] = gh[:, 2 * H:]
        n = np.tanh(g[:, 2 * H:] + r * hn)
    else:
        gh = h @ w_hh[:2 * H].T + bh[:2 * H]
        r = _sigmoid(g[:, :H] + gh[:, :H])
        z = _sigmoid(g[:, H:2 * H] + gh[:, H:])
        hn[...] = r * h
        n = np.tanh(g[:, 2 * H:] + hn @ w_hh[2 * H:].T + bh[2 * H:])
    g[:, :H], g[:, H:2 * H], g[:, 2 * H:] = r, z, n
    return (1 - z) * n + z * h


def _step_backward(dh, h, g, hn, w_hh, reset_after):
    """dh (B,H): dL/dh' (upstream). Returns (dL/dh, dgx, dgh) with dgx, dgh (B,3H)."""
    H = h.shape[1]
    r, z, n = g[:, :H], g[:, H:2 * H], g[:, 2 * H:]
    dnp = dh * (1 - z) * (1 - n * n)          # through n = tanh(.)
    dzp = dh * (h - n) * z * (1 - z)          # through z = sigmoid(.)
    dh_prev = dh * z
    if reset_after:
        drp = dnp * hn * r * (1 - r)          # hn = W_hn h + b_hn
        dgx = np.concatenate([drp, dzp, dnp], axis=1)
        dgh = np.concatenate([drp, dzp, dnp * r], axis=1)
        dh_prev = dh_prev + dgh @ w_hh
    else:
        drh = dnp @ w_hh[2 * H:]              # d(r*h)
        drp = drh * h * r * (1 - r)
        dgx = np.concatenate([drp, dzp, dnp], axis=1)
        dgh = dgx
        dh_prev = dh_prev + drh * r + dgx[:, :2 * H] @ w_hh[:2 * H]
    return dh_prev, dgx, dgh


def gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after, reverse):
    _check.check_gru_forward(**locals())  # as the bindings check: never out of bounds
    T, B, _ = x.shape
    hs[T if reverse else 0] = 0 if h0 is None else h0
    gates[...] = x @ w_ih.T + (0 if b_ih is None else b_ih)
    for t, i, o in time_order(T, reverse):
        h_new = _step_forward(gates[t], hn[t], hs[i], w_hh, b_hh, reset_after)
        valid = _valid(lengths, t, B)
        hs[o] = np.where(valid, h_new, hs[i])
        y[t] = np.where(valid, h_new, 0)
    h_n[...] = hs[0 if reverse else T]


def gru_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih, w_hh, hs, gates,
                 hn, lengths, reset_after, reverse):
    _check.check_gru_backward(**locals())  # as the bindings check: never out of bounds
    T, B, I = x.shape
    H = w_hh.shape[1]
    dh = np.zeros((B, H), x.dtype) if dh_n is None else dh_n.copy()
    dgh_all = np.empty_like(dgx)
    for t, i, _ in reversed(time_order(T, reverse)):
        valid = _valid(lengths, t, B)
        up = dh if dy is None else dh + np.where(valid, dy[t], 0)
        dh_prev, dgx_t, dgh_t = _step_backward(up, hs[i], gates[t], hn[t], w_hh, reset_after)
        dgx[t] = np.where(valid, dgx_t, 0)
        dgh_all[t] = np.where(valid, dgh_t, 0)
        dh = np.where(valid, dh_prev, dh)
    if dgh is not None:
        dgh[...] = dgh_all
    dh0[...] = dh
    gx = dgx.reshape(T * B, 3 * H)
    gh2 = dgh_all.reshape(T * B, 3 * H)
    if dx is not None:
        dx[...] = (gx @ w_ih).reshape(T, B, I)
    dw_ih[...] = gx.T @ x.reshape(T * B, I)
    hprev = (hs[1:] if reverse else hs[:T]).reshape(T * B, H)
    if reset_after:
        dw_hh[...] = gh2.T @ hprev
    else:
        dw_hh[:2 * H] = gx[:, :2 * H].T @ hprev
        dw_hh[2 * H:] = gx[:, 2 * H:].T @ hn.reshape(T * B, H)
    if db_ih is not None:
        db_ih[...] = gx.sum(0)
    if db_hh is not None:
        db_hh[...] = gh2.sum(0)


def gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after):
    _check.check_gru_cell_forward(**locals())  # as the bindings check: never out of bounds
    gates[...] = x @ w_ih.T + (0 if b_ih is None else b_ih)
    h_new[...] = _step_forward(gates, hn, h, w_hh, b_hh, reset_after)


def gru_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h, w_ih, w_hh, gates,
                      hn, reset_after):
    """dx, dh overwritten; dw_ih, dw_hh, db_ih, db_hh accumulated."""
    _check.check_gru_cell_backward(**locals())  # as the bindings check: never out of bounds
    H = h.shape[1]
    dh_prev, dgx_, dgh_ = _step_backward(dh_new, h, gates, hn, w_hh, reset_after)
    dh[...] = dh_prev
    dgx[...] = dgx_
    if dgh is not None:
        dgh[...] = dgh_
    if dx is not None:
        dx[...] = dgx_ @ w_ih
    dw_ih += dgx_.T @ x
    if reset_after:
        dw_hh += dgh_.T @ h
    else:
        dw_hh[:2 * H] += dgx_[:, :2 * H].T @ h
        dw_hh[2 * H:] += dgx_[:, 2 * H:].T @ hn
    if db_ih is not None:
        db_ih += dgx_.sum(0)
    if db_hh is not None:
        db_hh += dgh_.sum(0)
