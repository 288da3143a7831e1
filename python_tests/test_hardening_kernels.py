"""The kernels' own safety, called directly (rnnfast._core, rnnfast._numba, rnnfast._numpy), below the
functional layer's validation: zero sizes, misaligned and shrunk arrays, NaN/inf agreement between
backends, CTC beam search limits.

`run_recurrent` allocates every array of one kernel family exactly as the bindings expect (csrc/*.h)
and runs the sequence and cell kernels forward and backward; other test files import it.
"""
import os

import numpy as np
import pytest

import rnnfast
from rnnfast import _backend

BACKENDS = [b for b in ("cpp", "numba", "numpy") if b in rnnfast.available_backends()]
FAMILIES = ["gru", "lstm", "lstm_proj", "rnn_tanh", "rnn_relu"]

# The NumPy reference backend computes with the inf/NaN inputs these tests feed it (the values are compared).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in:RuntimeWarning")


def kernels(name):
    return _backend.kernels(name)


def _rand(rng, shape, dt, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(dt)


def make_params(family, T, B, I, H, dtype=np.float64, seed=0, bias=True, P=None):
    """Inputs of one recurrent case: x, h0 (c0), weights, biases, upstream gradients."""
    rng = np.random.default_rng(seed)
    G = {"gru": 3, "lstm": 4, "lstm_proj": 4}.get(family, 1)
    P = (max(H - 1, 0) if P is None else P) if family == "lstm_proj" else H
    d = {"family": family, "T": T, "B": B, "I": I, "H": H, "P": P, "G": G}
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


def run_recurrent(k, d, lengths=None, seq=True, cell=True, reverse=False):
    """Every kernel of d's family on backend module k: {name: array} of all outputs and gradients
    (the sequence kernels in time order, or in reverse order with reverse=True)."""
    f, T, B, I, H, P = (d[n] for n in ("family", "T", "B", "I", "H", "P"))
    dt = d["x"].dtype
    e = lambda *s: np.empty(s, dt)
    z = lambda *s: np.zeros(s, dt)
    x, h0, w_ih, w_hh, b_ih, b_hh = d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"]
    out = {}
    if lengths is not None:
        lengths = np.ascontiguousarray(lengths, np.int64)
    if f == "gru":
        for ra in (True, False):
            s = "ra" if ra else "rb"
            if seq:
                y, h_n, hs, gates, hn, gh = e(T, B, H), e(B, H), e(T + 1, B, H), e(T, B, 3 * H), e(T, B, H), e(B, 3 * H)
                k.gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, ra, reverse)
                dx, dh0, dwi, dwh = e(T, B, I), e(B, H), e(3 * H, I), e(3 * H, H)
                dbi, dbh = (e(3 * H), e(3 * H)) if b_ih is not None else (None, None)
                dgx, dgh, dtmp = e(T, B, 3 * H), (e(T, B, 3 * H) if ra else None), e(B, H)
                k.gru_backward(dx, dh0, dwi, dwh, dbi, dbh, dgx, dgh, dtmp, d["dy"], d["dh_n"], x, w_ih, w_hh, hs,
                               gates, hn, lengths, ra, reverse)
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
            k.lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse)
            dx, dh0, dc0, dwi, dwh = e(T, B, I), e(B, P), e(B, H), e(4 * H, I), e(4 * H, P)
            dbi, dbh = (e(4 * H), e(4 * H)) if b_ih is not None else (None, None)
            dwr, dhs = (e(P, H), e(T, B, P)) if proj else (None, None)
            k.lstm_backward(dx, dh0, dc0, dwi, dwh, dbi, dbh, dwr, e(T, B, 4 * H), dhs, d["dy"], d["dh_n"], d["dc_n"],
                            x, w_ih, w_hh, w_hr, hs, cs, gates, ms, lengths, reverse)
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
            k.rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse)
            dx, dh0, dwi, dwh = e(T, B, I), e(B, H), e(H, I), e(H, H)
            dbi, dbh = (e(H), e(H)) if b_ih is not None else (None, None)
            k.rnn_backward(dx, dh0, dwi, dwh, dbi, dbh, e(T, B, H), d["dy"], d["dh_n"], x, w_ih, w_hh, hs, lengths,
                           relu, reverse)
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


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_sizes_match_numpy(backend, family, shape, bias, reverse):
    """T, B, I or H = 0 through every kernel: no out-of-bounds access (the C++ input projection used to
    write the bias row into a zero-row buffer), results equal to the numpy reference (zeros where
    nothing contributes, e.g. bias gradients of an empty batch)."""
    d = make_params(family, *shape, bias=bias, seed=sum(shape))
    got = run_recurrent(kernels(backend), d, reverse=reverse)
    ref = run_recurrent(kernels("numpy"), d, reverse=reverse)
    assert_same(got, ref, 1e-12, f"{backend} {family} {shape}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_sizes_with_lengths_and_team(backend):
    """Zero batch rows and zero-length rows with lengths, and a team-sized batch with I = 0."""
    for family in FAMILIES:
        for reverse in (False, True):
            d = make_params(family, 3, 4, 2, 6, seed=1)
            got = run_recurrent(kernels(backend), d, lengths=[0, 3, 0, 1], reverse=reverse)
            ref = run_recurrent(kernels("numpy"), d, lengths=[0, 3, 0, 1], reverse=reverse)
            assert_same(got, ref, 1e-12, f"{family} reverse={reverse}")


# ------------------------------------------------------------------------ NaN / inf agreement
def _nan_masks(out):
    return {k: np.isnan(v) for k, v in out.items() if v is not None}


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_rnn_propagates_nan_preactivation(backend):
    """A NaN pre-activation stays NaN through ReLU (torch.relu and the numpy backend), not 0."""
    d = make_params("rnn_relu", 3, 2, 3, 4, seed=1)
    d["x"][0, 0, 0] = np.nan
    got = run_recurrent(kernels(backend), d)
    assert np.isnan(got["y"][0, 0]).any()
    d["xc"][1, 0] = np.nan
    assert np.isnan(run_recurrent(kernels(backend), d, seq=False)["cell_h"][1]).any()
    ref = run_recurrent(kernels("numpy"), d)
    got = run_recurrent(kernels(backend), d)
    for k, m in _nan_masks(ref).items():
        np.testing.assert_array_equal(np.isnan(got[k]), m, err_msg=k)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_inf_upstream_gradients_agree(backend, family):
    """inf/-inf upstream gradients: the same NaN pattern and finite values in every backend; a ReLU row
    whose pre-activation was <= 0 passes 0 (torch's threshold_backward), not inf * 0 = NaN."""
    d = make_params(family, 3, 2, 3, 4, seed=1)
    d["dy"][1, 0, 0] = np.inf
    d["dh_n"][0, 1] = -np.inf
    ref, got = run_recurrent(kernels("numpy"), d), run_recurrent(kernels(backend), d)
    for k, m in _nan_masks(ref).items():
        np.testing.assert_array_equal(np.isnan(got[k]), m, err_msg=k)
        fin = np.isfinite(ref[k])
        np.testing.assert_allclose(got[k][fin], ref[k][fin], rtol=1e-9, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("B", [3, 40], ids=["small", "team"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_past_their_length_carry_gradients_past_nonfinite_weights(backend, family, B, reverse):
    """A row of length 0 passes dh_n through unchanged (as a packed sequence never touches it), also when
    W_hh holds inf or NaN: its zero gate gradients times W_hh are not added (0 * inf = NaN). Rows that do
    run match the numpy reference, NaN for NaN. In reverse order the padding comes last in the backward
    pass: a row carries the gradient it had when its sequence ended."""
    rnnfast.set_num_threads(2)
    try:
        d = make_params(family, 4, B, 3, 5, seed=3)
        d["w_hh"][1, 0], d["w_hh"][-1, -1] = -np.inf, np.nan
        lengths = np.arange(B) % 3 * 2  # 0, 2, 4, 0, ...: every third row never runs
        got = run_recurrent(kernels(backend), d, lengths=lengths, cell=False, reverse=reverse)
        ref = run_recurrent(kernels("numpy"), d, lengths=lengths, cell=False, reverse=reverse)
    finally:
        rnnfast.set_num_threads(1)
    for name in [n for n in ref if n.endswith("dh0")]:
        np.testing.assert_array_equal(got[name][lengths == 0], d["dh_n"][lengths == 0], err_msg=name)
    for k, m in _nan_masks(ref).items():
        np.testing.assert_array_equal(np.isnan(got[k]), m, err_msg=k)
        fin = np.isfinite(ref[k])
        np.testing.assert_allclose(got[k][fin], ref[k][fin], rtol=1e-9, atol=1e-9, err_msg=k)


def test_relu_inf_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    d = make_params("rnn_relu", 1, 2, 3, 4, seed=2)
    d["dh_n"][:] = 1.0
    d["dy"][:] = np.inf
    out = run_recurrent(kernels("numpy"), d, cell=False)
    x = torch.tensor(d["x"], requires_grad=True)
    pre = x[0] @ torch.tensor(d["w_ih"]).T + torch.tensor(d["b_ih"] + d["b_hh"]) + torch.tensor(d["h0"]) @ torch.tensor(
        d["w_hh"]).T
    h = torch.relu(pre)
    (h * torch.tensor(d["dy"][0] + d["dh_n"])).sum().backward()
    for backend in BACKENDS:
        got = run_recurrent(kernels(backend), d, cell=False)["dx"]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(x.grad.numpy()), err_msg=backend)
    np.testing.assert_array_equal(np.isnan(out["dx"]), np.isnan(x.grad.numpy()))


@pytest.mark.parametrize("force_log_space", [False, True], ids=["scaled", "log_space"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctc_neg_inf_log_probs_finite_gradient(backend, force_log_space):
    """log_probs = -inf (probability 0): gradient 0 there and finite everywhere, in every backend and
    on both passes of the compiled kernels (csrc/ctc.h); torch gives NaN at those entries."""
    from rnnfast import ctc
    rng = np.random.default_rng(0)
    T, C = 12, 5
    lp = rng.standard_normal((T, 2, C))
    lp -= np.log(np.exp(lp).sum(2, keepdims=True))
    lp[3, 0, 2] = lp[4, 1, 0] = -np.inf
    if force_log_space:
        lp[6] = -800.0  # every class below 1e-300: the scaled pass gives up
    tg = np.array([[1, 2, 3], [2, 2, 1]])
    with rnnfast.use_backend("numpy"):
        ref_l, ref_g = ctc.ctc_loss(lp, tg, [T, T], [3, 3], reduction="none", return_grad=True)
    with rnnfast.use_backend(backend):
        loss, grad = ctc.ctc_loss(lp, tg, [T, T], [3, 3], reduction="none", return_grad=True)
    assert np.isfinite(grad).all() and np.isfinite(loss).all()
    assert grad[3, 0, 2] == 0 and grad[4, 1, 0] == 0
    np.testing.assert_allclose(loss, ref_l, rtol=1e-10)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------------------ beam search
def _beam_case(T=6, B=3, C=4, seed=0):
    rng = np.random.default_rng(seed)
    lp = rng.standard_normal((T, B, C)) * 2
    return lp - np.log(np.exp(lp).sum(2, keepdims=True))


@pytest.mark.parametrize("backend", BACKENDS)
def test_beam_width_is_not_truncated(backend):
    """beam_width beyond 2**31 is a width, not a C int: 2**31 used to segfault and 2**32 + 1 searched
    with width 1. Widths above the number of distinct prefixes give the exhaustive search's result."""
    from rnnfast import ctc
    lp = _beam_case()
    with rnnfast.use_backend("numpy"):
        ref = ctc.beam_search(lp, beam_width=10**6, top_k=5)
    with rnnfast.use_backend(backend):
        for w in (2**31, 2**32 + 1, 2**62):
            got = ctc.beam_search(lp, beam_width=w, top_k=5)
            assert [[h[0] for h in item] for item in got] == [[h[0] for h in item] for item in ref], w
            np.testing.assert_allclose([[h[1] for h in item] for item in got],
                                       [[h[1] for h in item] for item in ref], rtol=1e-10)
        narrow = ctc.beam_search(lp, beam_width=1, top_k=5)
    assert all(len(item) == 1 for item in narrow)


@pytest.mark.parametrize("backend", BACKENDS)
def test_beam_memory_bound_raises_memory_error(backend):
    """Above the documented scratch bound (csrc/ctc_decode.h) every backend raises the same MemoryError."""
    from rnnfast import ctc
    from rnnfast._numpy.ctc import (
        BEAM_MAX_SCRATCH,
        beam_effective_width,
        beam_scratch_bytes,
    )
    lp = _beam_case(T=2000, B=1, C=100)
    W = beam_effective_width(2000, 10**6, 100)
    assert beam_scratch_bytes(2000, W, 100) > BEAM_MAX_SCRATCH
    with rnnfast.use_backend(backend), pytest.raises(MemoryError, match=r"beam_width=1000000 .*limit of 1024 MiB"):
        ctc.beam_search(lp, beam_width=10**6)


def test_beam_scratch_formula_matches_cpp_and_is_small():
    pytest.importorskip("rnnfast._core")
    from rnnfast import _core
    from rnnfast._numpy.ctc import beam_effective_width, beam_scratch_bytes
    for T, W, C in [(2000, 100, 100), (1, 10**9, 3), (50, 7, 29), (0, 5, 5), (3, 2**40, 1)]:
        We = beam_effective_width(T, W, C)
        assert _core.ctc_beam_scratch_bytes(T, W, C) == beam_scratch_bytes(T, We, C)
    assert beam_effective_width(3, 10**9, 3) == 1 + 2 + 4 + 8
    assert _core.ctc_beam_scratch_bytes(2000, 100, 100) < 16 << 20  # was ~1.1 GB per thread
    assert _core.beam_scratch_limit == 1 << 30


def test_beam_search_peak_memory_is_bounded():
    """T=2000, W=100, C=100 (2.2 GB peak before): the whole process stays within 200 MB of its size
    before the call (subprocess: ru_maxrss is a high-water mark)."""
    import subprocess
    import sys
    code = """if True:
        import resource, numpy as np, rnnfast
        from rnnfast import ctc
        rnnfast.set_num_threads(2)
        rng = np.random.default_rng(0)
        lp = rng.standard_normal((2000, 2, 100)); lp -= np.log(np.exp(lp).sum(2, keepdims=True))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with rnnfast.use_backend("cpp"):
            ctc.beam_search(lp, beam_width=100)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 200 * 1024, f"peak grew by {out.stdout.strip()} kB"


def test_bad_alloc_in_worker_thread_is_memory_error():
    """An allocation failure on a kernel thread becomes MemoryError in Python (no exception may escape a
    thread: that is std::terminate). The address space is limited in a subprocess so that two threads'
    beam scratch (each under the per-thread bound) cannot both be allocated."""
    import subprocess
    import sys
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):  # .ci/sanitize; the plain build runs this test
        pytest.skip("AddressSanitizer's allocator ignores RLIMIT_AS (it reserves its own address space)")
    code = """if True:
        import resource, numpy as np, rnnfast
        from rnnfast import _core
        rnnfast.set_num_threads(2)
        T, B, C, W = 1000, 2, 1000, 16
        lp = np.full((T, B, C), -np.log(C))
        il = np.full(B, T, np.int64)
        need = _core.ctc_beam_scratch_bytes(T, W, C)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + need // 2, hard))
        try:
            _core.ctc_beam_search(np.empty((B, 1, T), np.int64), np.empty((B, 1), np.int64), np.empty((B, 1)), lp, il,
                                  0, W, 1)
            print("no error")
        except MemoryError:
            print("MemoryError")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "MemoryError"


# ----------------------------------------------------------------------- misaligned arrays
def _misaligned(a):
    buf = np.empty(a.nbytes + 1, np.uint8)
    v = buf[1:].view(a.dtype).reshape(a.shape)
    v[...] = a
    assert v.flags.c_contiguous and not v.flags.aligned
    return v


def test_cpp_rejects_misaligned_arrays():
    """A C-contiguous float view at byte offset 1 must not reach the kernels (misaligned loads are
    undefined behaviour): the bindings name the argument."""
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    d = make_params("rnn_tanh", 3, 2, 3, 4)
    d["x"] = _misaligned(d["x"])
    with pytest.raises(ValueError, match=r"^x: array data is not aligned to 8 bytes"):
        run_recurrent(kernels("cpp"), d, cell=False)
    d = make_params("gru", 3, 2, 3, 4, dtype=np.float32)
    d["w_hh"] = _misaligned(d["w_hh"])
    with pytest.raises(ValueError, match=r"w_hh: array data is not aligned to 4 bytes"):
        run_recurrent(kernels("cpp"), d, seq=False)


# ------------------------------------------------------------------- arrays the kernels re-check
@pytest.mark.parametrize("backend", BACKENDS)
def test_shrunk_cache_raises(backend):
    """A cache whose arrays were replaced by smaller ones must raise (numba does not check indices: it
    used to read out of bounds), with the argument's name, as the cpp bindings do."""
    from rnnfast import functional as F
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2))
    with rnnfast.use_backend(backend):
        y, _, cache = F.gru_forward(x, None, rng.standard_normal((15, 2)), rng.standard_normal((15, 5)))
        cache.hs = cache.hs[:2].copy()
        with pytest.raises(ValueError, match=r"hs\b.*shape \(5, 3, 5\).*got .*\(2, 3, 5\)"):
            F.gru_backward(np.ones_like(y), None, cache)
        y, _, _, cache = F.lstm_forward(x, None, None, rng.standard_normal((20, 2)), rng.standard_normal((20, 5)))
        cache.gates = np.ascontiguousarray(cache.gates[:, :, :7])
        with pytest.raises(ValueError, match=r"gates\b.*shape \(4, 3, 20\)"):
            F.lstm_backward(np.ones_like(y), None, None, cache)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_recheck_arguments(backend):
    """Direct kernel calls with a wrong shape, dtype, layout or a read-only or misaligned output raise
    in every backend, naming the argument."""
    k = kernels(backend)
    d = make_params("rnn_tanh", 3, 2, 3, 4)
    T, B, H = 3, 2, 4
    ok = lambda: [np.empty((T, B, H)), np.empty((B, H)), np.empty((T + 1, B, H))]
    args = lambda y, h_n, hs: (y, h_n, hs, d["x"], None, d["w_ih"], d["w_hh"], None, None, None, False, False)
    k.rnn_forward(*args(*ok()))
    y, h_n, hs = ok()
    with pytest.raises(ValueError, match=r"hs: expected shape \(4, 2, 4\)"):
        k.rnn_forward(*args(y, h_n, hs[:3].copy()))
    with pytest.raises(TypeError, match=r"h_n: expected dtype float64, got float32"):
        k.rnn_forward(*args(y, h_n.astype(np.float32), hs))
    with pytest.raises(ValueError, match=r"y must be C-contiguous"):
        k.rnn_forward(*args(np.empty((H, B, T)).T, h_n, hs))
    h_n.flags.writeable = False
    with pytest.raises(ValueError, match=r"h_n is read-only"):
        k.rnn_forward(*args(y, h_n, hs))
    with pytest.raises(ValueError, match=r"y: array data is not aligned"):
        k.rnn_forward(*args(_misaligned(np.empty((T, B, H))), np.empty((B, H)), hs))
    with pytest.raises(ValueError, match=r"lengths\[1\] = 7 is outside \[0, T=3\]"):
        k.rnn_forward(*args(*ok())[:9], np.array([1, 7]), False, False)


# ------------------------------------------------------------------------------ determinism
def _bitwise_equal(a, b):
    return all((a[k] is None and b[k] is None) or np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.fixture
def cpp_team2():
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend missing")
    from rnnfast import _core
    before = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    yield _core
    rnnfast.set_num_threads(before)


@pytest.mark.parametrize("family", FAMILIES)
def test_team_and_solo_results_are_bitwise_equal(cpp_team2, family):
    """A call that finds a team busy runs on its caller alone: its products are split into the same
    parts as the team's (csrc/team.h for_parts), so results are bitwise equal, float32 included.
    Solo is forced as conftest.solo_as_when_busy does (the path a busy team takes)."""
    from conftest import solo_as_when_busy
    _core = cpp_team2
    d = make_params(family, 5, 16, 20, 136, dtype=np.float32, seed=3)
    for reverse in (False, True):
        runs = _core.team_runs()
        team = run_recurrent(kernels("cpp"), d, cell=False, lengths=[5, 3] * 8, reverse=reverse)
        assert _core.team_runs() > runs, "the shape should run a team"
        with solo_as_when_busy():
            solo = run_recurrent(kernels("cpp"), d, cell=False, lengths=[5, 3] * 8, reverse=reverse)
        assert _bitwise_equal(team, solo)


def test_concurrent_callers_get_identical_results(cpp_team2):
    """Several threads calling at once (one team at a time, the others solo) get bitwise the results of
    a call made alone."""
    import threading
    d = make_params("gru", 4, 16, 20, 136, dtype=np.float32, seed=5)
    ref = run_recurrent(kernels("cpp"), d, cell=False)
    bad = []

    def work():
        for _ in range(4):
            if not _bitwise_equal(run_recurrent(kernels("cpp"), d, cell=False), ref):
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
