"""rnnfast.mytorch cells (RNNCell, GRUCell, the 2019 GRU_Cell) against PyTorch autograd, float64,
random upstream gradients, on every backend; GRUCell's attribute conventions (views, in-place
updates, rebinding, restored step state) and bad input."""
import numpy as np
import pytest

import rnnfast
from rnnfast.mytorch.gru_cell import GRUCell
from rnnfast.mytorch.gru_cell_2019 import GRU_Cell
from rnnfast.mytorch.rnn_cell import RNNCell

torch = pytest.importorskip("torch")
T_ = torch.from_numpy
GRU_NAMES = ["Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh"]


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield request.param


def close(a, b, tol=1e-10):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ------------------------------------------------------------------------------------------ RNNCell
def _torch_rnn_cell(c):
    tc = torch.nn.RNNCell(c.input_size, c.hidden_size, dtype=torch.float64)
    tc.load_state_dict({"weight_ih": T_(np.array(c.W_ih)), "weight_hh": T_(np.array(c.W_hh)),
                        "bias_ih": T_(np.array(c.b_ih)), "bias_hh": T_(np.array(c.b_hh))})
    return tc


@pytest.mark.parametrize("B", [1, 4, 7])
def test_rnn_cell_matches_torch_with_batch_averaged_weight_grads(backend, B):
    np.random.seed(0)
    d, h = 3, 5
    cell = RNNCell(d, h)
    x, h0 = np.random.randn(B, d), np.random.randn(B, h)
    deltas = [np.random.randn(B, h) for _ in range(2)]
    ht = cell(x, h0)
    tc = _torch_rnn_cell(cell)
    xt, h0t = T_(x).requires_grad_(True), T_(h0).requires_grad_(True)
    out = tc(xt, h0t)
    close(ht, out)
    out.backward(T_(deltas[0] + deltas[1]))
    dxs, dhs = [], []
    for dl in deltas:  # two backward calls accumulate (+=) into the weight gradients
        dx, dh = cell.backward(dl, ht, x, h0)
        dxs.append(dx)
        dhs.append(dh)
    close(dxs[0] + dxs[1], xt.grad)  # dx and dh_prev_t are not divided by B
    close(dhs[0] + dhs[1], h0t.grad)
    close(cell.dW_ih, tc.weight_ih.grad / B)
    close(cell.dW_hh, tc.weight_hh.grad / B)
    close(cell.db_ih, tc.bias_ih.grad / B)
    close(cell.db_hh, tc.bias_hh.grad / B)
    cell.zero_grad()
    assert not cell.dW_ih.any() and not cell.db_hh.any()


def test_rnn_cell_unusual_arrays_take_the_general_path():
    """Rebound float32 / non-contiguous weights and gradient arrays, unbatched vectors: same numbers."""
    np.random.seed(1)
    d, h, B = 3, 4, 2
    ref, cell = RNNCell(d, h), RNNCell(d, h)
    cell.init_weights(np.asfortranarray(ref.W_ih), ref.W_hh.T.copy().T, ref.b_ih[::1], ref.b_hh.tolist())
    cell.dW_ih = np.zeros((d, h)).T  # non-contiguous accumulator
    x, h0, dl = np.random.randn(B, d), np.random.randn(B, h), np.random.randn(B, h)
    close(cell(x, h0), ref(x, h0), 1e-14)
    ht = ref(x, h0)
    got, want = cell.backward(dl, ht, x, h0), ref.backward(dl, ht, x, h0)
    for a, b in zip(got + (cell.dW_ih, cell.dW_hh, cell.db_ih, cell.db_hh),
                    want + (ref.dW_ih, ref.dW_hh, ref.db_ih, ref.db_hh)):
        close(a, b, 1e-13)
    v = cell(x[0], h0[0])  # unbatched
    assert v.shape == (h,)
    close(v, ht[0], 1e-14)
    # float32 everywhere computes in float32; one float64 array promotes (as NumPy's products would)
    c32 = RNNCell(d, h)
    c32.init_weights(*(np.asarray(a, np.float32) for a in (ref.W_ih, ref.W_hh, ref.b_ih, ref.b_hh)))
    assert c32(x.astype(np.float32), h0.astype(np.float32)).dtype == np.float32
    h32 = h0.astype(np.float32)
    out = c32(x, h32)
    assert out.dtype == np.float64
    close(out, _torch_rnn_cell(c32)(T_(x), T_(h32.astype(np.float64))), 1e-12)


def test_rnn_cell_bad_shapes_name_the_argument():
    cell = RNNCell(3, 4)
    with pytest.raises(ValueError, match="x|w_ih|input"):
        cell(np.zeros((2, 5)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="h_prev_l"):
        cell.backward(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((2, 4)))


# ------------------------------------------------------------------------------------------ GRUCell
def _torch_gru_cell(g):
    tc = torch.nn.GRUCell(g.d, g.h, dtype=torch.float64)
    tc.load_state_dict({"weight_ih": T_(np.concatenate([g.Wrx, g.Wzx, g.Wnx])),
                        "weight_hh": T_(np.concatenate([g.Wrh, g.Wzh, g.Wnh])),
                        "bias_ih": T_(np.concatenate([g.brx, g.bzx, g.bnx])),
                        "bias_hh": T_(np.concatenate([g.brh, g.bzh, g.bnh]))})
    return tc


def _check_gru_grads(g, tc, scale=1.0):
    H = g.h
    for k, gate in enumerate("rzn"):
        close(getattr(g, f"dW{gate}x"), scale * tc.weight_ih.grad[k * H:(k + 1) * H])
        close(getattr(g, f"dW{gate}h"), scale * tc.weight_hh.grad[k * H:(k + 1) * H])
        close(getattr(g, f"db{gate}x"), scale * tc.bias_ih.grad[k * H:(k + 1) * H])
        close(getattr(g, f"db{gate}h"), scale * tc.bias_hh.grad[k * H:(k + 1) * H])


def test_gru_cell_matches_torch_and_leaves_attributes(backend):
    np.random.seed(1)
    d, H = 3, 4
    g = GRUCell(d, H)
    x, h, delta = np.random.randn(d), np.random.randn(H), np.random.randn(H)
    ht = g(x, h)
    assert ht.shape == (H,)
    np.testing.assert_array_equal(g.x, x)
    np.testing.assert_array_equal(g.hidden, h)
    tc = _torch_gru_cell(g)
    Wi, Wh = tc.weight_ih.detach(), tc.weight_hh.detach()
    bi, bh = tc.bias_ih.detach(), tc.bias_hh.detach()
    pre_i, pre_h = Wi @ T_(x) + bi, Wh @ T_(h) + bh
    r = torch.sigmoid(pre_i[:H] + pre_h[:H])
    z = torch.sigmoid(pre_i[H:2 * H] + pre_h[H:2 * H])
    n = torch.tanh(pre_i[2 * H:] + r * pre_h[2 * H:])
    close(g.r, r)
    close(g.z, z)
    close(g.n, n)
    xt, htt = T_(x[None]).requires_grad_(True), T_(h[None]).requires_grad_(True)
    out = tc(xt, htt)
    out.backward(T_(delta[None]))
    close(ht, out[0])
    dx, dh = g.backward(delta)
    assert dx.shape == (d,) and dh.shape == (H,)
    close(dx, xt.grad[0])
    close(dh, htt.grad[0])
    _check_gru_grads(g, tc)
    g.backward(delta)  # accumulates
    _check_gru_grads(g, tc, 2.0)
    g.zero_grad()
    assert not any(getattr(g, "d" + n).any() for n in GRU_NAMES)


def test_gru_cell_step_attributes_are_not_overwritten_by_the_next_step():
    np.random.seed(2)
    g = GRUCell(3, 4)
    x1, x2, h = np.random.randn(3), np.random.randn(3), np.random.randn(4)
    g(x1, h)
    r1, z1, n1 = g.r, g.z, g.n
    saved = r1.copy(), z1.copy(), n1.copy()
    g(x2, h)
    for a, b in zip((r1, z1, n1), saved):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(g.r, saved[0])


def test_gru_cell_in_place_updates_and_rebinding_reach_the_kernel():
    np.random.seed(2)
    g = GRUCell(3, 4)
    x, h = np.random.randn(3), np.random.randn(4)
    g(x, h)
    g.backward(np.random.randn(4))
    for n in GRU_NAMES:
        w = getattr(g, n)
        w -= 0.1 * getattr(g, "d" + n)  # the training loop's in-place update
        setattr(g, n, w)  # (what `cell.Wrx -= ...` does: the property hands back its own view)
    close(g(x, h), _torch_gru_cell(g)(T_(x[None]), T_(h[None]))[0])
    g.Wnh = np.zeros((4, 4))  # rebinding copies into the kernel's buffer
    assert not g.Wnh.any()
    new = [np.random.randn(*getattr(g, n).shape) for n in GRU_NAMES]
    g.init_weights(*new)
    for n, a in zip(GRU_NAMES, new):
        np.testing.assert_array_equal(getattr(g, n), a)
    close(g(x, h), _torch_gru_cell(g)(T_(x[None]), T_(h[None]))[0])
    g.bnh = np.ones((4, 1))  # same size, other shape: reshaped
    g.dWrx = 0  # a scalar broadcasts
    assert not g.dWrx.any() and (g.bnh == 1).all()
    with pytest.raises(ValueError, match="Wrx"):
        g.Wrx = np.zeros((3, 4))


def test_gru_cell_backward_uses_a_restored_step():
    """A handout-style multi-layer GRU keeps one cell per layer, saves each step's x, hidden, r, z, n
    and assigns them back before that step's backward: the gradients are the true ones (torch)."""
    np.random.seed(3)
    T, d, H = 4, 3, 5
    g0 = g = GRUCell(d, H)
    xs, h0, dys = np.random.randn(T, d), np.random.randn(H), np.random.randn(T, H)
    h, saved = h0, []
    for t in range(T):
        h = g(xs[t], h)
        saved.append({k: np.array(getattr(g, k)) for k in ("x", "hidden", "r", "z", "n")})
    dh, dxs = np.zeros(H), [None] * T
    g = GRUCell(d, H)  # a fresh cell (no forward at all) with the same weights: the steps are set by hand
    g.init_weights(*(getattr(g0, n) for n in GRU_NAMES))
    for t in range(T - 1, -1, -1):
        for k, v in saved[t].items():
            setattr(g, k, v)
        dxs[t], dh = g.backward(dh + dys[t])
    tg = torch.nn.GRU(d, H, dtype=torch.float64)
    tc = _torch_gru_cell(g)
    tg.load_state_dict({k + "_l0": v for k, v in tc.state_dict().items()})
    xt, h0t = T_(xs[:, None]).requires_grad_(True), T_(h0[None, None]).requires_grad_(True)
    y, _ = tg(xt, h0t)
    y.backward(T_(dys[:, None]))
    close(np.stack(dxs), xt.grad[:, 0])
    close(dh, h0t.grad[0, 0])
    tc.weight_ih.grad, tc.weight_hh.grad = tg.weight_ih_l0.grad, tg.weight_hh_l0.grad
    tc.bias_ih.grad, tc.bias_hh.grad = tg.bias_ih_l0.grad, tg.bias_hh_l0.grad
    _check_gru_grads(g, tc)


def test_gru_cell_bad_input():
    g = GRUCell(3, 4)
    with pytest.raises(RuntimeError, match="before forward"):
        g.backward(np.zeros(4))
    with pytest.raises(ValueError, match="x"):
        g(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="h_prev_t"):
        g(np.zeros(3), np.zeros(3))
    g(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="delta"):
        g.backward(np.zeros(3))
    out = g(np.zeros((1, 3)), [0.0] * 4)  # same size, other layout / a list: accepted
    assert out.shape == (4,)


# ------------------------------------------------------------------------------------------ 2019 GRU_Cell
def test_gru_cell_2019_matches_its_equations(backend):
    np.random.seed(3)
    c = GRU_Cell(3, 4)
    x, h = np.random.randn(3), np.random.randn(4)
    deltas = [np.random.randn(4), np.random.randn(1, 4)]
    ht = c(x, h)
    P = {n: T_(getattr(c, n).copy()).requires_grad_(True) for n in ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx")}
    xt, htt = T_(x).requires_grad_(True), T_(h).requires_grad_(True)
    z = torch.sigmoid(P["Wzh"] @ htt + P["Wzx"] @ xt)
    r = torch.sigmoid(P["Wrh"] @ htt + P["Wrx"] @ xt)
    hh = torch.tanh(P["Wh"] @ (r * htt) + P["Wx"] @ xt)
    out = (1 - z) * htt + z * hh
    out.backward(T_(deltas[0] + deltas[1][0]))
    close(ht, out)
    close(c.z, z)
    close(c.r, r)
    close(c.h_tilde, hh)
    dxs, dhs = [], []
    for dl in deltas:  # (h,) and (1, h) upstream; weight gradients accumulate
        dx, dh = c.backward(dl)
        assert dx.shape == (1, 3) and dh.shape == (1, 4)
        dxs.append(dx)
        dhs.append(dh)
    close((dxs[0] + dxs[1])[0], xt.grad)
    close((dhs[0] + dhs[1])[0], htt.grad)
    for n, p in P.items():
        close(getattr(c, "d" + n), p.grad)
