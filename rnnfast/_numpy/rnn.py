"""Elman RNN reference kernels in NumPy. Same contract as csrc/rnn.h (read that header for shapes,
layout, the cache and what is overwritten versus accumulated); written for clarity, not speed."""
import numpy as np

from . import _check
from ._common import time_order
from ._common import valid as _valid


def _bias(b_ih, b_hh, H, dtype):
    b = np.zeros(H, dtype)
    if b_ih is not None:
        b = b + b_ih
    if b_hh is not None:
        b = b + b_hh
    return b


def _act(a, relu):
    return np.maximum(a, 0) if relu else np.tanh(a)


def _dact_mul(up, h_new, relu):
    """up times the derivative of the activation, from its output. ReLU selects (as torch's
    threshold_backward) instead of multiplying by 0/1, so an inf upstream gradient of a row whose
    pre-activation was <= 0 gives 0, not inf * 0 = NaN."""
    return np.where(h_new > 0, up, 0).astype(h_new.dtype, copy=False) if relu else up * (1 - h_new * h_new)


def rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse):
    _check.check_rnn_forward(**locals())  # as the bindings check: never out of bounds
    T, B, _ = x.shape
    H = w_hh.shape[0]
    hs[T if reverse else 0] = 0 if h0 is None else h0
    a = x @ w_ih.T + _bias(b_ih, b_hh, H, x.dtype)
    for t, i, o in time_order(T, reverse):
        h_new = _act(a[t] + hs[i] @ w_hh.T, relu)
        valid = _valid(lengths, t, B)
        hs[o] = np.where(valid, h_new, hs[i])
        y[t] = np.where(valid, h_new, 0)
    h_n[...] = hs[0 if reverse else T]


def rnn_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs, lengths, relu, reverse):
    _check.check_rnn_backward(**locals())  # as the bindings check: never out of bounds
    T, B, I = x.shape
    H = w_hh.shape[0]
    dh = np.zeros((B, H), x.dtype) if dh_n is None else dh_n.copy()
    for t, _, o in reversed(time_order(T, reverse)):
        valid = _valid(lengths, t, B)
        up = dh if dy is None else dh + np.where(valid, dy[t], 0)
        dg[t] = np.where(valid, _dact_mul(up, hs[o], relu), 0)
        dh = np.where(valid, dg[t] @ w_hh, dh)
    dh0[...] = dh
    dg2 = dg.reshape(T * B, H)
    if dx is not None:
        dx[...] = (dg2 @ w_ih).reshape(T, B, I)
    dw_ih[...] = dg2.T @ x.reshape(T * B, I)
    dw_hh[...] = dg2.T @ (hs[1:] if reverse else hs[:T]).reshape(T * B, H)
    for db in (db_ih, db_hh):
        if db is not None:
            db[...] = dg2.sum(0)


def rnn_cell_forward(h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu):
    _check.check_rnn_cell_forward(**locals())  # as the bindings check: never out of bounds
    H = w_hh.shape[0]
    h_new[...] = _act(x @ w_ih.T + _bias(b_ih, b_hh, H, x.dtype) + h @ w_hh.T, relu)


def rnn_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih, w_hh, relu):
    """dx, dh overwritten; dw_ih, dw_hh, db_ih, db_hh accumulated."""
    _check.check_rnn_cell_backward(**locals())  # as the bindings check: never out of bounds
    dg[...] = _dact_mul(dh_new, h_new, relu)
    dh[...] = dg @ w_hh
    if dx is not None:
        dx[...] = dg @ w_ih
    dw_ih += dg.T @ x
    dw_hh += dg.T @ h
    for db in (db_ih, db_hh):
        if db is not None:
            db += dg.sum(0)
