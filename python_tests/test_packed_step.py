"""Packed per-step recurrent products (csrc/packed_step.h) against the BLAS path and PyTorch.

The C++ sequence kernels multiply each step's state by W_hh (forward) and the gate gradients by W_hh
(backward) either through the BLAS or through weights packed once per call and register-blocked
micro-kernels (AVX-512 or AVX2+FMA, whichever the extension was compiled for). Both paths, switched
with the private ``_core._set_step_product``, are checked against each other and against PyTorch
autograd (float64 1e-10, float32 1e-5) on odd sizes: H not a multiple of the vector width or of the
two-vector panel, B = 1, 3, 17 (a remainder after full 8- or 6-row tiles), projections, ``lengths``
(zero-length rows against the numpy backend) and thread teams of 2 and 3 threads, which split the
packed products by panels of output columns. Odd steps read the packed weight backwards (panels and
their rows last to first, so that a step starts on what the previous step left in L1): every multi-step
case runs both directions, with K both a multiple of the accumulator sets and not.
"""
import numpy as np
import pytest

import rnnfast
import rnnfast.functional

pytest.importorskip("rnnfast._core")
from rnnfast import _core

torch = pytest.importorskip("torch")
import test_gru_functional as G
import test_lstm_functional as L
import test_rnn_functional as R
from conftest import solo_as_when_busy

if "cpp" not in rnnfast.available_backends():
    pytest.skip("the cpp backend is not available", allow_module_level=True)

TOL = {np.float64: 1e-10, np.float32: 1e-5}
ISA = _core._step_product()[1]
PATHS = ["blas", "packed"] if ISA != "none" else ["blas"]


def test_build_reports_its_packed_kernels():
    """A native x86-64 build with AVX2+FMA or AVX-512 must have the packed path, on by default for calls of
    at least 64 step rows (T * B) and off below, where packing W_hh costs more than it saves."""
    import platform

    path, isa, _ = _core._step_product()
    assert isa in ("avx512", "avx2", "none")
    if isa != "none":
        assert path == "auto", "the packed path is the default where it is compiled"
        d = G.make_case(64, 1, 3, 8, dtype=np.float64, seed=0)
        for T, packs in ((63, False), (64, True)):
            made = _core._step_product()[2]
            with rnnfast.use_backend("cpp"):
                rnnfast.functional.gru_forward(d["x"][:T], d["h0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
            assert (_core._step_product()[2] > made) == packs, (T, packs)
    elif platform.machine() in ("x86_64", "AMD64"):
        pytest.skip("this build has no packed kernels (compiled without AVX2+FMA): only the BLAS path is tested")


def test_switch_rejects_unknown_names():
    with pytest.raises(ValueError, match="'blas' or 'packed'"):
        _core._set_step_product("fast")


@pytest.fixture(autouse=True)
def restore_path():
    before = _core._step_product()[0]
    yield
    _core._set_step_product(before)


@pytest.fixture(params=PATHS)
def path(request):
    return request.param


@pytest.fixture(params=[2, 3], ids=lambda n: f"team{n}")
def team(request):
    before_policy, before_threads = _core.get_team_policy(), rnnfast.get_num_threads()
    _core.set_team_policy(1, 1, 1, 1)
    rnnfast.set_num_threads(request.param)
    yield request.param
    _core.set_team_policy(*before_policy)
    rnnfast.set_num_threads(before_threads)


def run(path, fn):
    """fn() on the given path; asserts that the packed path really packed weights (forward and backward)."""
    _core._set_step_product(path)
    made = _core._step_product()[2]
    out = fn()
    if path == "packed":
        assert _core._step_product()[2] >= made + 2, "the packed path did not run"
    else:
        assert _core._step_product()[2] == made, "the BLAS path packed weights"
    return out


def both_paths(fn, dtype):
    """fn() on every path; the paths must agree with each other (and the caller checks one against torch)."""
    res = {p: run(p, fn) for p in PATHS}
    if len(res) == 2:
        G.assert_close(res["packed"], res["blas"], TOL[dtype])
    return res[PATHS[-1]]


# T, B, I, H: B = 1, 3, 17; H odd, below / above one panel (16 or 32 floats, 8 or 16 doubles)
GRU_SHAPES = [(4, 1, 5, 7), (3, 3, 6, 17), (3, 17, 5, 33), (2, 17, 9, 70), (5, 3, 4, 1)]


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", GRU_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_gru_packed_matches_blas_and_torch(path, shape, dtype, reset_after):
    d = G.make_case(*shape, dtype=dtype, seed=sum(shape))
    got = run(path, lambda: G.ours(d, "cpp", reset_after=reset_after))
    G.assert_close(got, G.torch_gru(d, reset_after=reset_after), TOL[dtype])


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_gru_packed_lengths(reset_after):
    d = G.make_case(6, 17, 5, 21, seed=7)
    lengths = [6, 4, 3, 1, 6, 2, 5, 6, 1, 3, 4, 5, 6, 2, 2, 3, 6]
    got = both_paths(lambda: G.ours(d, "cpp", lengths=lengths, reset_after=reset_after), np.float64)
    if reset_after:
        G.assert_close(got, G.torch_gru(d, lengths=lengths), TOL[np.float64])
    lengths[1] = lengths[8] = 0  # torch's packed sequences refuse empty rows
    got = both_paths(lambda: G.ours(d, "cpp", lengths=lengths, reset_after=reset_after, dh_n=False), np.float64)
    G.assert_close(got, G.ours(d, "numpy", lengths=lengths, reset_after=reset_after, dh_n=False), TOL[np.float64])


# T, B, I, H, P
LSTM_SHAPES = [(4, 1, 5, 7, 0), (3, 3, 6, 17, 0), (3, 17, 5, 33, 0), (2, 17, 9, 40, 19), (4, 3, 4, 9, 5),
               (3, 1, 3, 20, 3)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", LSTM_SHAPES, ids=lambda s: "T{}B{}I{}H{}P{}".format(*s))
def test_lstm_packed_matches_blas_and_torch(path, shape, dtype):
    d = L.make_case(*shape, dtype=dtype, seed=sum(shape))
    got = run(path, lambda: L.ours(d, "cpp"))
    L.assert_close(got, L.torch_lstm(d), TOL[dtype])


@pytest.mark.parametrize("P", [0, 11])
def test_lstm_packed_lengths(P):
    d = L.make_case(6, 17, 5, 21, P=P, seed=8)
    lengths = [6, 4, 3, 1, 6, 2, 5, 6, 1, 3, 4, 5, 6, 2, 2, 3, 6]
    got = both_paths(lambda: L.ours(d, "cpp", lengths=lengths), np.float64)
    L.assert_close(got, L.torch_lstm(d, lengths=lengths), TOL[np.float64])
    lengths[2] = lengths[16] = 0
    got = both_paths(lambda: L.ours(d, "cpp", lengths=lengths, dy=False, use_c0=False), np.float64)
    L.assert_close(got, L.ours(d, "numpy", lengths=lengths, dy=False, use_c0=False), TOL[np.float64])


RNN_SHAPES = [(4, 1, 5, 7), (3, 3, 6, 17), (3, 17, 5, 33), (2, 17, 9, 70)]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", RNN_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_rnn_packed_matches_blas_and_torch(path, shape, dtype, nonlinearity):
    d = R.make_case(*shape, dtype=dtype, seed=sum(shape))
    got = run(path, lambda: R.ours(d, "cpp", nonlinearity))
    R.assert_close(got, R.torch_rnn(d, nonlinearity), TOL[dtype])


def test_rnn_packed_lengths():
    d = R.make_case(6, 17, 5, 21, seed=9)
    lengths = [6, 4, 3, 1, 6, 2, 5, 6, 1, 3, 4, 5, 6, 2, 2, 3, 6]
    got = both_paths(lambda: R.ours(d, "cpp", "tanh", lengths=lengths), np.float64)
    R.assert_close(got, R.torch_rnn(d, "tanh", lengths=lengths), TOL[np.float64])
    lengths[0] = 0
    got = both_paths(lambda: R.ours(d, "cpp", "relu", lengths=lengths, dy=False), np.float64)
    R.assert_close(got, R.ours(d, "numpy", "relu", lengths=lengths, dy=False), TOL[np.float64])


# Teams: B = 17 rows, H giving more panels than threads (float64 H = 70: 5 panels of 16 on AVX-512) and
# fewer (H = 9: the n block of a GRU is one panel, so one thread of the team has no columns).
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("H", [9, 70])
def test_teams_split_packed_products(team, H, dtype):
    runs = _core.team_runs()
    dg = G.make_case(3, 17, 6, H, dtype=dtype, seed=H)
    for reset_after in (True, False):
        got = both_paths(lambda ra=reset_after: G.ours(dg, "cpp", reset_after=ra), dtype)
        G.assert_close(got, G.torch_gru(dg, reset_after=reset_after), TOL[dtype])
    dl = L.make_case(3, 17, 6, H, P=H // 2 + 1, dtype=dtype, seed=H + 1)
    L.assert_close(both_paths(lambda: L.ours(dl, "cpp"), dtype), L.torch_lstm(dl), TOL[dtype])
    dr = R.make_case(3, 17, 6, H, dtype=dtype, seed=H + 2)
    R.assert_close(both_paths(lambda: R.ours(dr, "cpp", "tanh"), dtype), R.torch_rnn(dr, "tanh"), TOL[dtype])
    assert _core.team_runs() >= runs + 8 * len(PATHS), "every call should have run a team"


def test_team_lengths_packed(team):
    d = L.make_case(5, 17, 4, 33, P=0, seed=10)
    lengths = [5, 4, 3, 1, 5, 2, 5, 5, 1, 3, 4, 5, 5, 2, 2, 3, 5]
    L.assert_close(both_paths(lambda: L.ours(d, "cpp", lengths=lengths), np.float64),
                   L.torch_lstm(d, lengths=lengths), TOL[np.float64])
    dg = G.make_case(5, 17, 4, 33, seed=11)
    G.assert_close(both_paths(lambda: G.ours(dg, "cpp", lengths=lengths, reset_after=False), np.float64),
                   G.ours(dg, "numpy", lengths=lengths, reset_after=False), TOL[np.float64])


# Per-step products whose `in` exceeds 1 MB run in K blocks of 256 rows of the weight, with `out` in
# column chunks (packed_step.h product()). Backward `in` is the gate gradients (B, gates*H), 1.06-1.08 MB
# here, added to dh; the GRU's reset_before steps also write products of the state (B, H) without adding
# (forward W_hn, backward d(r*h)). B, H and K none a multiple of their blocks or tiles; T = 3 reads the
# weight in both directions.
K_BLOCK_CASES = [("lstm", np.float64, (3, 37, 5, 901)), ("lstm", np.float32, (3, 67, 4, 1001)),
                 ("gru", np.float64, (3, 129, 6, 1025)), ("rnn", np.float64, (3, 65, 3, 2049))]


@pytest.mark.parametrize("family,dtype,shape", K_BLOCK_CASES,
                         ids=[f"{f}-{np.dtype(d).name}-B{s[1]}H{s[3]}" for f, d, s in K_BLOCK_CASES])
def test_large_step_products_in_k_blocks(family, dtype, shape):
    if family == "lstm":
        d = L.make_case(*shape, dtype=dtype, seed=5)
        L.assert_close(both_paths(lambda: L.ours(d, "cpp"), dtype), L.torch_lstm(d), TOL[dtype])
    elif family == "gru":
        d = G.make_case(*shape, dtype=dtype, seed=6)
        for reset_after in (True, False):
            got = both_paths(lambda ra=reset_after: G.ours(d, "cpp", reset_after=ra), dtype)
            G.assert_close(got, G.torch_gru(d, reset_after=reset_after), TOL[dtype])
    else:
        d = R.make_case(*shape, dtype=dtype, seed=7)
        R.assert_close(both_paths(lambda: R.ours(d, "cpp", "tanh"), dtype), R.torch_rnn(d, "tanh"), TOL[dtype])


def test_large_step_products_in_k_blocks_in_a_team_equal_the_solo_run_bitwise(team):
    """A team splits the K-blocked per-step products by panels; every thread chunks and blocks its panels
    as the caller alone does: the same bits as the caller alone with the same parts, every output and
    gradient."""
    if ISA == "none":
        pytest.skip("no packed kernels in this build")
    d = L.make_case(3, 37, 5, 901, dtype=np.float64, seed=5)
    _core._set_step_product("packed")
    runs = _core.team_runs()
    got = L.ours(d, "cpp")
    assert _core.team_runs() > runs, "the call should have run a team"
    with solo_as_when_busy():
        solo = L.ours(d, "cpp")
    assert list(got) == list(solo)
    for name in got:
        np.testing.assert_array_equal(got[name], solo[name], err_msg=name)


# (T, B, I, H, P): one row; odd sizes; a projection; T*B = 1190 rows, more than one K block of the weight
# gradients (256 rows) and than one row block of the input projection (1008 float32 / 504 float64 rows at
# I = 65), neither a multiple of its block.
WHOLE_SEQUENCE_SHAPES = [(64, 1, 5, 7, 0), (40, 3, 9, 17, 0), (20, 5, 3, 33, 11), (70, 17, 65, 19, 0)]
FAMILIES = ["lstm", "gru-reset_after", "gru-reset_before", "rnn-tanh"]


def _family_case(family, shape, dtype):
    T, B, I, H, P = shape
    seed = sum(shape)
    if family == "lstm":
        d = L.make_case(T, B, I, H, P, dtype=dtype, seed=seed)
        return (lambda: L.ours(d, "cpp")), (lambda: L.torch_lstm(d)), L.assert_close, 2 + 4 + (1 if P else 0)
    if family.startswith("gru"):
        ra = family.endswith("after")
        d = G.make_case(T, B, I, H, dtype=dtype, seed=seed)
        # per-step W_hh (2; reset_before: + the n block) + W_ih^T, x, h, W_ih (4)
        return ((lambda: G.ours(d, "cpp", reset_after=ra)), (lambda: G.torch_gru(d, reset_after=ra)),
                G.assert_close, 2 + 4 + (0 if ra else 1))
    d = R.make_case(T, B, I, H, dtype=dtype, seed=seed)
    return (lambda: R.ours(d, "cpp", "tanh")), (lambda: R.torch_rnn(d, "tanh")), R.assert_close, 2 + 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("family,shape", [(f, s) for f in FAMILIES for s in WHOLE_SEQUENCE_SHAPES
                                          if f == "lstm" or not s[4]],  # projections are the LSTM's
                         ids=lambda v: v if isinstance(v, str) else "T{}B{}I{}H{}P{}".format(*v))
def test_whole_sequence_products_on_the_micro_kernels(family, shape, dtype):
    """On one thread, with operands that fit L2, the input projection, the weight gradients (the gate
    gradients read transposed in place, in K blocks) and the input gradient run on the packed
    micro-kernels too (more weights packed per call than the per-step products alone need); the results
    equal the BLAS path's and PyTorch's: every family, odd sizes, a projection, blocks with remainders,
    float64 and float32."""
    if ISA == "none":
        pytest.skip("no packed kernels in this build")
    ours, theirs, close, min_packs = _family_case(family, shape, dtype)
    before = rnnfast.get_num_threads()
    rnnfast.set_num_threads(1)
    try:
        _core._set_step_product("auto")
        made = _core._step_product()[2]
        got = ours()
        packs = _core._step_product()[2] - made
        _core._set_step_product("blas")
        ref = ours()
    finally:
        rnnfast.set_num_threads(before)
    assert packs >= min_packs, packs
    close(got, ref, TOL[dtype])
    close(got, theirs(), TOL[dtype])


@pytest.mark.parametrize("family", FAMILIES)
def test_whole_sequence_products_in_a_team_equal_the_solo_run_bitwise(team, family):
    """A team splits the whole-sequence products by panels (output columns), which every thread tiles as a
    solo run does: the same bits for any team size (float32, blocks with remainders, a one-panel n block
    of the GRU at H = 19 leaving a thread of the team without columns). The bias gradients are sums over
    the team's column slices through the BLAS, equal to a one-thread run only within rounding (a busy
    team's solo caller takes the team's slices: test_team_and_solo_results_are_bitwise_equal)."""
    if ISA == "none":
        pytest.skip("no packed kernels in this build")
    ours, _, _, _ = _family_case(family, (70, 17, 65, 19, 0), np.float32)
    runs = _core.team_runs()
    got = ours()
    assert _core.team_runs() > runs, "the call should have run a team"
    rnnfast.set_num_threads(1)  # the fixture restores the count
    solo = ours()
    for name in got:
        if name.startswith("db_"):
            np.testing.assert_allclose(got[name], solo[name], rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], solo[name], err_msg=name)


# T, B, I, H per family: one step's gates (B x G values) fit kProjectionChunkBytes (256 KB, csrc/recurrent.h)
# but the sequence's do not, so the packed path projects x in chunks of steps just before the time loop
# reaches them: float32 LSTM 6 steps per chunk (6 + 6 + 3), float64 3; GRU 8 (8 + 7) and 4; RNN 7
# (7 + 7 + 1) and 3. The BLAS path projects the whole sequence at once.
CHUNK_SHAPES = {"lstm": (15, 9, 5, 300), "gru": (15, 9, 5, 300), "rnn": (15, 9, 5, 1000)}
CHUNK_KINDS = [("lstm", False), ("lstm", True), ("gru", True), ("gru", False), ("rnn", "tanh")]


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,option", CHUNK_KINDS, ids=[f"{k}-{o}" for k, o in CHUNK_KINDS])
def test_input_projection_in_chunks_of_steps(kind, option, dtype, reverse):
    """The packed path's input projection in chunks of steps (last chunk shorter, time order and reverse
    order, rows of every length including 0) gives the BLAS path's outputs and gradients."""
    if ISA == "none":
        pytest.skip("no packed kernels in this build")
    import test_reverse as RV

    T, B, I, H = CHUNK_SHAPES[kind]
    G = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    step = B * G * H * np.dtype(dtype).itemsize
    assert step <= 256 * 1024 < T * step  # chunked, in more than one chunk
    c = RV._case(kind, T, B, I, H, dtype, kind == "lstm" and option, seed=7)
    for w in ("w_ih", "w_hh", "w_hr"):  # PyTorch's init scale: contracting steps, so rounding is not amplified
        if c[w] is not None:
            c[w] = (c[w] * (0.5 / np.sqrt(c[w].shape[1]))).astype(dtype)
    lengths = np.array([15, 0, 3, 15, 7, 1, 14, 15, 9])
    res = {}
    for path in PATHS:
        res[path] = run(path, lambda: RV._run(kind, c, c["x"], c["dy"], lengths, reverse, option))
    if len(res) == 2:
        for i, (a, b) in enumerate(zip(res["packed"][0] + res["packed"][1], res["blas"][0] + res["blas"][1])):
            assert RV.rel_err(a, b) <= TOL[dtype], f"array {i}: {RV.rel_err(a, b)}"


@pytest.mark.parametrize("kind,option", [("lstm", False), ("gru", True), ("rnn", "tanh")])
def test_input_projection_in_chunks_in_a_team_equals_the_solo_run_bitwise(team, kind, option):
    """A team projects each chunk by panels of W_ih^T, the columns its packed step product adds into:
    the same bits as the caller alone with the same parts (reverse order, ragged lengths, float32)."""
    if ISA == "none":
        pytest.skip("no packed kernels in this build")
    import test_reverse as RV

    T, B, I, H = CHUNK_SHAPES[kind]
    c = RV._case(kind, T, B, I, H, np.float32, False, seed=3)
    for w in ("w_ih", "w_hh"):
        c[w] = (c[w] * (0.5 / np.sqrt(c[w].shape[1]))).astype(np.float32)
    lengths = np.array([15, 0, 3, 15, 7, 1, 14, 15, 9])
    runs = _core.team_runs()
    outs, grads = RV._run(kind, c, c["x"], c["dy"], lengths, True, option)
    assert _core.team_runs() > runs, "the call should have run a team"
    with solo_as_when_busy():
        solo_outs, solo_grads = RV._run(kind, c, c["x"], c["dy"], lengths, True, option)
    for i, (a, b) in enumerate(zip(outs + grads, solo_outs + solo_grads)):
        np.testing.assert_array_equal(a, b, err_msg=f"array {i}")
