"""Bad input to the LSTM and Elman RNN kernels: clear errors naming the argument and the shapes,
never a crash or a silent wrong answer (functional layer, and the cpp bindings' own checks)."""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F


def lstm_args(T=3, B=2, I=4, H=5, P=0, dtype=np.float64):
    rng = np.random.default_rng(0)
    Pn = P or H
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=r(T, B, I), h0=r(B, Pn), c0=r(B, H), w_ih=r(4 * H, I), w_hh=r(4 * H, Pn), b_ih=r(4 * H),
                b_hh=r(4 * H), w_hr=r(P, H) if P else None)


def rnn_args(T=3, B=2, I=4, H=5, dtype=np.float64):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=r(T, B, I), h0=r(B, H), w_ih=r(H, I), w_hh=r(H, H), b_ih=r(H), b_hh=r(H))


def call_lstm(a, **kw):
    a = {**a, **kw}
    return F.lstm_forward(a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], w_hr=a["w_hr"],
                          lengths=a.get("lengths"))


def call_rnn(a, **kw):
    a = {**a, **kw}
    return F.rnn_forward(a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"],
                         nonlinearity=a.get("nonlinearity", "tanh"), lengths=a.get("lengths"))


# ------------------------------------------------------------------------------- forward arguments
LSTM_BAD = [
    (dict(x=np.zeros((2, 4))), ValueError, r"x: expected 3 dimensions, got shape \(2, 4\)"),
    (dict(x=np.zeros((3, 2, 4), np.int64)), TypeError, "x: expected float32 or float64"),
    (dict(w_hh=np.zeros((20, 4))), ValueError, r"w_hh: expected shape \(16, 4\)"),
    (dict(w_ih=np.zeros((20, 3))), ValueError, r"w_ih: expected shape \(20, 4\).*input_size=4"),
    (dict(w_ih=np.zeros((20, 4), np.float32)), TypeError, "w_ih has dtype float32 but the other inputs are float64"),
    (dict(h0=np.zeros((2, 4))), ValueError, r"h0: expected shape \(2, 5\)"),
    (dict(c0=np.zeros((3, 5))), ValueError, r"c0: expected shape \(2, 5\)"),
    (dict(c0=np.zeros((2, 5), np.float32)), TypeError, "c0 has dtype float32"),
    (dict(b_hh=np.zeros(19)), ValueError, r"b_hh: expected shape \(20,\)"),
    (dict(w_hr=np.zeros((3, 5))), ValueError, r"w_hh: expected shape \(20, 3\).*w_hr of shape \(3, 5\)"),
    (dict(w_hr=np.zeros((3,))), ValueError, "w_hr: expected 2 dimensions"),
    (dict(lengths=[3, 4]), ValueError, r"lengths: every length must be in \[0, T=3\].*max 4"),
    (dict(lengths=[-1, 2]), ValueError, r"lengths: every length must be in \[0, T=3\].*min -1"),
    (dict(lengths=[1, 2, 3]), ValueError, r"lengths: expected shape \(2,\)"),
    (dict(lengths=[1.5, 2]), TypeError, "lengths: expected integers"),
    (dict(lengths=[1.0, 2.0]), TypeError, "lengths: expected integers, got dtype float64"),  # as torch
    (dict(x=np.zeros((0, 2, 4))), ValueError, r"x: expected sequence length to be larger than 0, got shape \(0, 2, 4\)"),
]


@pytest.mark.parametrize("kw,exc,msg", LSTM_BAD, ids=[f"{list(k)[0]}{i}" for i, (k, _, _) in enumerate(LSTM_BAD)])
def test_lstm_forward_bad_input(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        call_lstm(lstm_args(), **kw)


def test_lstm_projection_bad_state_shapes():
    a = lstm_args(P=2)
    call_lstm(a)  # valid
    with pytest.raises(ValueError, match=r"h0: expected shape \(2, 2\) \(batch, proj_size\)"):
        call_lstm(a, h0=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"w_hh: expected shape \(20, 2\)"):
        call_lstm(a, w_hh=np.zeros((20, 5)))


RNN_BAD = [
    (dict(x=np.zeros((3, 2, 4, 1))), ValueError, "x: expected 3 dimensions"),
    (dict(w_hh=np.zeros((5, 4))), ValueError, r"w_hh: expected shape \(4, 4\)"),
    (dict(w_ih=np.zeros((5, 3))), ValueError, r"w_ih: expected shape \(5, 4\)"),
    (dict(h0=np.zeros((2, 5), np.float32)), TypeError, "h0 has dtype float32"),
    (dict(b_ih=np.zeros((5, 1))), ValueError, "b_ih: expected 1 dimensions"),
    (dict(nonlinearity="sigmoid"), ValueError, "nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (dict(lengths=np.array([4, 1])), ValueError, r"lengths: every length must be in \[0, T=3\]"),
    (dict(x=np.zeros((0, 2, 4))), ValueError, "x: expected sequence length to be larger than 0"),
]


@pytest.mark.parametrize("kw,exc,msg", RNN_BAD, ids=[f"{list(k)[0]}{i}" for i, (k, _, _) in enumerate(RNN_BAD)])
def test_rnn_forward_bad_input(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        call_rnn(rnn_args(), **kw)


def test_cell_forward_bad_input():
    a = lstm_args()
    with pytest.raises(ValueError, match=r"h: expected shape \(2, 5\)"):
        F.lstm_cell_forward(a["x"][0], np.zeros((2, 3)), None, a["w_ih"], a["w_hh"])
    with pytest.raises(ValueError, match=r"c: expected shape \(2, 5\)"):
        F.lstm_cell_forward(a["x"][0], None, np.zeros((1, 5)), a["w_ih"], a["w_hh"])
    with pytest.raises(ValueError, match="x: expected 2 dimensions"):
        F.lstm_cell_forward(a["x"], None, None, a["w_ih"], a["w_hh"])
    r = rnn_args()
    with pytest.raises(ValueError, match="nonlinearity"):
        F.rnn_cell_forward(r["x"][0], None, r["w_ih"], r["w_hh"], nonlinearity="Tanh")
    with pytest.raises(TypeError, match="w_hh has dtype float32"):
        F.rnn_cell_forward(r["x"][0], None, r["w_ih"], r["w_hh"].astype(np.float32))


# ------------------------------------------------------------------------------ backward arguments
def test_lstm_backward_bad_input():
    a = lstm_args(P=2)
    *_, cache = call_lstm(a)
    with pytest.raises(ValueError, match=r"dy: expected shape \(3, 2, 2\).*the shape of y, got \(3, 2, 5\)"):
        F.lstm_backward(np.zeros((3, 2, 5)), None, None, cache)
    with pytest.raises(ValueError, match=r"dc_n: expected shape \(2, 5\)"):
        F.lstm_backward(None, None, np.zeros((2, 2)), cache)
    with pytest.raises(TypeError, match="dh_n has dtype float32"):
        F.lstm_backward(None, np.zeros((2, 2), np.float32), None, cache)
    with pytest.raises(TypeError, match="cache must be the LSTMCache returned by lstm_forward, got RNNCache"):
        F.lstm_backward(None, None, None, call_rnn(rnn_args())[2])


def test_rnn_backward_bad_input():
    *_, cache = call_rnn(rnn_args())
    with pytest.raises(ValueError, match=r"dh_n: expected shape \(2, 5\)"):
        F.rnn_backward(None, np.zeros((5, 2)), cache)
    with pytest.raises(TypeError, match="cache must be the RNNCache"):
        F.rnn_backward(None, None, {"hs": None})


def test_cell_backward_bad_accumulators():
    a = lstm_args()
    _, _, cache = F.lstm_cell_forward(a["x"][0], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    good = F.lstm_cell_backward(a["h0"], None, cache)  # fresh accumulators of the right kind

    def with_(**kw):
        g = F.LSTMGrads(None, None, None, good.dw_ih.copy(), good.dw_hh.copy(), good.db_ih.copy(),
                        good.db_hh.copy())
        for k, v in kw.items():
            setattr(g, k, v)
        return g

    ro = good.dw_ih.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grads.dw_ih is read-only"):
        F.lstm_cell_backward(a["h0"], None, cache, with_(dw_ih=ro))
    with pytest.raises(ValueError, match="grads.dw_hh must be C-contiguous"):
        F.lstm_cell_backward(a["h0"], None, cache, with_(dw_hh=np.asfortranarray(good.dw_hh)))
    with pytest.raises(TypeError, match="grads.db_ih: expected dtype float64, got float32"):
        F.lstm_cell_backward(a["h0"], None, cache, with_(db_ih=good.db_ih.astype(np.float32)))
    with pytest.raises(ValueError, match=r"grads.db_hh: expected shape \(20,\), got \(19,\)"):
        F.lstm_cell_backward(a["h0"], None, cache, with_(db_hh=np.zeros(19)))
    with pytest.raises(TypeError, match="grads.db_hh must be a NumPy array, got NoneType"):
        F.lstm_cell_backward(a["h0"], None, cache, with_(db_hh=None))
    with pytest.raises(TypeError, match="grads must be an LSTMGrads"):
        F.lstm_cell_backward(a["h0"], None, cache, F.RNNGrads(None, None, None, None, None, None))
    with pytest.raises(ValueError, match=r"dh_new: expected shape \(2, 5\)"):
        F.lstm_cell_backward(np.zeros((2, 4)), None, cache)

    r = rnn_args()
    _, rc = F.rnn_cell_forward(r["x"][0], r["h0"], r["w_ih"], r["w_hh"])
    with pytest.raises(ValueError, match="grads.dw_hh is read-only"):
        ro = np.zeros((5, 5))
        ro.flags.writeable = False
        F.rnn_cell_backward(r["h0"], rc, F.RNNGrads(None, None, np.zeros((5, 4)), ro, None, None))
    with pytest.raises(TypeError, match="cache must be the RNNCellCache"):
        F.rnn_cell_backward(r["h0"], cache)


# ----------------------------------------------------------------- the compiled kernels' own checks
def test_cpp_bindings_reject_bad_arrays():
    if "cpp" not in rnnfast.available_backends():
        pytest.skip("cpp backend unavailable")
    from rnnfast import _core

    T, B, I, H = 3, 2, 4, 5
    a = lstm_args(T, B, I, H)
    f = np.float64
    outs = dict(y=np.empty((T, B, H)), h_n=np.empty((B, H)), c_n=np.empty((B, H)), hs=np.empty((T + 1, B, H)),
                cs=np.empty((T + 1, B, H)), gates=np.empty((T, B, 4 * H)), ms=None)
    ins = dict(x=a["x"], h0=a["h0"], c0=a["c0"], w_ih=a["w_ih"], w_hh=a["w_hh"], b_ih=a["b_ih"], b_hh=a["b_hh"],
               w_hr=None, lengths=None, reverse=False)
    _core.lstm_forward(**outs, **ins)  # valid call
    ro = np.empty((T + 1, B, H))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="hs is read-only"):
        _core.lstm_forward(**{**outs, "hs": ro}, **ins)
    with pytest.raises(ValueError, match="gates must be C-contiguous"):
        _core.lstm_forward(**{**outs, "gates": np.empty((4 * H, B, T)).T}, **ins)
    with pytest.raises(ValueError, match=r"cs: expected shape \(4, 2, 5\), got \(3, 2, 5\)"):
        _core.lstm_forward(**{**outs, "cs": np.empty((T, B, H))}, **ins)
    with pytest.raises(TypeError, match="c0: expected dtype float64, got float32"):
        _core.lstm_forward(**outs, **{**ins, "c0": a["c0"].astype(np.float32)})
    with pytest.raises(ValueError, match=r"lengths\[1\] = 7 is outside \[0, T=3\]"):
        _core.lstm_forward(**outs, **{**ins, "lengths": np.array([1, 7])})
    with pytest.raises(ValueError, match="ms must be an array, got None"):  # a projection needs its cache
        _core.lstm_forward(**{**outs, "h_n": np.empty((B, 2)), "y": np.empty((T, B, 2)),
                              "hs": np.empty((T + 1, B, 2))},
                           **{**ins, "w_hr": np.ones((2, H)), "w_hh": np.ones((4 * H, 2)), "h0": None})
    with pytest.raises(TypeError, match="x: expected float32 or float64"):
        _core.lstm_forward(**outs, **{**ins, "x": a["x"].astype(np.int32)})

    r = rnn_args(T, B, I, H)
    rin = dict(x=r["x"], h0=r["h0"], w_ih=r["w_ih"], w_hh=r["w_hh"], b_ih=r["b_ih"], b_hh=r["b_hh"], lengths=None,
               relu=False, reverse=False)
    rout = dict(y=np.empty((T, B, H), f), h_n=np.empty((B, H), f), hs=np.empty((T + 1, B, H), f))
    _core.rnn_forward(**rout, **rin)
    with pytest.raises(ValueError, match=r"w_ih: expected shape \(5, 4\)"):
        _core.rnn_forward(**rout, **{**rin, "w_ih": np.ones((5, 3))})
    with pytest.raises(ValueError, match="y is read-only"):
        y = np.empty((T, B, H))
        y.flags.writeable = False
        _core.rnn_forward(**{**rout, "y": y}, **rin)
    with pytest.raises(ValueError, match="h_new must not alias h"):
        h = np.zeros((B, H))
        _core.rnn_cell_forward(h, r["x"][0], h, r["w_ih"], r["w_hh"], None, None, True)
    with pytest.raises(ValueError, match=r"dg: expected shape \(3, 2, 5\)"):
        _core.rnn_backward(np.empty((T, B, I)), np.empty((B, H)), np.empty((H, I)), np.empty((H, H)), None, None,
                           np.empty((T, B, H + 1)), None, None, r["x"], r["w_ih"], r["w_hh"], rout["hs"], None,
                           False, False)
