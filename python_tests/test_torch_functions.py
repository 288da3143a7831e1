"""rnnfast.torch autograd Functions: torch.autograd.gradcheck (float64, small sizes) of every Function on
every backend, double backward (gradgradcheck) through the torch re-computation, and the Functions'
outputs against torch's own layers."""
import numpy as np
import pytest

import rnnfast

torch = pytest.importorskip("torch")
rt = pytest.importorskip("rnnfast.torch")

D64 = torch.float64


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def _p(*shape, seed=[0]):  # noqa: B006 - a running seed across calls
    seed[0] += 1
    g = torch.Generator().manual_seed(seed[0])
    return (torch.rand(*shape, generator=g, dtype=D64) - 0.5).requires_grad_(True)


def _case(G, T=3, B=3, I=3, H=2, P=None, bias=True):
    P = P or H
    x = _p(T, B, I)
    return {"x": x, "h0": _p(B, P), "w_ih": _p(G * H, I), "w_hh": _p(G * H, P), "b_ih": _p(G * H) if bias else None,
                "b_hh": _p(G * H) if bias else None}


LENGTHS = [None, np.array([3, 1, 2])]


@pytest.mark.parametrize("lengths", LENGTHS, ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_gru(backend, lengths, reverse, bias):
    c = _case(3, bias=bias)
    fn = lambda *a: rt.GRUFunction.apply(*a, lengths, reverse)
    assert torch.autograd.gradcheck(fn, (c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"]))


@pytest.mark.parametrize("lengths", LENGTHS, ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck_rnn(backend, lengths, reverse, nonlinearity):
    c = _case(1)
    fn = lambda *a: rt.RNNFunction.apply(*a, lengths, reverse, nonlinearity)
    assert torch.autograd.gradcheck(fn, (c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"]))


@pytest.mark.parametrize("lengths", LENGTHS, ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("proj", [False, True])
def test_gradcheck_lstm(backend, lengths, reverse, proj):
    H, P = 3, (2 if proj else None)
    c = _case(4, H=H, P=P)
    c0 = _p(3, H)
    w_hr = _p(P, H) if proj else None
    fn = lambda *a: rt.LSTMFunction.apply(*a, lengths, reverse)
    assert torch.autograd.gradcheck(fn, (c["x"], c["h0"], c0, c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], w_hr))


def test_gradcheck_no_initial_state(backend):
    c = _case(3)
    assert torch.autograd.gradcheck(lambda x, w, u: rt.GRUFunction.apply(x, None, w, u, None, None, None, False),
                                    (c["x"], c["w_ih"], c["w_hh"]))
    c = _case(4)
    assert torch.autograd.gradcheck(
        lambda x, w, u: rt.LSTMFunction.apply(x, None, None, w, u, None, None, None, None, True),
        (c["x"], c["w_ih"], c["w_hh"]))


def test_gradcheck_cells(backend):
    B, I, H = 3, 4, 3
    x, h = _p(B, I), _p(B, H)
    assert torch.autograd.gradcheck(rt.GRUCellFunction.apply, (x, h, _p(3 * H, I), _p(3 * H, H), _p(3 * H), _p(3 * H)))
    for nl in ("tanh", "relu"):
        assert torch.autograd.gradcheck(lambda *a: rt.RNNCellFunction.apply(*a, nl),  # noqa: B023
                                        (x, h, _p(H, I), _p(H, H), _p(H), _p(H)))
    c = _p(B, H)
    assert torch.autograd.gradcheck(rt.LSTMCellFunction.apply,
                                    (x, h, c, _p(4 * H, I), _p(4 * H, H), _p(4 * H), _p(4 * H), None))
    P = 2
    assert torch.autograd.gradcheck(rt.LSTMCellFunction.apply,
                                    (x, _p(B, P), c, _p(4 * H, I), _p(4 * H, P), None, None, _p(P, H)))


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_gradcheck_ctc(backend, reduction):
    T, B, C = 5, 2, 3
    logits = _p(T, B, C)
    targets = np.array([[1, 2, 2], [2, 0, 0]])
    il, tl = np.array([5, 4]), np.array([3, 1])
    fn = lambda z: rt.CTCLossFunction.apply(z.log_softmax(2), targets, il, tl, 0, reduction, False)
    assert torch.autograd.gradcheck(fn, (logits,))


def test_gradgradcheck_double_backward_falls_back_to_torch(backend):
    rt.reset_warnings()
    c = _case(3, T=2, B=2, I=2, H=2)
    lengths = np.array([2, 1])
    args = (c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    with pytest.warns(rt.RnnfastFallbackWarning, match="double backward"):
        assert torch.autograd.gradgradcheck(lambda *a: rt.GRUFunction.apply(*a, lengths, True), args)
    c = _case(4, T=2, B=2, I=2, H=2)
    assert torch.autograd.gradgradcheck(lambda *a: rt.LSTMFunction.apply(*a, None, False),
                                        (c["x"], c["h0"], _p(2, 2), c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"],
                                         None))
    c = _case(1, T=2, B=2, I=2, H=2)
    assert torch.autograd.gradgradcheck(lambda *a: rt.RNNFunction.apply(*a, lengths, False, "tanh"),
                                        (c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"]))
    x, h = _p(2, 3), _p(2, 2)
    assert torch.autograd.gradgradcheck(rt.GRUCellFunction.apply, (x, h, _p(6, 3), _p(6, 2), _p(6), _p(6)))
    assert torch.autograd.gradgradcheck(lambda *a: rt.RNNCellFunction.apply(*a, "tanh"),
                                        (x, h, _p(2, 3), _p(2, 2), _p(2), _p(2)))
    assert torch.autograd.gradgradcheck(rt.LSTMCellFunction.apply,
                                        (x, h, _p(2, 2), _p(8, 3), _p(8, 2), _p(8), _p(8), None))


def test_ctc_double_backward_raises():
    lp = _p(4, 1, 3).log_softmax(2)
    loss = rt.ctc_loss(lp, torch.tensor([[1, 2]]), (4,), (2,))
    (g,) = torch.autograd.grad(loss, lp, create_graph=True)
    with pytest.raises(RuntimeError, match="no second derivative"):
        g.sum().backward()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_function_outputs_equal_torch(backend, dtype, tol):
    T, B, I, H = 5, 4, 3, 6
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, B, I, generator=g, dtype=dtype)
    h0 = torch.randn(B, H, generator=g, dtype=dtype)
    m = torch.nn.GRU(I, H, dtype=dtype)
    y, h = rt.gru(x, h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    y_ref, h_ref = m(x, h0[None])
    assert (y - y_ref).abs().max() <= tol * y_ref.abs().max()
    assert (h - h_ref[0]).abs().max() <= tol * h_ref.abs().max()


def test_modifying_an_input_in_place_is_caught():
    c = _case(3)
    y, _ = rt.GRUFunction.apply(c["x"], c["h0"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], None, False)
    with torch.no_grad():
        c["w_hh"].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
