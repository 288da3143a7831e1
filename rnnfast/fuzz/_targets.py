"""The entry points the fuzzer calls: for each, a hypothesis strategy drawing the arguments of a
case (valid ones, then perhaps one argument made invalid) and a function making the call.

Strategies draw small sizes (0 and 1 included), both float dtypes, every memory layout of
:mod:`rnnfast.fuzz._build`, NaN/Inf/huge/denormal fills and mutations of one argument.
"""
from __future__ import annotations

from hypothesis import strategies as st

from ._build import FILLS, LAYOUTS

FLOAT_DTYPES = ("float32", "float64")
ARRAY_MUTS = ("dtype:int64", "dtype:float16", "dtype:complex128", "dtype:bool", "dtype:other", "ndim+1", "ndim-1",
              "dim+1", "dim-1", "none", "str", "list", "scalar0d", "object")
INT_ARRAY_MUTS = ("negate", "plus_big", "float_ints", "whole_floats", "ndim+1", "dim+1", "dim-1", "none", "str",
                  "scalar0d", "list", "dtype:float16")
VALUE_MUTS = ("none", "str", "bool_str", "float", "neg", "int32_max", "int64_over", "nan_scalar", "zero", "object",
              "tuple1")

size = st.integers(0, 4)
pos_size = st.integers(1, 4)


def _arr(draw, shape, dt, kind="normal", special=True):
    layout = draw(st.sampled_from(LAYOUTS)) if draw(st.integers(0, 2)) == 0 else "C"
    fill = draw(st.sampled_from(FILLS[1:])) if special and draw(st.integers(0, 6)) == 0 else "normal"
    return {"shape": list(shape), "dtype": dt, "layout": layout, "fill": fill, "kind": kind}


def _ints(draw, shape, lo, hi):
    layout = draw(st.sampled_from(LAYOUTS)) if draw(st.integers(0, 3)) == 0 else "C"
    return {"shape": list(shape), "ints": [lo, hi], "layout": layout}


def _int_values(draw, values):
    layout = draw(st.sampled_from(LAYOUTS)) if draw(st.integers(0, 3)) == 0 else "C"
    return {"value": list(values), "dtype": "int64", "layout": layout}


def _val(v):
    return {"value": v}


def _fixed(v):
    """A value the fuzzer never makes invalid (MyTorch's constructors follow the handout: they
    take sizes as given)."""
    return {"value": v, "fixed": True}


def _opt(draw, d):
    return d if draw(st.integers(0, 3)) else {"value": None}


def _mutate(draw, args, prob=4):
    """With probability 1/prob make one argument invalid (or unusual)."""
    if draw(st.integers(0, prob - 1)):
        return args
    name = draw(st.sampled_from(sorted(n for n in args if not args[n].get("fixed"))))
    d = dict(args[name])
    if "ints" in d or ("value" in d and "dtype" in d):
        d["mut"] = draw(st.sampled_from(INT_ARRAY_MUTS))
    elif "value" in d:
        if d["value"] is None:
            return args
        d["mut"] = draw(st.sampled_from(VALUE_MUTS))
    else:
        d["mut"] = draw(st.sampled_from(ARRAY_MUTS))
    out = dict(args)
    out[name] = d
    return out


def _lengths(draw, B, T):
    return _opt(draw, _ints(draw, (B,), 0, T))


# ------------------------------------------------------------------------------ functional
GATES = {"gru": 3, "lstm": 4, "rnn": 1}


@st.composite
def recurrent_args(draw, family, seq, backward):
    T, B, I, H = draw(size), draw(size), draw(size), draw(size)
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    G = GATES[family] * H
    P = draw(st.integers(0, H - 1)) if family == "lstm" and H > 1 and draw(st.booleans()) else 0
    Ph = P or H
    a = {"x": _arr(draw, (T, B, I) if seq else (B, I), dt)}
    a["h0" if seq else "h"] = _opt(draw, _arr(draw, (B, Ph), dt))
    if family == "lstm":
        a["c0" if seq else "c"] = _opt(draw, _arr(draw, (B, H), dt))
    a["w_ih"] = _arr(draw, (G, I), dt, "weight")
    a["w_hh"] = _arr(draw, (G, Ph), dt, "weight")
    a["b_ih"] = _opt(draw, _arr(draw, (G,), dt, "weight"))
    a["b_hh"] = _opt(draw, _arr(draw, (G,), dt, "weight"))
    if family == "lstm":
        a["w_hr"] = _arr(draw, (P, H), dt, "weight") if P else _val(None)
    if family == "gru":
        a["reset_after"] = _val(draw(st.booleans()))
    if family == "rnn":
        a["nonlinearity"] = _val(draw(st.sampled_from(("tanh", "relu"))))
    if seq:
        a["lengths"] = _lengths(draw, B, T)
    if backward:
        if seq:
            a["dy"] = _opt(draw, _arr(draw, (T, B, Ph), dt))
            a["dh_n"] = _opt(draw, _arr(draw, (B, Ph), dt))
            if family == "lstm":
                a["dc_n"] = _opt(draw, _arr(draw, (B, H), dt))
        else:
            a["dh_new"] = (_opt(draw, _arr(draw, (B, Ph), dt)) if family != "gru" else _arr(draw, (B, Ph), dt))
            if family == "lstm":
                a["dc_new"] = _opt(draw, _arr(draw, (B, H), dt))
    return _mutate(draw, a)


def _kw(a, names):
    return {n: a[n] for n in names if n in a}


def call_recurrent(family, seq, backward):
    def call(a):
        from rnnfast import functional as F

        if seq:
            fwd = getattr(F, f"{family}_forward")
            state = [a["h0"], a["c0"]] if family == "lstm" else [a["h0"]]
            kw = _kw(a, ("w_hr", "reset_after", "nonlinearity", "lengths"))
        else:
            fwd = getattr(F, f"{family}_cell_forward")
            state = [a["h"], a["c"]] if family == "lstm" else [a["h"]]
            kw = _kw(a, ("w_hr", "reset_after", "nonlinearity"))
        out = fwd(a["x"], *state, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], **kw)
        if not backward:
            return out
        cache = out[-1]
        if seq:
            up = [a["dy"], a["dh_n"], a["dc_n"]] if family == "lstm" else [a["dy"], a["dh_n"]]
            return getattr(F, f"{family}_backward")(*up, cache)
        up = [a["dh_new"], a["dc_new"]] if family == "lstm" else [a["dh_new"]]
        return getattr(F, f"{family}_cell_backward")(*up, cache)
    return call


# ------------------------------------------------------------------------------------- CTC
@st.composite
def ctc_loss_args(draw, logits=False):
    T, B, C, S = draw(size), draw(size), draw(st.integers(0, 5)), draw(size)
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    blank = draw(st.sampled_from((0, max(C - 1, 0))))
    lo, hi = (1, C - 1) if blank == 0 else (0, C - 2)
    lo, hi = (lo, hi) if hi >= lo else (0, 0)
    unbatched = draw(st.integers(0, 5)) == 0
    Bx = 1 if unbatched else B
    tl = [draw(st.integers(0, S)) for _ in range(Bx)]
    il = [draw(st.integers(0, T)) for _ in range(Bx)]
    name = "logits" if logits else "log_probs"
    a = {name: _arr(draw, (T, C) if unbatched else (T, B, C), dt, "normal" if logits else "logprob")}
    concat = draw(st.booleans())
    if unbatched:
        a["targets"] = _ints(draw, (tl[0],), lo, hi)
        a["input_lengths"] = _val(il[0]) if draw(st.booleans()) else _int_values(draw, il)
        a["target_lengths"] = _val(tl[0]) if draw(st.booleans()) else _int_values(draw, tl)
    else:
        a["targets"] = _ints(draw, (sum(tl),) if concat else (B, S), lo, hi)
        a["input_lengths"] = _int_values(draw, il)
        a["target_lengths"] = _int_values(draw, tl)
    a["blank"] = _val(blank)
    a["reduction"] = _val(draw(st.sampled_from(("none", "sum", "mean"))))
    a["zero_infinity"] = _val(draw(st.booleans()))
    a["return_grad"] = _val(draw(st.booleans()))
    return _mutate(draw, a)


def call_ctc_loss(logits):
    def call(a):
        from rnnfast import ctc

        f = ctc.ctc_loss_from_logits if logits else ctc.ctc_loss
        return f(a["logits" if logits else "log_probs"], a["targets"], a["input_lengths"], a["target_lengths"],
                 **_kw(a, ("blank", "reduction", "zero_infinity", "return_grad")))
    return call


@st.composite
def log_softmax_args(draw):
    nd = draw(st.integers(1, 3))
    shape = [draw(size) for _ in range(nd)]
    a = {"x": _arr(draw, shape, draw(st.sampled_from(FLOAT_DTYPES))), "axis": _val(draw(st.integers(-nd, nd - 1)))}
    return _mutate(draw, a)


def call_log_softmax(a):
    from rnnfast import ctc

    return ctc.log_softmax(a["x"], axis=a["axis"])


@st.composite
def decode_args(draw, beam):
    T, B, C = draw(size), draw(size), draw(st.integers(0, 5))
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    unbatched = draw(st.integers(0, 5)) == 0
    a = {"log_probs": _arr(draw, (T, C) if unbatched else (T, B, C), dt, "logprob")}
    if unbatched:
        a["input_lengths"] = draw(st.sampled_from((_val(None), _val(T), _int_values(draw, [T]))))
    else:
        a["input_lengths"] = _opt(draw, _ints(draw, (B,), 0, T))
    a["blank"] = _val(draw(st.sampled_from((0, max(C - 1, 0)))))
    if beam:
        a["beam_width"] = _val(draw(st.integers(1, 5)))
        a["top_k"] = _val(draw(st.integers(1, 3)))
    return _mutate(draw, a)


def call_decode(beam):
    def call(a):
        from rnnfast import ctc

        if beam:
            return ctc.beam_search(a["log_probs"], a["input_lengths"], **_kw(a, ("beam_width", "blank", "top_k")))
        return ctc.greedy_decode(a["log_probs"], a["input_lengths"], blank=a["blank"])
    return call


# --------------------------------------------------------------------------------- ctc_prob
@st.composite
def extend_args(draw):
    a = {"target": _ints(draw, (draw(size),), 1, 5), "blank": _val(draw(st.sampled_from((0, 6))))}
    return _mutate(draw, a)


def call_extend(a):
    from rnnfast import ctc_prob

    return ctc_prob.extend_target_with_blank(a["target"], blank=a["blank"])


@st.composite
def prob_alpha_beta_args(draw):
    T, C, L = draw(size), draw(st.integers(0, 5)), draw(size)
    labels = [draw(st.integers(1, max(C - 1, 1))) for _ in range(L)]
    ext = [0] * (2 * L + 1)
    ext[1::2] = labels
    skip = [0, 0] + [int(ext[s] != 0 and ext[s] != ext[s - 2]) for s in range(2, len(ext))]
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    a = {"y": _arr(draw, (T, C), dt, "prob"), "ext": _int_values(draw, ext), "skip": _int_values(draw, skip[:len(ext)]),
         "compute": {"value": sorted(draw(st.sets(st.sampled_from(("alpha", "beta", "gamma")), min_size=1))),
                     "tuple": True}}
    return _mutate(draw, a)


def call_prob_alpha_beta(a):
    from rnnfast import ctc_prob

    return ctc_prob.prob_alpha_beta(a["y"], a["ext"], a["skip"], compute=a["compute"])


@st.composite
def prob_ctc_loss_args(draw):
    T, B, C, L = draw(size), draw(size), draw(st.integers(0, 5)), draw(size)
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    a = {"y": _arr(draw, (T, B, C), dt, "prob"), "targets": _ints(draw, (B, L), 1, max(C - 1, 1)),
         "input_lengths": _ints(draw, (B,), 0, T), "target_lengths": _ints(draw, (B,), 0, L),
         "blank": _val(0), "return_gamma": _val(draw(st.booleans()))}
    return _mutate(draw, a)


def call_prob_ctc_loss(a):
    from rnnfast import ctc_prob

    return ctc_prob.prob_ctc_loss(a["y"], a["targets"], a["input_lengths"], a["target_lengths"], a["blank"],
                                  return_gamma=a["return_gamma"])


# --------------------------------------------------------------------------------- modules
@st.composite
def module_args(draw, kind):
    I, H = draw(size), draw(size)
    T, B = draw(size), draw(size)
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    L = draw(st.integers(1, 2))
    bidir = draw(st.booleans())
    D = 2 if bidir else 1
    P = draw(st.integers(0, H - 1)) if kind == "LSTM" and H > 1 and draw(st.booleans()) else 0
    Ph = P or H
    a = {"input_size": _val(I), "hidden_size": _val(H), "num_layers": _val(L), "bias": _val(draw(st.booleans())),
         "batch_first": _val(draw(st.booleans())), "dropout": _val(draw(st.sampled_from((0.0, 0.0, 0.5, 1.0)))),
         "bidirectional": _val(bidir), "dtype": _val(dt)}
    if kind == "LSTM":
        a["proj_size"] = _val(P)
    if kind == "RNN":
        a["nonlinearity"] = _val(draw(st.sampled_from(("tanh", "relu"))))
    unbatched = draw(st.integers(0, 5)) == 0
    bf = a["batch_first"]["value"]
    xs = (T, I) if unbatched else ((B, T, I) if bf else (T, B, I))
    a["x"] = _arr(draw, xs, dt)
    hs = (L * D, Ph) if unbatched else (L * D, B, Ph)
    a["h0"] = _opt(draw, _arr(draw, hs, dt))
    if kind == "LSTM":
        a["c0"] = _opt(draw, _arr(draw, (L * D, H) if unbatched else (L * D, B, H), dt))
    if not unbatched:
        a["lengths"] = _lengths(draw, B, T)
    os_ = (T, D * Ph) if unbatched else ((B, T, D * Ph) if bf else (T, B, D * Ph))
    a["dout"] = _opt(draw, _arr(draw, os_, dt))
    a["dh_n"] = _opt(draw, _arr(draw, hs, dt))
    if kind == "LSTM":
        a["dc_n"] = _opt(draw, _arr(draw, (L * D, H) if unbatched else (L * D, B, H), dt))
    return _mutate(draw, a)


_CTOR = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "dtype",
         "proj_size", "nonlinearity")


def _grads(m):
    return [(n, p.grad) for n, p in m.named_parameters()]


def call_module(kind):
    def call(a):
        from rnnfast import nn

        m = getattr(nn, kind)(**_kw(a, _CTOR), seed=0)
        lengths = a.get("lengths")
        if kind == "LSTM":
            out, st_ = m(a["x"], (a["h0"], a["c0"]), lengths=lengths)
            dx, dst = m.backward(a["dout"], (a["dh_n"], a["dc_n"]))
        else:
            out, st_ = m(a["x"], a["h0"], lengths=lengths)
            dx, dst = m.backward(a["dout"], a["dh_n"])
        return out, st_, dx, dst, _grads(m)
    return call


@st.composite
def cell_args(draw, kind):
    I, H, B = draw(size), draw(size), draw(size)
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    a = {"input_size": _val(I), "hidden_size": _val(H), "bias": _val(draw(st.booleans())), "dtype": _val(dt)}
    if kind == "RNNCell":
        a["nonlinearity"] = _val(draw(st.sampled_from(("tanh", "relu"))))
    unbatched = draw(st.integers(0, 4)) == 0
    a["x"] = _arr(draw, (I,) if unbatched else (B, I), dt)
    hs = (H,) if unbatched else (B, H)
    a["h"] = _opt(draw, _arr(draw, hs, dt))
    if kind == "LSTMCell":
        a["c"] = _opt(draw, _arr(draw, hs, dt))
    a["dh_new"] = _arr(draw, hs, dt) if kind != "LSTMCell" else _opt(draw, _arr(draw, hs, dt))
    if kind == "LSTMCell":
        a["dc_new"] = _opt(draw, _arr(draw, hs, dt))
    return _mutate(draw, a)


def call_cell(kind):
    def call(a):
        from rnnfast import nn

        m = getattr(nn, kind)(**_kw(a, _CTOR), seed=0)
        if kind == "LSTMCell":
            out = m(a["x"], (a["h"], a["c"]))
            back = m.backward(a["dh_new"], a["dc_new"])
        else:
            out = m(a["x"], a["h"])
            back = m.backward(a["dh_new"])
        return out, back, _grads(m)
    return call


# --------------------------------------------------------------------------------- MyTorch
@st.composite
def mytorch_rnn_args(draw):
    I, H, B = draw(size), draw(size), draw(size)
    dt = draw(st.sampled_from(("float64", "float64", "float32")))
    a = {"input_size": _fixed(I), "hidden_size": _fixed(H), "W_ih": _arr(draw, (H, I), dt, "weight"),
         "W_hh": _arr(draw, (H, H), dt, "weight"), "b_ih": _arr(draw, (H,), dt, "weight"),
         "b_hh": _arr(draw, (H,), dt, "weight"), "x": _arr(draw, (B, I), dt), "h_prev_t": _arr(draw, (B, H), dt),
         "delta": _arr(draw, (B, H), dt)}
    return _mutate(draw, a)


def call_mytorch_rnn(a):
    from rnnfast.mytorch.rnn_cell import RNNCell

    c = RNNCell(a["input_size"], a["hidden_size"])
    c.init_weights(a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"])
    h_t = c(a["x"], a["h_prev_t"])
    dx, dh = c.backward(a["delta"], h_t, a["x"], a["h_prev_t"])
    return h_t, dx, dh, c.dW_ih, c.dW_hh, c.db_ih, c.db_hh


_GRU_W = ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh")


@st.composite
def mytorch_gru_args(draw):
    I, H = draw(size), draw(size)
    dt = draw(st.sampled_from(("float64", "float64", "float32")))
    a = {"input_size": _fixed(I), "hidden_size": _fixed(H)}
    for n in _GRU_W:
        shape = (H, I) if n.endswith("x") and n[0] == "W" else ((H, H) if n[0] == "W" else (H,))
        a[n] = _arr(draw, shape, dt, "weight", special=False)
    a["x"] = _arr(draw, (I,), dt)
    a["h_prev_t"] = _arr(draw, (H,), dt)
    a["delta"] = _arr(draw, (H,), dt)
    return _mutate(draw, a, prob=3)


def call_mytorch_gru(a):
    from rnnfast.mytorch.gru_cell import GRUCell

    c = GRUCell(a["input_size"], a["hidden_size"])
    c.init_weights(*[a[n] for n in _GRU_W])
    h_t = c(a["x"], a["h_prev_t"])
    dx, dh = c.backward(a["delta"])
    return h_t, dx, dh, [getattr(c, "d" + n) for n in _GRU_W]


# ------------------------------------------------------------------------ self-test (not listed)
def call_selftest(a):
    """Misbehaves on purpose, so the tests can check that the fuzzer counts each outcome."""
    import os
    import time

    import numpy as np

    import rnnfast

    how = a["how"]
    if how == "abort":
        os.abort()
    if how == "sleep":
        time.sleep(3600)
    if how == "unclear":
        raise KeyError(0)
    if how == "clear":
        raise ValueError("how: refused")
    if how == "mismatch":
        return np.full(2, 1.0 if rnnfast.get_backend() == "numpy" else 2.0)
    return np.ones(2)


# ------------------------------------------------------------------------------------ table
def _entries():
    """name -> (strategy, call, parameter names besides the drawn ones)."""
    e = {}
    for fam in ("gru", "lstm", "rnn"):
        for seq in (True, False):
            for bwd in (False, True):
                name = f"functional.{fam}{'' if seq else '_cell'}_{'backward' if bwd else 'forward'}"
                e[name] = (recurrent_args(fam, seq, bwd), call_recurrent(fam, seq, bwd), ("cache", "grads"))
    e["ctc.ctc_loss"] = (ctc_loss_args(False), call_ctc_loss(False), ())
    e["ctc.ctc_loss_from_logits"] = (ctc_loss_args(True), call_ctc_loss(True), ())
    e["ctc.log_softmax"] = (log_softmax_args(), call_log_softmax, ())
    e["ctc.greedy_decode"] = (decode_args(False), call_decode(False), ())
    e["ctc.beam_search"] = (decode_args(True), call_decode(True), ())
    e["ctc_prob.extend_target_with_blank"] = (extend_args(), call_extend, ())
    e["ctc_prob.prob_alpha_beta"] = (prob_alpha_beta_args(), call_prob_alpha_beta, ())
    e["ctc_prob.prob_ctc_loss"] = (prob_ctc_loss_args(), call_prob_ctc_loss, ())
    for kind in ("GRU", "LSTM", "RNN"):
        e[f"nn.{kind}"] = (module_args(kind), call_module(kind), ("hx", "dstate", "seed"))
    for kind in ("GRUCell", "LSTMCell", "RNNCell"):
        e[f"nn.{kind}"] = (cell_args(kind), call_cell(kind), ("hx", "seed"))
    e["mytorch.RNNCell"] = (mytorch_rnn_args(), call_mytorch_rnn, ("h_t", "h_prev_l"))
    e["mytorch.GRUCell"] = (mytorch_gru_args(), call_mytorch_gru, ())
    for how in ("ok", "abort", "sleep", "unclear", "clear", "mismatch"):
        e[f"_selftest.{how}"] = (st.just({"how": _val(how)}), call_selftest, ())
    return e


ENTRIES = _entries()
