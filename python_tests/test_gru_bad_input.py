"""Bad input to the GRU kernels: clear errors naming the argument and the shapes, never a crash or
a silent wrong answer (functional layer on every backend, and the cpp bindings' own checks)."""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F


def gru_args(T=3, B=2, I=4, H=5, dtype=np.float64):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=r(T, B, I), h0=r(B, H), w_ih=r(3 * H, I), w_hh=r(3 * H, H), b_ih=r(3 * H), b_hh=r(3 * H))


def call_gru(a, **kw):
    a = {**a, **kw}
    return F.gru_forward(a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"],
                         reset_after=a.get("reset_after", True), lengths=a.get("lengths"))


GRU_BAD = [
    (dict(x=np.zeros((2, 4))), ValueError, r"x: expected 3 dimensions, got shape \(2, 4\)"),
    (dict(x=np.zeros((3, 2, 4), np.int64)), TypeError, "x: expected float32 or float64, got dtype int64"),
    (dict(x=np.zeros((3, 2, 4), np.float16)), TypeError, "x: expected float32 or float64, got dtype float16"),
    (dict(w_hh=np.zeros((15, 4))), ValueError, r"w_hh: expected shape \(12, 4\) \(3\*hidden_size, hidden_size\)"),
    (dict(w_hh=np.zeros((14, 5))), ValueError, r"w_hh"),
    (dict(w_ih=np.zeros((15, 3))), ValueError, r"w_ih: expected shape \(15, 4\)"),
    (dict(w_ih=np.zeros((15, 4), np.float32)), TypeError, "w_ih has dtype float32 but the other inputs are float64"),
    (dict(h0=np.zeros((2, 4))), ValueError, r"h0: expected shape \(2, 5\)"),
    (dict(h0=np.zeros((5,))), ValueError, r"h0: expected 2 dimensions, got shape \(5,\)"),
    (dict(h0=np.zeros((2, 5), np.float32)), TypeError, "h0 has dtype float32"),
    (dict(b_hh=np.zeros(14)), ValueError, r"b_hh: expected shape \(15,\)"),
    (dict(b_ih=np.zeros((15, 1))), ValueError, "b_ih: expected 1 dimensions"),
    (dict(lengths=[3, 4]), ValueError, r"lengths: every length must be in \[0, T=3\].*max 4"),
    (dict(lengths=[-1, 2]), ValueError, r"lengths: every length must be in \[0, T=3\].*min -1"),
    (dict(lengths=[1, 2, 3]), ValueError, r"lengths: expected shape \(2,\)"),
    (dict(lengths=[1.5, 2]), TypeError, "lengths: expected integers"),
    (dict(lengths=[1.0, 2.0]), TypeError, "lengths: expected integers, got dtype float64"),  # as torch
    (dict(x=np.zeros((0, 2, 4))), ValueError, r"x: expected sequence length to be larger than 0, got shape \(0, 2, 4\)"),
    (dict(x=np.zeros((3, 2, 4), np.complex128)), TypeError, "x: expected float32 or float64, got dtype complex128"),
]


@pytest.mark.parametrize("backend", rnnfast.available_backends())
@pytest.mark.parametrize("kw,exc,msg", GRU_BAD, ids=[f"{list(k)[0]}{i}" for i, (k, _, _) in enumerate(GRU_BAD)])
def test_gru_forward_bad_input(kw, exc, msg, backend):
    with rnnfast.use_backend(backend), pytest.raises(exc, match=msg):
        call_gru(gru_args(), **kw)


def test_gru_non_contiguous_inputs_are_accepted_and_correct():
    """Strided views are valid input (copied to contiguous), and give the same answer."""
    a = gru_args()
    y, h, _ = call_gru(a)
    xf = np.asfortranarray(a["x"])
    wv = np.zeros((15, 8))
    wv[:, ::2] = a["w_ih"]
    y2, h2, _ = call_gru(a, x=xf, w_ih=wv[:, ::2])
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h, h2)


def test_gru_backward_bad_input():
    *_, cache = call_gru(gru_args())
    with pytest.raises(ValueError, match=r"dy: expected shape \(3, 2, 5\).*the shape of y, got \(3, 2, 4\)"):
        F.gru_backward(np.zeros((3, 2, 4)), None, cache)
    with pytest.raises(ValueError, match=r"dh_n: expected shape \(2, 5\)"):
        F.gru_backward(None, np.zeros((5, 2)), cache)
    with pytest.raises(TypeError, match="dh_n has dtype float32"):
        F.gru_backward(None, np.zeros((2, 5), np.float32), cache)
    with pytest.raises(TypeError, match="cache must be the GRUCache returned by gru_forward, got dict"):
        F.gru_backward(None, None, {"hs": None})


def test_gru_cell_bad_input():
    a = gru_args()
    with pytest.raises(ValueError, match=r"h: expected shape \(2, 5\)"):
        F.gru_cell_forward(a["x"][0], np.zeros((2, 3)), a["w_ih"], a["w_hh"])
    with pytest.raises(ValueError, match="x: expected 2 dimensions"):
        F.gru_cell_forward(a["x"], None, a["w_ih"], a["w_hh"])
    h, cache = F.gru_cell_forward(a["x"][0], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    with pytest.raises(ValueError, match=r"dh_new: expected shape \(2, 5\)"):
        F.gru_cell_backward(np.zeros((2, 4)), cache)
    good = F.gru_cell_backward(h, cache)
    ro = good.dw_ih.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grads.dw_ih is read-only"):
        F.gru_cell_backward(h, cache, F.GRUGrads(None, None, ro, good.dw_hh, good.db_ih, good.db_hh))
    with pytest.raises(ValueError, match=r"grads.dw_hh: expected shape \(15, 5\)"):
        F.gru_cell_backward(h, cache, F.GRUGrads(None, None, good.dw_ih, np.zeros((15, 4)), good.db_ih, good.db_hh))
    with pytest.raises(TypeError, match="grads.db_hh: expected dtype float64, got float32"):
        F.gru_cell_backward(h, cache, F.GRUGrads(None, None, good.dw_ih, good.dw_hh, good.db_ih,
                                                 good.db_hh.astype(np.float32)))
    with pytest.raises(TypeError, match="grads must be a GRUGrads, got LSTMGrads"):
        F.gru_cell_backward(h, cache, F.LSTMGrads(None, None, None, None, None, None, None, None))
    with pytest.raises(TypeError, match="cache must be the GRUCellCache"):
        F.gru_cell_backward(h, None)


def test_cpp_gru_bindings_reject_bad_arrays():
    """The compiled kernels re-check every array: a direct _core call cannot read or write out of bounds."""
    if "cpp" not in rnnfast.available_backends():
        pytest.skip("cpp backend unavailable")
    from rnnfast import _core

    T, B, I, H = 3, 2, 4, 5
    a = gru_args(T, B, I, H)
    outs = dict(y=np.empty((T, B, H)), h_n=np.empty((B, H)), hs=np.empty((T + 1, B, H)),
                gates=np.empty((T, B, 3 * H)), hn=np.empty((T, B, H)), gh=np.empty((B, 3 * H)))
    ins = dict(x=a["x"], h0=a["h0"], w_ih=a["w_ih"], w_hh=a["w_hh"], b_ih=a["b_ih"], b_hh=a["b_hh"], lengths=None,
               reset_after=True, reverse=False)
    _core.gru_forward(**outs, **ins)  # valid call
    ro = np.empty((T + 1, B, H))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="hs is read-only"):
        _core.gru_forward(**{**outs, "hs": ro}, **ins)
    with pytest.raises(ValueError, match="gates must be C-contiguous"):
        _core.gru_forward(**{**outs, "gates": np.empty((3 * H, B, T)).T}, **ins)
    with pytest.raises(ValueError, match=r"hs: expected shape \(4, 2, 5\), got \(3, 2, 5\)"):
        _core.gru_forward(**{**outs, "hs": np.empty((T, B, H))}, **ins)
    with pytest.raises(TypeError, match="h0: expected dtype float64, got float32"):
        _core.gru_forward(**outs, **{**ins, "h0": a["h0"].astype(np.float32)})
    with pytest.raises(ValueError, match=r"lengths\[1\] = 7 is outside \[0, T=3\]"):
        _core.gru_forward(**outs, **{**ins, "lengths": np.array([1, 7])})
    with pytest.raises(ValueError, match=r"w_hh: expected shape \(15, 5\)"):
        _core.gru_forward(**outs, **{**ins, "w_hh": np.ones((14, 5))})
    with pytest.raises(ValueError, match=r"y: expected shape \(3, 2, 4\), got \(3, 2, 5\)"):
        _core.gru_forward(**outs, **{**ins, "w_hh": np.ones((12, 4))})  # H read off w_hh: outputs must follow
    with pytest.raises(TypeError, match="x: expected float32 or float64"):
        _core.gru_forward(**outs, **{**ins, "x": a["x"].astype(np.int32)})
