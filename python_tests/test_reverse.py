"""The sequence kernels' reverse flag (the reverse direction of a bidirectional layer, no array reversed):
``f(x, reverse=True)`` must equal running the same kernel forwards over each sequence reversed within its
length, outputs and every gradient, on every backend, both per-step product paths, float64 and float32,
lengths with empty and full rows, and a thread team. torch's own bidirectional layers are compared in
test_nn_rnn.py and test_torch_modules.py, which run on this flag."""
import zlib

import numpy as np
import pytest
import rnnfast
import rnnfast.functional as F
from conftest import TOL, rel_err

from rnnfast import _core


def _reverse_index(T, B, lengths):
    """(T, B) time index reversing each sequence within its length (padding stays put); its own inverse."""
    t = np.arange(T)[:, None]
    if lengths is None:
        return np.broadcast_to(T - 1 - t, (T, B))
    L = np.asarray(lengths)[None, :]
    return np.where(t < L, L - 1 - t, t)


def _flip(a, idx):
    return np.ascontiguousarray(np.take_along_axis(a, idx.reshape(idx.shape + (1,) * (a.ndim - 2)), axis=0))


def _case(kind, T, B, I, H, dtype, proj, seed):
    rng = np.random.default_rng(seed)
    G = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    P = H - 2 if proj else H
    n = lambda *s, sc=1.0: (rng.standard_normal(s) * sc).astype(dtype)  # noqa: E731
    return dict(x=n(T, B, I), h0=n(B, P), c0=n(B, H), w_ih=n(G * H, I, sc=0.4), w_hh=n(G * H, P, sc=0.4),
                b_ih=n(G * H), b_hh=n(G * H), w_hr=n(P, H, sc=0.4) if proj else None, dy=n(T, B, P), dh_n=n(B, P),
                dc_n=n(B, H))


def _run(kind, c, x, dy, lengths, reverse, option):
    """(outputs, gradients) of one call forwards and backwards, as a flat list of arrays."""
    if kind == "gru":
        y, h_n, cache = F.gru_forward(x, c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], reset_after=option,
                                      lengths=lengths, reverse=reverse)
        g = F.gru_backward(dy, c["dh_n"], cache)
        return [y, h_n], [g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]
    if kind == "rnn":
        y, h_n, cache = F.rnn_forward(x, c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], nonlinearity=option,
                                      lengths=lengths, reverse=reverse)
        g = F.rnn_backward(dy, c["dh_n"], cache)
        return [y, h_n], [g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh]
    y, h_n, c_n, cache = F.lstm_forward(x, c["h0"], c["c0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"],
                                        w_hr=c["w_hr"], lengths=lengths, reverse=reverse)
    g = F.lstm_backward(dy, c["dh_n"], c["dc_n"], cache)
    grads = [g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh] + ([g.dw_hr] if option else [])
    return [y, h_n, c_n], grads


KINDS = [("gru", True), ("gru", False), ("rnn", "tanh"), ("rnn", "relu"), ("lstm", False), ("lstm", True)]
LENGTHS = {"full": None, "ragged": [7, 3, 0, 5, 1], "mixed": [7, 7, 2, 6, 4]}


@pytest.mark.parametrize("mode", ["blas", "packed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("lengths", list(LENGTHS), ids=list(LENGTHS))
@pytest.mark.parametrize("kind,option", KINDS, ids=[f"{k}-{o}" for k, o in KINDS])
def test_reverse_equals_the_flipped_forward_run(backend, kind, option, lengths, dtype, mode):
    T, B, I, H = 7, 5, 4, 6
    L = LENGTHS[lengths]
    c = _case(kind, T, B, I, H, dtype, kind == "lstm" and option, seed=zlib.crc32(f"{kind}{option}{lengths}".encode()))
    idx = _reverse_index(T, B, L)
    Ls = None if L is None else np.array(L)
    _core._set_step_product(mode)
    try:
        with rnnfast.use_backend(backend):
            outs, grads = _run(kind, c, c["x"], c["dy"], Ls, True, option)
            ref_outs, ref_grads = _run(kind, c, _flip(c["x"], idx), _flip(c["dy"], idx), Ls, False, option)
    finally:
        _core._set_step_product("auto")
    ref_outs[0], ref_grads[0] = _flip(ref_outs[0], idx), _flip(ref_grads[0], idx)  # y and dx back in time order
    for i, (a, b) in enumerate(zip(outs + grads, ref_outs + ref_grads)):
        assert rel_err(a, b) <= TOL[dtype], f"{kind} {option} array {i}: {rel_err(a, b)}"


@pytest.mark.parametrize("kind,option", KINDS, ids=[f"{k}-{o}" for k, o in KINDS])
def test_reverse_in_a_thread_team(backend, kind, option):
    """A batch large enough for the C++ thread team (rows and products split over two threads)."""
    T, B, I, H = 6, 40, 9, 33
    L = np.arange(B) % 7
    c = _case(kind, T, B, I, H, np.float64, kind == "lstm" and option, seed=5)
    idx = _reverse_index(T, B, L)
    before = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        with rnnfast.use_backend(backend):
            outs, grads = _run(kind, c, c["x"], c["dy"], L, True, option)
            ref_outs, ref_grads = _run(kind, c, _flip(c["x"], idx), _flip(c["dy"], idx), L, False, option)
    finally:
        rnnfast.set_num_threads(before)
    ref_outs[0], ref_grads[0] = _flip(ref_outs[0], idx), _flip(ref_grads[0], idx)
    for i, (a, b) in enumerate(zip(outs + grads, ref_outs + ref_grads)):
        assert rel_err(a, b) <= 1e-10, f"{kind} {option} array {i}: {rel_err(a, b)}"


def test_reverse_is_not_the_forward_run(backend):
    """The flag changes the result (a sequence read backwards is another sequence)."""
    c = _case("gru", 5, 3, 4, 6, np.float64, False, seed=2)
    with rnnfast.use_backend(backend):
        y_f, h_f, _ = F.gru_forward(c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
        y_r, h_r, _ = F.gru_forward(c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], reverse=True)
    assert rel_err(h_f, h_r) > 1e-3
    assert rel_err(y_f, y_r) > 1e-3


@pytest.mark.parametrize("kind,option", KINDS[::2], ids=[f"{k}-{o}" for k, o in KINDS[::2]])
def test_backward_without_the_input_gradient(backend, kind, option):
    """need_dx=False: dx is None and every other gradient is unchanged (the first layer of a model whose
    input needs no gradient skips the dx product)."""
    c = _case(kind, 5, 3, 4, 6, np.float64, False, seed=7)
    fwd = {"gru": F.gru_forward, "rnn": F.rnn_forward, "lstm": F.lstm_forward}[kind]
    with rnnfast.use_backend(backend):
        if kind == "lstm":
            cache = fwd(c["x"], c["h0"], c["c0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])[-1]
            full, part = (F.lstm_backward(c["dy"], c["dh_n"], c["dc_n"], cache, need_dx=nd) for nd in (True, False))
        else:
            cache = fwd(c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])[-1]
            back = F.gru_backward if kind == "gru" else F.rnn_backward
            full, part = (back(c["dy"], c["dh_n"], cache, need_dx=nd) for nd in (True, False))
    assert part.dx is None and full.dx is not None
    for name in ("dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name), err_msg=name)
