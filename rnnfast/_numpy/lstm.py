"""LSTM reference kernels in NumPy. Same contract as csrc/lstm.h (read that header for shapes,
layout, gate order i, f, g, o, the cache and what is overwritten versus accumulated); written for
clarity, not speed. P is the state size: the projection size with ``w_hr``, else H."""
import numpy as np

from . import _check
from ._common import time_order
from ._common import valid as _valid


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _bias(b_ih, b_hh, G, dtype):
    b = np.zeros(G, dtype)
    if b_ih is not None:
        b = b + b_ih
    if b_hh is not None:
        b = b + b_hh
    return b


def _step_forward(g, h, c, w_hh, w_hr):
    """g (B,4H): x W_ih^T + b_ih + b_hh on entry, i|f|g|o on exit. Returns (h', c', m)."""
    H = c.shape[1]
    a = g + h @ w_hh.T
    i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H])
    gc, o = np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
    g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:] = i, f, gc, o
    c_new = f * c + i * gc
    m = o * np.tanh(c_new)
    h_new = m if w_hr is None else m @ w_hr.T
    return h_new, c_new, m


def _step_backward(dh, dc, c, c_new, g, w_hh, w_hr):
    """dh (B,P), dc (B,H): dL/dh', dL/dc'. Returns (dL/dh, dL/dc, dgates (B,4H))."""
    H = c.shape[1]
    i, f, gc, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
    dm = dh if w_hr is None else dh @ w_hr   # m = o * tanh(c')
    tc = np.tanh(c_new)
    dct = dc + dm * o * (1 - tc * tc)         # total dL/dc'
    dg = np.concatenate([dct * gc * i * (1 - i),
                         dct * c * f * (1 - f),
                         dct * i * (1 - gc * gc),
                         dm * tc * o * (1 - o)], axis=1)
    return dg @ w_hh, dct * f, dg


def lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
    _check.check_lstm_forward(**locals())  # as the bindings check: never out of bounds
    T, B, _ = x.shape
    G = w_hh.shape[0]
    first = T if reverse else 0
    hs[first] = 0 if h0 is None else h0
    cs[first] = 0 if c0 is None else c0
    gates[...] = x @ w_ih.T + _bias(b_ih, b_hh, G, x.dtype)
    for t, i, o in time_order(T, reverse):
        h_new, c_new, m = _step_forward(gates[t], hs[i], cs[i], w_hh, w_hr)
        valid = _valid(lengths, t, B)
        hs[o] = np.where(valid, h_new, hs[i])
        cs[o] = np.where(valid, c_new, cs[i])
        y[t] = np.where(valid, h_new, 0)
        if w_hr is not None:
            ms[t] = np.where(valid, m, 0)
    h_n[...] = hs[T - first]
    c_n[...] = cs[T - first]


def lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x, w_ih, w_hh,
                  w_hr, hs, cs, gates, ms, lengths, reverse):
    _check.check_lstm_backward(**locals())  # as the bindings check: never out of bounds
    T, B, I = x.shape
    G, P = w_hh.shape
    H = G // 4
    dh = np.zeros((B, P), x.dtype) if dh_n is None else dh_n.copy()
    dc = np.zeros((B, H), x.dtype) if dc_n is None else dc_n.copy()
    for t, i, o in reversed(time_order(T, reverse)):
        valid = _valid(lengths, t, B)
        up = dh if dy is None else dh + np.where(valid, dy[t], 0)
        dh_prev, dc_prev, dg = _step_backward(up, dc, cs[i], cs[o], gates[t], w_hh, w_hr)
        dgates[t] = np.where(valid, dg, 0)
        if w_hr is not None:
            dhs[t] = np.where(valid, up, 0)
        dh = np.where(valid, dh_prev, dh)
        dc = np.where(valid, dc_prev, dc)
    dh0[...] = dh
    dc0[...] = dc
    dg2 = dgates.reshape(T * B, G)
    if dx is not None:
        dx[...] = (dg2 @ w_ih).reshape(T, B, I)
    dw_ih[...] = dg2.T @ x.reshape(T * B, I)
    dw_hh[...] = dg2.T @ (hs[1:] if reverse else hs[:T]).reshape(T * B, P)
    if w_hr is not None:
        dw_hr[...] = dhs.reshape(T * B, P).T @ ms.reshape(T * B, H)
    for db in (db_ih, db_hh):
        if db is not None:
            db[...] = dg2.sum(0)


def lstm_cell_forward(h_new, c_new, gates, m, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
    _check.check_lstm_cell_forward(**locals())  # as the bindings check: never out of bounds
    gates[...] = x @ w_ih.T + _bias(b_ih, b_hh, w_hh.shape[0], x.dtype)
    hn, cn, mm = _step_forward(gates, h, c, w_hh, w_hr)
    h_new[...] = hn
    c_new[...] = cn
    if w_hr is not None:
        m[...] = mm


def lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new, dc_new, x, h, c, c_new, w_ih,
                       w_hh, w_hr, gates, m):
    """dx, dh, dc overwritten; dw_ih, dw_hh, db_ih, db_hh, dw_hr accumulated."""
    _check.check_lstm_cell_backward(**locals())  # as the bindings check: never out of bounds
    dhn = np.zeros(h.shape, x.dtype) if dh_new is None else dh_new
    dcn = np.zeros(c.shape, x.dtype) if dc_new is None else dc_new
    dh_prev, dc_prev, dg = _step_backward(dhn, dcn, c, c_new, gates, w_hh, w_hr)
    dh[...] = dh_prev
    dc[...] = dc_prev
    dgates[...] = dg
    if dx is not None:
        dx[...] = dg @ w_ih
    dw_ih += dg.T @ x
    dw_hh += dg.T @ h
    if w_hr is not None:
        dw_hr += dhn.T @ m
    for db in (db_ih, db_hh):
        if db is not None:
            db += dg.sum(0)
