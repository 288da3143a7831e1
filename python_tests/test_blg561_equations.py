"""The single-layer equations of the BLG561 course are rnnfast's kernels under a weight mapping
(forward and every gradient, float64, all backends):

* RNN:  h' = tanh(b + W_h h + W_x x)                              -> rnn_forward, b_ih = b, b_hh = 0
* LSTM: a = b + W_h h + W_x x split as (i, f, o, g); c' = f c + i g; h' = o tanh(c')
                                                                   -> lstm_forward, blocks reordered to (i, f, g, o)
* GRU:  (update, reset) = sigmoid of one affine map b_ur + W_hur h + W_xur x;
        candidate = tanh(b_i + W_hi (reset * h) + W_xi x); h' = update * h + (1 - update) * candidate
                                                                   -> gru_forward(reset_after=False), blocks (r, z, n)
"""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

torch = pytest.importorskip("torch")
T, B, I, H = 6, 3, 4, 5


@pytest.fixture(params=rnnfast.available_backends())
def backend(request):
    with rnnfast.use_backend(request.param):
        yield


def _rand(rng, *s):
    return rng.standard_normal(s) * 0.5


def _grads(fn, params, x, h0, dys):
    """Run the course equations in torch; gradients of sum(dy * y) w.r.t. params, x, h0."""
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    ys = fn(ps, xt, ht)
    loss = (ys * torch.tensor(dys)).sum()
    loss.backward()
    return ys.detach().numpy(), [p.grad.numpy() for p in ps], xt.grad.numpy(), ht.grad.numpy()


def test_rnn(backend):
    rng = np.random.default_rng(0)
    Wx, Wh, b = _rand(rng, H, I), _rand(rng, H, H), _rand(rng, H)
    x, h0, dy = _rand(rng, T, B, I), _rand(rng, B, H), _rand(rng, T, B, H)

    def course(p, x, h):
        ys = []
        for t in range(T):
            h = torch.tanh(p[2] + h @ p[1].T + x[t] @ p[0].T)
            ys.append(h)
        return torch.stack(ys)

    y_ref, (gWx, gWh, gb), gx, gh = _grads(course, [Wx, Wh, b], x, h0, dy)
    y, _, c = F.rnn_forward(x, h0, Wx, Wh, b, None)
    g = F.rnn_backward(dy, None, c)
    for a, r in ((y, y_ref), (g.dw_ih, gWx), (g.dw_hh, gWh), (g.db_ih, gb), (g.dx, gx), (g.dh0, gh)):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_lstm(backend):
    rng = np.random.default_rng(1)
    Wx, Wh, b = _rand(rng, 4 * H, I), _rand(rng, 4 * H, H), _rand(rng, 4 * H)  # course blocks (i, f, o, g)
    x, h0, c0, dy = _rand(rng, T, B, I), _rand(rng, B, H), _rand(rng, B, H), _rand(rng, T, B, H)

    def course(p, x, h):
        c = torch.tensor(c0)
        ys = []
        for t in range(T):
            a = p[2] + h @ p[1].T + x[t] @ p[0].T
            i, f, o, g = (a[:, k * H:(k + 1) * H] for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys)

    y_ref, (gWx, gWh, gb), gx, gh = _grads(course, [Wx, Wh, b], x, h0, dy)
    perm = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 1, 3, 2)])  # (i, f, o, g) -> (i, f, g, o)
    y, _, _, c = F.lstm_forward(x, h0, c0, Wx[perm], Wh[perm], b[perm], None)
    g = F.lstm_backward(dy, None, None, c)
    inv = np.argsort(perm)
    for a, r in ((y, y_ref), (g.dw_ih[inv], gWx), (g.dw_hh[inv], gWh), (g.db_ih[inv], gb), (g.dx, gx),
                 (g.dh0, gh)):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_gru(backend):
    rng = np.random.default_rng(2)
    Wxur, Whur, bur = _rand(rng, 2 * H, I), _rand(rng, 2 * H, H), _rand(rng, 2 * H)  # rows: update, then reset
    Wxi, Whi, bi = _rand(rng, H, I), _rand(rng, H, H), _rand(rng, H)
    x, h0, dy = _rand(rng, T, B, I), _rand(rng, B, H), _rand(rng, T, B, H)

    def course(p, x, h):
        ys = []
        for t in range(T):
            ur = torch.sigmoid(p[2] + h @ p[1].T + x[t] @ p[0].T)
            u, r = ur[:, :H], ur[:, H:]
            cand = torch.tanh(p[5] + (r * h) @ p[4].T + x[t] @ p[3].T)
            h = u * h + (1 - u) * cand
            ys.append(h)
        return torch.stack(ys)

    y_ref, grads, gx, gh = _grads(course, [Wxur, Whur, bur, Wxi, Whi, bi], x, h0, dy)
    u, r = slice(0, H), slice(H, 2 * H)
    w_ih = np.concatenate([Wxur[r], Wxur[u], Wxi])   # rnnfast blocks (r, z, n): reset, update, candidate
    w_hh = np.concatenate([Whur[r], Whur[u], Whi])
    b_ih = np.concatenate([bur[r], bur[u], bi])
    y, _, c = F.gru_forward(x, h0, w_ih, w_hh, b_ih, None, reset_after=False)
    g = F.gru_backward(dy, None, c)
    back = lambda a: (np.concatenate([a[H:2 * H], a[:H]]), a[2 * H:])  # noqa: E731  (update, reset), candidate
    gWxur, gWxi = back(g.dw_ih)
    gWhur, gWhi = back(g.dw_hh)
    gbur, gbi = back(g.db_ih)
    for a, ref in ((y, y_ref), (gWxur, grads[0]), (gWhur, grads[1]), (gbur, grads[2]), (gWxi, grads[3]),
                   (gWhi, grads[4]), (gbi, grads[5]), (g.dx, gx), (g.dh0, gh)):
        np.testing.assert_allclose(a, ref, rtol=1e-10, atol=1e-12)
