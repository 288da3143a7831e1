"""The kernels' own safety, called directly (rnnfast._core, rnnfast._numba, rnnfast._numpy), below the
functional layer's validation: zero sizes, misaligned and shrunk arrays, NaN/inf agreement between
backends, CTC beam search limits.

`run_recurrent` allocates every array of one kernel family exactly as the bindings expect (csrc/*.h)
and runs the sequence and cell kernels forward and backward; other test files import it.
"""
import numpy as np
import pytest

import rnnfast
from rnnfast import _backend

BACKENDS = [b for b in ("cpp", "numba", "numpy") if b in rnnfast.available_backends()]
FAMILIES = ["gru", "lstm", "lstm_proj", "rnn_tanh", "rnn_relu"]


def kernels(name):
    return _backend.kernels(name)


def _rand(rng, shape, dt, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(dt)


def make_params(family, T, B, I, H, dtype=np.float64, seed=0, bias=True, P=None):
    """Inputs of one recurrent case: x, h0 (c0), weights, biases, upstream gradients."""
    rng = np.random.default_rng(seed)
    G = {"gru": 3, "lstm": 4, "lstm_proj": 4}.get(family, 1)
    P = (max(H - 1, 0) if P is None else P) if family == "lstm_proj" else H
    d = dict(family=family, T=T, B=B, I=I, H=H, P=P, G=G)
    d["x"] = _rand(rng, (T, B, I), dtype)
    d["h0"] = _rand(rng, (B, P), dtype)
    d["c0"] = _rand(rng, (B, H), dtype)
    d["w_ih"] = _rand(rng, (G * H, I), dtype)
    d["w_hh"] = _rand(rng, (G * H, P), dtype)
    d["w_hr"] = _rand(rng, (P, H), dtype) if family == "lstm_proj" else None
    d["b_ih"] = _rand(rng, (G * H,), dtype) if bias else None
    d["b_hh"] = _rand(rng, (G * H,), dtype) if bias else None
    d["dy"] = _rand(rng, (T, B, P), dtype)
    d["dh_n"] = _rand(rng, (B, P), dtype)
    d["dc_n"] = _rand(rng, (B, H), dtype)
    d["xc"] = _rand(rng, (B, I), dtype)  # cell input
    return d


def run_recurrent(k, d, lengths=None, seq=True, cell=True):
    """Every kernel of d's family on backend module k: {name: array} of all outputs and gradients."""
    f, T, B, I, H, P, G = (d[n] for n in ("family", "T", "B", "I", "H", "P", "G"))
    dt = d["x"].dtype
    e = lambda *s: np.empty(s, dt)  # noqa: E731
    z = lambda *s: np.zeros(s, dt)  # noqa: E731
    x, h0, w_ih, w_hh, b_ih, b_hh = d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"]
    out = {}
    if lengths is not None:
        lengths = np.ascontiguousarray(lengths, np.int64)
    if f == "gru":
        for ra in (True, False):
            s = "ra" if ra else "rb"
            if seq:
                y, h_n, hs, gates, hn, gh = e(T, B, H), e(B, H), e(T + 1, B, H), e(T, B, 3 * H), e(T, B, H), e(B, 3 * H)
                k.gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, ra)
                dx, dh0, dwi, dwh = e(T, B, I), e(B, H), e(3 * H, I), e(3 * H, H)
                dbi, dbh = (e(3 * H), e(3 * H)) if b_ih is not None else (None, None)
                dgx, dgh, dtmp = e(T, B, 3 * H), (e(T, B, 3 * H) if ra else None), e(B, H)
                k.gru_backward(dx, dh0, dwi, dwh, dbi, dbh, dgx, dgh, dtmp, d["dy"], d["dh_n"], x, w_ih, w_hh, hs,
                               gates, hn, lengths, ra)
                out.update({f"{s}_y": y, f"{s}_h_n": h_n, f"{s}_dx": dx, f"{s}_dh0": dh0, f"{s}_dw_ih": dwi,
                            f"{s}_dw_hh": dwh, f"{s}_db_ih": dbi, f"{s}_db_hh": dbh})
            if cell:
                xc, h = d["xc"], h0
                h_new, gates, hn, gh = e(B, H), e(B, 3 * H), e(B, H), e(B, 3 * H)
                k.gru_cell_forward(h_new, gates, hn, gh, xc, h, w_ih, w_hh, b_ih, b_hh, ra)
                dx, dh, dwi, dwh = e(B, I), e(B, H), z(3 * H, I), z(3 * H, H)
                dbi, dbh = (z(3 * H), z(3 * H)) if b_ih is not None else (None, None)
                dgx, dgh, dtmp = e(B, 3 * H), (e(B, 3 * H) if ra else None), e(B, H)
                k.gru_cell_backward(dx, dh, dwi, dwh, dbi, dbh, dgx, dgh, dtmp, d["dh_n"], xc, h, w_ih, w_hh, gates,
                                    hn, ra)
                out.update({f"{s}_cell_h": h_new, f"{s}_cell_dx": dx, f"{s}_cell_dh": dh, f"{s}_cell_dw_ih": dwi,
                            f"{s}_cell_dw_hh": dwh, f"{s}_cell_db_ih": dbi, f"{s}_cell_db_hh": dbh})
    elif f.startswith("lstm"):
        w_hr, c0 = d["w_hr"], d["c0"]
        proj = w_hr is not None
        if seq:
            y, h_n, c_n = e(T, B, P), e(B, P), e(B, H)
            hs, cs, gates, ms = e(T + 1, B, P), e(T + 1, B, H), e(T, B, 4 * H), (e(T, B, H) if proj else None)
            k.lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths)
            dx, dh0, dc0, dwi, dwh = e(T, B, I), e(B, P), e(B, H), e(4 * H, I), e(4 * H, P)
            dbi, dbh = (e(4 * H), e(4 * H)) if b_ih is not None else (None, None)
            dwr, dhs = (e(P, H), e(T, B, P)) if proj else (None, None)
            k.lstm_backward(dx, dh0, dc0, dwi, dwh, dbi, dbh, dwr, e(T, B, 4 * H), dhs, d["dy"], d["dh_n"], d["dc_n"],
                            x, w_ih, w_hh, w_hr, hs, cs, gates, ms, lengths)
            out.update({"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0, "dw_ih": dwi, "dw_hh": dwh,
                        "db_ih": dbi, "db_hh": dbh, "dw_hr": dwr})
        if cell:
            xc, h = d["xc"], h0
            h_new, c_new, gates, m = e(B, P), e(B, H), e(B, 4 * H), (e(B, H) if proj else None)
            k.lstm_cell_forward(h_new, c_new, gates, m, xc, h, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
            dx, dh, dc, dwi, dwh = e(B, I), e(B, P), e(B, H), z(4 * H, I), z(4 * H, P)
            dbi, dbh = (z(4 * H), z(4 * H)) if b_ih is not None else (None, None)
            dwr = z(P, H) if proj else None
            k.lstm_cell_backward(dx, dh, dc, dwi, dwh, dbi, dbh, dwr, e(B, 4 * H), d["dh_n"], d["dc_n"], xc, h, c0,
                                 c_new, w_ih, w_hh, w_hr, gates, m)
            out.update({"cell_h": h_new, "cell_c": c_new, "cell_dx": dx, "cell_dh": dh, "cell_dc": dc,
                        "cell_dw_ih": dwi, "cell_dw_hh": dwh, "cell_db_ih": dbi, "cell_db_hh": dbh, "cell_dw_hr": dwr})
    else:
        relu = f == "rnn_relu"
        if seq:
            y, h_n, hs = e(T, B, H), e(B, H), e(T + 1, B, H)
            k.rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu)
            dx, dh0, dwi, dwh = e(T, B, I), e(B, H), e(H, I), e(H, H)
            dbi, dbh = (e(H), e(H)) if b_ih is not None else (None, None)
            k.rnn_backward(dx, dh0, dwi, dwh, dbi, dbh, e(T, B, H), d["dy"], d["dh_n"], x, w_ih, w_hh, hs, lengths,
                           relu)
            out.update({"y": y, "h_n": h_n, "dx": dx, "dh0": dh0, "dw_ih": dwi, "dw_hh": dwh, "db_ih": dbi,
                        "db_hh": dbh})
        if cell:
            xc, h = d["xc"], h0
            h_new = e(B, H)
            k.rnn_cell_forward(h_new, xc, h, w_ih, w_hh, b_ih, b_hh, relu)
            dx, dh, dwi, dwh = e(B, I), e(B, H), z(H, I), z(H, H)
            dbi, dbh = (z(H), z(H)) if b_ih is not None else (None, None)
            k.rnn_cell_backward(dx, dh, dwi, dwh, dbi, dbh, e(B, H), d["dh_n"], xc, h, h_new, w_ih, w_hh, relu)
            out.update({"cell_h": h_new, "cell_dx": dx, "cell_dh": dh, "cell_dw_ih": dwi, "cell_dw_hh": dwh,
                        "cell_db_ih": dbi, "cell_db_hh": dbh})
    return out


def assert_same(got, ref, rtol, what=""):
    assert got.keys() == ref.keys()
    for name in ref:
        a, b = got[name], ref[name]
        if b is None:
            assert a is None, name
            continue
        assert a.shape == b.shape, (what, name)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"{what} {name}")


# ------------------------------------------------------------------------------------ zero sizes
ZERO_SHAPES = [(0, 3, 4, 5), (3, 0, 4, 5), (3, 2, 0, 5), (3, 2, 4, 0), (0, 0, 0, 0), (2, 1, 3, 0), (0, 1, 3, 5),
               (2, 9, 0, 17)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_sizes_match_numpy(backend, family, shape, bias):
    """T, B, I or H = 0 through every kernel: no out-of-bounds access (the C++ input projection used to
    write the bias row into a zero-row buffer), results equal to the numpy reference (zeros where
    nothing contributes, e.g. bias gradients of an empty batch)."""
    d = make_params(family, *shape, bias=bias, seed=sum(shape))
    got = run_recurrent(kernels(backend), d)
    ref = run_recurrent(kernels("numpy"), d)
    assert_same(got, ref, 1e-12, f"{backend} {family} {shape}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_sizes_with_lengths_and_team(backend):
    """Zero batch rows and zero-length rows with lengths, and a team-sized batch with I = 0."""
    for family in FAMILIES:
        d = make_params(family, 3, 4, 2, 6, seed=1)
        got = run_recurrent(kernels(backend), d, lengths=[0, 3, 0, 1])
        ref = run_recurrent(kernels("numpy"), d, lengths=[0, 3, 0, 1])
        assert_same(got, ref, 1e-12, family)
