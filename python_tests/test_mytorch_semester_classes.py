"""The per-semester MyTorch classes directly (without a handout): names, ranks, dtypes, draw orders,
input checks, the compiled beam search against the lecture's transcription, the greedy product, and
that star imports of every student module bring only that module's names."""
import math

import numpy as np
import pytest
import torch

import rnnfast
from rnnfast.mytorch import semesters
from rnnfast.mytorch.CTC import CTCDecoding, _beam
from rnnfast.mytorch.gru_cell import GRUCell
from rnnfast.mytorch.nn.loss import SoftmaxCrossEntropy
from rnnfast.mytorch.rnn_cell import RNNCell
from rnnfast.mytorch.semesters import _course, _variants


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def _torch_gru_grads(cell, x, h, delta):
    w_ih = torch.tensor(np.concatenate([cell.Wrx, cell.Wzx, cell.Wnx]))
    w_hh = torch.tensor(np.concatenate([cell.Wrh, cell.Wzh, cell.Wnh]))
    b_ih = torch.tensor(np.concatenate([cell.brx, cell.bzx, cell.bnx]))
    b_hh = torch.tensor(np.concatenate([cell.brh, cell.bzh, cell.bnh]))
    ref = torch.nn.GRUCell(cell.d, cell.h, dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip((ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(v)
    xt = torch.tensor(np.asarray(x, np.float64))[None].requires_grad_(True)
    ht = torch.tensor(np.asarray(h, np.float64))[None].requires_grad_(True)
    out = ref(xt, ht)
    out.backward(torch.tensor(np.asarray(delta, np.float64)).reshape(1, -1))
    return out.detach().numpy()[0], xt.grad.numpy()[0], ht.grad.numpy()[0], ref


@pytest.mark.parametrize("rank", [1, 2])
def test_gru_backward_returns_its_deltas_rank(backend, rank):
    np.random.seed(0)
    cell = GRUCell(5, 4)
    x, h = np.random.randn(5), np.random.randn(4)
    delta = np.random.randn(4) if rank == 1 else np.random.randn(1, 4)
    out = cell(x, h)
    dx, dh = cell.backward(delta)
    want_out, want_dx, want_dh, ref = _torch_gru_grads(cell, x, h, delta)
    assert type(dx) is np.ndarray and type(dh) is np.ndarray
    assert dx.shape == ((5,) if rank == 1 else (1, 5)) and dh.shape == ((4,) if rank == 1 else (1, 4))
    np.testing.assert_allclose(out, want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx.reshape(-1), want_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh.reshape(-1), want_dh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cell.dWnh, ref.weight_hh.grad.numpy()[8:], rtol=1e-10, atol=1e-12)


def test_gru_delta_layouts_and_promotion(backend):
    np.random.seed(1)
    cell = GRUCell(3, 4)
    x, h = np.random.randn(3), np.random.randn(4)
    cell.init_weights(*[np.asarray(np.random.randn(4, 3), np.float32)] * 3,
                      *[np.asarray(np.random.randn(4, 4), np.float32)] * 3,
                      *[np.asarray(np.random.randn(4), np.float32)] * 6)
    out = cell(x, h)
    assert out.dtype == np.float64  # float32 weights, float64 data: float64, as NumPy's products
    base = np.random.randn(4)
    cell.zero_grad()
    dx0, _ = cell.backward(base)
    g0 = cell.dWrx.copy()
    for delta in (np.asfortranarray(np.tile(base, (2, 1)).T)[:, 0],  # strided
                  np.asfortranarray(base[None]),  # Fortran-ordered (1, h)
                  np.repeat(base, 2)[::2]):  # strided 1-D view
        cell.zero_grad()
        dx, _ = cell.backward(delta)
        np.testing.assert_allclose(np.reshape(dx, -1), dx0, rtol=1e-12)
        np.testing.assert_allclose(cell.dWrx, g0, rtol=1e-12)
    x32, h32 = x.astype(np.float32), h.astype(np.float32)
    out32 = cell(x32, h32)  # all float32: a float32 result (computed in float64, rounded once)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, cell(x32.astype(np.float64), h32), rtol=1e-6)
    assert cell(x32, h).dtype == np.float64
    assert all(a.dtype == np.float32 for a in cell.backward(base.astype(np.float32)))
    ints = cell(np.arange(3), np.zeros(4, dtype=int))
    assert ints.shape == (4,) and ints.dtype == np.float64


def test_cells_reject_bad_input_clearly():
    cell = GRUCell(3, 4)
    with pytest.raises(TypeError, match="Wrx is None"):
        cell.init_weights(*[None] * 12)
    with pytest.raises(TypeError, match="x must hold real numbers.*complex"):
        cell(np.ones(3) * 1j, np.ones(4))
    with pytest.raises(ValueError, match=r"expected x of shape \(3,\)"):
        cell(np.ones(5), np.ones(4))
    with pytest.raises(ValueError, match="hidden_size"):
        GRUCell(3, -1)
    r = RNNCell(3, 4)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        r(np.ones((2, 3)) * 1j, np.ones((2, 4)))
    with pytest.raises(TypeError, match="W_ih is None"):
        r.init_weights(None, r.W_hh, r.b_ih, r.b_hh)
        r(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("d,h", [(3, 0), (0, 3), (0, 0)])
def test_empty_sizes_do_not_crash(d, h):
    cell = GRUCell(d, h)
    assert cell(np.ones(d), np.ones(h)).shape == (h,)
    dx, dh = cell.backward(np.ones(h))
    assert dx.shape == (d,) and dh.shape == (h,)
    r = RNNCell(d, h)
    out = r(np.ones((2, d)), np.ones((2, h)))
    dx, dh = r.backward(np.ones((2, h)), out, np.ones((2, d)), np.ones((2, h)))
    assert out.shape == (2, h) and dx.shape == (2, d) and dh.shape == (2, h)


def test_rnn_cell_takes_torch_tensors_and_keeps_float32(backend):
    torch.manual_seed(0)
    ref = torch.nn.RNNCell(3, 4)
    r = RNNCell(3, 4)
    r.init_weights(*(p.detach().numpy() for p in (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)))
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    out = r(x, h)
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_allclose(out, ref(x, h).detach().numpy(), rtol=1e-5, atol=1e-6)
    out64 = r(x.numpy().astype(np.float64), h.numpy())
    assert out64.dtype == np.float64  # one float64 input: float64, never cast down


def test_s21_names_and_signatures():
    c = _variants.GRUCellS21(in_dim=3, hidden_dim=2)
    c.bir = np.array([1.0, 2.0])
    assert np.array_equal(c.brx, [1.0, 2.0]) and c.dbhn is not None
    c(np.ones(3), np.ones(2))
    c.backward(np.ones((1, 2)))
    assert np.array_equal(c.dbir, c.dbrx) and np.array_equal(c.dbhn, c.dbnh)
    ctc = _variants.CTCS21()
    ext, skip = ctc.targetWithBlank(np.array([1, 1, 2]))
    assert ext.tolist() == [0, 1, 0, 1, 0, 2, 0] and skip.tolist() == [0, 0, 0, 0, 0, 1, 0]
    y = np.full((4, 3), 1 / 3)
    g = ctc.postProb(ctc.forwardProb(y, ext[:3], skip[:3]), ctc.backwardProb(y, ext[:3], skip[:3]))
    assert g.shape == (4, 3)
    assert _variants.GreedySearch(["a"], np.array([[0.4], [0.6]])[:, :, None]) == ("a", 0.6)


def test_cells_take_every_handouts_argument_names():
    r = RNNCell(3, 4)
    x, h = np.random.randn(2, 3), np.random.randn(2, 4)
    out = r(x, h)
    np.testing.assert_array_equal(r.forward(x=x, h=h), out)  # Spring 2021 .. 2024: forward(x, h)
    np.testing.assert_array_equal(r.forward(x=x, h_prev_t=h), out)
    d = np.random.randn(2, 4)
    a = r.backward(d, out, x, h)
    b = r.backward(delta=d, h=out, h_prev_l=x, h_prev_t=h)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(TypeError, match="exactly once"):
        r.forward(x, h, h=h)
    g = GRUCell(3, 4)
    np.testing.assert_array_equal(g.forward(x=x[0], h=h[0]), g(x[0], h[0]))


def test_losses_are_callable_with_both_backward_names():
    crit = SoftmaxCrossEntropy()
    x, y = np.random.randn(3, 4), np.eye(4)[[0, 2, 1]]
    loss = crit(x, y)
    assert loss.shape == (3,)
    np.testing.assert_array_equal(crit.derivative(), crit.backward())


@pytest.mark.parametrize("sem", ["s21", "f22", "s24", "s26"])
def test_star_imports_bring_only_the_student_names(sem):
    for rel in semesters.SEMESTERS[sem].student_files:
        names = semesters.exports(sem, rel)
        for leaked in ("Linear", "SoftmaxCrossEntropy", "Sigmoid", "Tanh", "np"):
            assert leaked not in names
        if rel.endswith(("ctc.py", "CTC.py")):
            assert "CTC" in names
    for mod in ("rnnfast.mytorch.gru_cell", "rnnfast.mytorch.rnn_cell", "rnnfast.mytorch.CTC.CTC",
                "rnnfast.mytorch.CTC.CTCDecoding", "rnnfast.mytorch.models.rnn_classifier",
                "rnnfast.mytorch.models.char_predictor", "rnnfast.mytorch.nn.loss"):
        ns = {}
        exec(f"from {mod} import *", ns)  # noqa: S102  (what the handouts' tests do)
        assert not {"np", "F", "Linear", "_kernels"} & (set(ns) - {"__builtins__"}) or mod.endswith("linear"), mod


@pytest.mark.parametrize("sem", ["s21", "f22", "s24", "s26"])
def test_predictor_draw_order(sem, monkeypatch):
    monkeypatch.setattr(_course, "_roots", {})
    monkeypatch.setattr(_course, "_resolved", {(sem, None): _course.FALLBACK[sem]})
    files = semesters.SEMESTERS[sem].student_files
    rel = next(r for r in files if r.endswith(("hw3.py", "char_predictor.py")))
    cls = semesters.exports(sem, rel)["CharacterPredictor"]
    np.random.seed(5)
    net = cls(3, 4, 2)
    after = np.random.get_state()[1].copy()
    np.random.seed(5)
    for shape in [(4, 3)] * 3 + [(4, 4)] * 3 + [(4,)] * 6:
        np.random.randn(*shape)
    proj = np.random.randn(2, 4) if sem == "s21" else np.random.rand(2, 4)
    assert np.array_equal(np.random.get_state()[1], after)
    assert np.array_equal(net.projection.W, proj)


def _dictify(run):
    p, l, s = run
    return {tuple(p[i, :l[i]].tolist()): s[i] for i in range(len(s))}


@pytest.mark.skipif(not _beam.AVAILABLE, reason="numba is not installed: the Python transcription runs")
def test_compiled_beam_search_equals_the_lecture_transcription_bit_for_bit():
    rng = np.random.default_rng(3)
    for trial in range(300):
        C, T, k = int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.integers(1, 7))
        y = rng.uniform(0.01, 1, (C + 1, T))
        if trial % 3 == 0:
            y = np.round(y, 1) + 0.1  # tied scores: kept paths beyond the width, insertion order matters
        if trial % 7 == 0:
            y[:] = 1
        y /= y.sum(0)
        got, want = _dictify(_beam.run(y, k)), CTCDecoding._beam_python(y, k)
        assert list(got) == list(want), (trial, y.shape, k)
        assert all(got[p] == want[p] for p in got), trial


def test_beam_search_orders_scores_descending_and_greedy_is_a_running_product():
    rng = np.random.default_rng(4)
    y = rng.uniform(0.01, 1, (5, 12, 1))
    y /= y.sum(0)
    best, merged = CTCDecoding.BeamSearchDecoder(list("abcd"), 3).decode(y)
    vals = list(merged.values())
    assert vals == sorted(vals, reverse=True) and best == next(iter(merged))
    _, score = CTCDecoding.GreedySearchDecoder(list("abcd")).decode(y)
    want = 1.0
    for t in range(12):
        want *= y[:, t, 0].max()
    assert type(score) is float and score == want
    assert score == math.prod([1.0] + y[:, :, 0].max(0).tolist())
