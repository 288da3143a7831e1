"""rnnfast.mytorch.train_end2end (HW3P1 bonus): GRU_CTC's forward/backward against PyTorch autograd
(every gradient, random upstream gradients, and the whole GRU -> Linear -> softmax -> CTC chain),
the handout's interface and draw order."""
import numpy as np
import pytest

from rnnfast.mytorch import train_end2end as te
from rnnfast.mytorch.CTC.CTC import CTCLoss

torch = pytest.importorskip("torch")
NAMES = ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh")


def close(a, b, tol=1e-10):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a).reshape(b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


def _model(I=3, H=4, L=2, C=5, seed=0):
    np.random.seed(seed)
    m = te.GRU_CTC(I, H, L, C)
    m.linear.W = np.random.randn(C, H)  # MyTorch's Linear starts at zero: give it weights to test
    m.linear.b = np.random.randn(C, 1)
    return m


def _torch_chain(m, x):
    """The same network in torch: (params dict, x tensor, probs)."""
    P = {}
    for l, c in enumerate(m.gru.layers):
        for n in NAMES:
            P[f"{n}{l}"] = torch.tensor(np.array(getattr(c, n)), requires_grad=True)
    P["W"] = torch.tensor(m.linear.W, requires_grad=True)
    P["b"] = torch.tensor(m.linear.b, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    seq = xt
    for l in range(len(m.gru.layers)):
        g = {n: P[f"{n}{l}"] for n in NAMES}
        h = torch.zeros(x.shape[1], g["Wrh"].shape[0], dtype=torch.float64)
        outs = []
        for t in range(x.shape[0]):
            xi = seq[t]
            r = torch.sigmoid(xi @ g["Wrx"].T + g["brx"] + h @ g["Wrh"].T + g["brh"])
            z = torch.sigmoid(xi @ g["Wzx"].T + g["bzx"] + h @ g["Wzh"].T + g["bzh"])
            n = torch.tanh(xi @ g["Wnx"].T + g["bnx"] + r * (h @ g["Wnh"].T + g["bnh"]))
            h = (1 - z) * n + z * h
            outs.append(h)
        seq = torch.stack(outs)
    logits = seq @ P["W"].T + P["b"][:, 0]
    e = torch.exp(logits - logits.max(dim=2, keepdim=True).values)
    return P, xt, e / (e.sum(dim=2, keepdim=True) + 1e-8)


def _check_grads(m, P, xt, dx):
    close(dx, xt.grad)
    close(m.linear.dLdW, P["W"].grad)
    close(m.linear.dLdb, P["b"].grad)
    for l, c in enumerate(m.gru.layers):
        for n in NAMES:
            close(getattr(c, "d" + n), P[f"{n}{l}"].grad)


def test_gru_ctc_forward_backward_match_torch():
    m = _model()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 3))
    probs = m.forward(x)
    assert probs.shape == (6, 2, 5) and m.gru_out.shape == (6, 2, 4) and m.h_n.shape == (2, 2, 4)
    assert m.logits.shape == (6, 2, 5) and m.output_size == 4
    dY = rng.standard_normal(probs.shape)  # a random upstream gradient w.r.t. the probabilities
    P, xt, tprobs = _torch_chain(m, x)
    tprobs.backward(torch.tensor(dY))
    close(probs, tprobs)
    _check_grads(m, P, xt, m.backward(dY))


def test_gru_ctc_with_ctc_loss_is_the_nll_gradient():
    """CTCLoss.backward's dY is d(sum_b -log P_b)/dprobs: the chain's gradients are those of the summed
    negative log-likelihood (computed in torch by the probability-space forward recursion)."""
    m = _model(seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 2, 3))
    targets, il, tl = np.array([[1, 2, 2], [4, 0, 0]]), np.array([7, 5]), np.array([3, 1])
    crit = CTCLoss()
    crit(m.forward(x), targets, il, tl)
    dx = m.backward(crit.backward())
    P, xt, tprobs = _torch_chain(m, x)
    nll = 0
    for b in range(2):
        ext = [0]
        for c in targets[b, :tl[b]]:
            ext += [int(c), 0]
        S = len(ext)
        y = tprobs[:il[b], b][:, ext]
        a = torch.cat([y[0, :2], torch.zeros(S - 2, dtype=torch.float64)])
        for t in range(1, il[b]):
            skip = [0.0, 0.0] + [float(ext[s] != 0 and ext[s] != ext[s - 2]) for s in range(2, S)]
            prev1 = torch.cat([torch.zeros(1, dtype=torch.float64), a[:-1]])
            prev2 = torch.cat([torch.zeros(2, dtype=torch.float64), a[:-2]]) * torch.tensor(skip, dtype=torch.float64)
            a = (a + prev1 + prev2) * y[t]
        nll = nll - torch.log(a[-1] + a[-2])
    nll.backward()
    _check_grads(m, P, xt, dx)


def test_gru_ctc_draws_only_the_gru_cells_and_make_data_draws_in_the_handout_order():
    np.random.seed(5)
    m = te.GRU_CTC(3, 4, 2, 5)
    x, tg, il, tl = te.make_data(seq_len=9, batch_size=3, input_size=3, num_symbols=5)
    np.random.seed(5)
    for d in (3, 4):  # layer 0 then layer 1: six matrices, six biases each
        W = [np.random.randn(4, d) for _ in range(3)] + [np.random.randn(4, 4) for _ in range(3)]
        W += [np.random.randn(4) for _ in range(6)]
    np.testing.assert_array_equal(m.gru.layers[1].bnh, W[-1])
    assert not m.linear.W.any() and not m.linear.b.any()
    np.testing.assert_array_equal(x, np.random.randn(9, 3, 3))
    for b in range(3):
        n = np.random.randint(1, 9 // 2 + 1)
        assert tl[b] == n
        np.testing.assert_array_equal(tg[b, :n], np.random.randint(1, 5, size=(n,)))
        assert not tg[b, n:].any()
    assert il.tolist() == [9, 9, 9]


def test_train_end2end_loss_falls_for_other_seeds_too(capsys):
    for seed in (0, 4, 7):  # the smallest drops among seeds 0..7 are about 6.6% (4) and 7.4% (7)
        losses = te.train(seed=seed, verbose=False)
        assert (losses[0] - losses[-1]) / losses[0] >= 0.05
    assert capsys.readouterr().out == ""


def test_gru_ctc_backward_checks_its_input():
    m = _model()
    m.forward(np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match=r"expected dY of shape \(3, 2, 5\)"):
        m.backward(np.zeros((3, 2, 4)))
