"""The recurrences written with torch operations (twice differentiable), for backward with
``create_graph=True``: the Functions in :mod:`rnnfast.torch._functions` differentiate these instead of
calling the kernels then. Same signatures as the Functions' tensor arguments; ``lengths`` is a (B,) int64
NumPy array or None (past a sequence's length the state is carried and the output is zero)."""
from __future__ import annotations

import torch


def _lin(x, w, b):
    y = x @ w.t()
    return y if b is None else y + b


def _reverse_index(x, lengths):
    T, B = x.shape[:2]
    t = torch.arange(T).view(T, 1)
    if lengths is None:
        return (T - 1 - t).expand(T, B)
    L = torch.as_tensor(lengths).view(1, B)
    return torch.where(t < L, L - 1 - t, t)


def _take(a, idx):
    return a.gather(0, idx.view(idx.shape + (1,) * (a.dim() - 2)).expand_as(a))


def _zeros(like, B, n):
    return torch.zeros(B, n, dtype=like.dtype)


def _run(step, x, states, lengths, reverse):
    """Unroll ``step(x_t, states) -> (y_t, new states)`` over time with length masks and reversal."""
    T, B = x.shape[:2]
    idx = _reverse_index(x, lengths) if reverse else None
    if reverse:
        x = _take(x, idx)
    L = None if lengths is None else torch.as_tensor(lengths).view(B, 1)
    ys = []
    for t in range(T):
        y, new = step(x[t], states)
        if L is not None:
            m = t < L
            new = tuple(torch.where(m, n, s) for n, s in zip(new, states))
            y = torch.where(m, y, torch.zeros_like(y))
        states = new
        ys.append(y)
    y = torch.stack(ys) if ys else x.new_zeros((0, B, states[0].shape[1]))
    if reverse:
        y = _take(y, idx)
    return (y,) + tuple(states)


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    H = w_hh.shape[1]
    if h is None:
        h = _zeros(x, x.shape[0], H)
    gx, gh = _lin(x, w_ih, b_ih), _lin(h, w_hh, b_hh)
    r = torch.sigmoid(gx[:, :H] + gh[:, :H])
    z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    if h is None:
        h = _zeros(x, x.shape[0], w_hh.shape[1])
    a = _lin(x, w_ih, b_ih) + _lin(h, w_hh, b_hh)
    return torch.relu(a) if nonlinearity == "relu" else torch.tanh(a)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    H = w_hh.shape[0] // 4
    B = x.shape[0]
    if h is None:
        h = _zeros(x, B, w_hh.shape[1])
    if c is None:
        c = _zeros(x, B, H)
    g = _lin(x, w_ih, b_ih) + _lin(h, w_hh, b_hh)
    i, f = torch.sigmoid(g[:, :H]), torch.sigmoid(g[:, H:2 * H])
    gg, o = torch.tanh(g[:, 2 * H:3 * H]), torch.sigmoid(g[:, 3 * H:])
    c_new = f * c + i * gg
    h_new = o * torch.tanh(c_new)
    if w_hr is not None:
        h_new = h_new @ w_hr.t()
    return h_new, c_new


def gru(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    h0 = _zeros(x, x.shape[1], w_hh.shape[1]) if h0 is None else h0

    def step(xt, s):
        h = gru_cell(xt, s[0], w_ih, w_hh, b_ih, b_hh)
        return h, (h,)
    return _run(step, x, (h0,), lengths, reverse)


def rnn(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False, nonlinearity="tanh"):
    h0 = _zeros(x, x.shape[1], w_hh.shape[1]) if h0 is None else h0

    def step(xt, s):
        h = rnn_cell(xt, s[0], w_ih, w_hh, b_ih, b_hh, nonlinearity)
        return h, (h,)
    return _run(step, x, (h0,), lengths, reverse)


def lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths=None, reverse=False):
    B = x.shape[1]
    h0 = _zeros(x, B, w_hh.shape[1]) if h0 is None else h0
    c0 = _zeros(x, B, w_hh.shape[0] // 4) if c0 is None else c0

    def step(xt, s):
        h, c = lstm_cell(xt, s[0], s[1], w_ih, w_hh, b_ih, b_hh, w_hr)
        return h, (h, c)
    return _run(step, x, (h0, c0), lengths, reverse)
