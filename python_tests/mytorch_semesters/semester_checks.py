"""Checks shared by the miniature HW3P1 autograders of the fixture handouts (s21/, f22/, s24/, s26/).

Each fixture's runner imports the student and course modules exactly as that semester's autograder
does (its sys.path entries, star imports, package paths) and hands the resulting namespaces to
:func:`run`, which checks every section against PyTorch (float64 autograd; RNN cells and the
classifier against float32 PyTorch as the handouts do), exhaustive enumeration (beam search with a
beam wide enough to be exact) or an independent NumPy transcription of the handout's algorithm, at
that semester's tolerances, names, shapes, types and random draw order. It prints one line per
section and, last, ``{"scores": {section: points}}`` as the handouts' runners do.
"""
import inspect
import itertools
import json
import os
import sys
import traceback

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

POINTS = {"RNN Forward": 5, "RNN Backward": 5, "RNN Classifier": 10, "GRU Forward": 5, "GRU Backward": 15,
          "GRU Inference": 10, "Extend Sequence with Blank": 5, "Posterior Probability": 5, "CTC Forward": 10,
          "CTC Backward": 5, "Greedy Search": 5, "Beam Search": 15}
GRU_W = ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh")
GRU_B = {"s21": ("bir", "biz", "bin", "bhr", "bhz", "bhn")}
GRU_B_DEFAULT = ("brx", "bzx", "bnx", "brh", "bzh", "bnh")
INFERENCE_SEED = {"s21": 2021, "f22": 2022, "s24": 11785, "s26": 11785}


class Check(AssertionError):
    pass


def is_course_linear(obj, c):
    """True if ``obj`` is (an instance of) the class defined in the handout's course linear.py."""
    cls = obj if isinstance(obj, type) else type(obj)
    try:
        return os.path.samefile(inspect.getfile(cls), c["linear_file"])
    except (TypeError, OSError):
        return False


def close(user, ref, name, sem, rtol=None, atol=None):
    """The handouts' ``assertions``: type, shape, then closeness (S21: np.allclose defaults; later
    semesters atol 1e-5)."""
    ref = np.asarray(ref) if not isinstance(ref, np.ndarray) else ref
    if type(user) is not np.ndarray:
        raise Check(f"{name}: type {type(user).__name__}, expected numpy.ndarray")
    if user.shape != ref.shape:
        raise Check(f"{name}: shape {user.shape}, expected {ref.shape}")
    rtol = 1e-5 if rtol is None else rtol
    atol = (1e-8 if sem == "s21" else 1e-5) if atol is None else atol
    if not np.allclose(user, ref, rtol=rtol, atol=atol):
        raise Check(f"{name}: max abs diff {np.max(np.abs(user - ref)):.3g} (rtol {rtol}, atol {atol})")


def t64(a):
    return torch.tensor(np.asarray(a, np.float64))


# ------------------------------------------------------------------------------------------- RNN
def rnn_forward(c):
    sem, RNNCell = c["sem"], c["rnn"]["RNNCell"]
    np.random.seed(11785)
    torch.manual_seed(11785)
    for i in range(1, 4):
        ref = torch.nn.RNNCell(i * 2, i * 3, dtype=torch.float32)
        sd = ref.state_dict()
        W_ih, W_hh, b_ih, b_hh = (sd[k].numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        cell = RNNCell(i * 2, i * 3)
        cell.init_weights(W_ih, W_hh, b_ih, b_hh)
        T = i * 2
        inp = torch.randn(T, i * 2, i * 2, dtype=torch.float32)
        hx = torch.randn(i * 2, i * 3, dtype=torch.float32)
        inp_u, hx_u = (inp, hx) if sem in ("s21", "f22") else (inp.numpy(), hx.numpy())  # S24 on: ndarrays
        for t in range(T):
            hx = ref(inp[t], hx)
            hx_u = cell(inp_u[t], hx_u)
            if type(hx_u) is not np.ndarray:
                raise Check(f"RNNCell forward returned {type(hx_u).__name__}")
            if not np.allclose(hx.detach().numpy(), hx_u, rtol=1e-3):
                raise Check(f"RNNCell forward differs at i={i}, t={t}")


def rnn_backward(c):
    RNNCell = c["rnn"]["RNNCell"]
    np.random.seed(11785)
    cell = RNNCell(10, 20)
    state = np.random.get_state()
    np.random.seed(11785)
    drawn = [np.random.randn(20, 10), np.random.randn(20, 20), np.random.randn(20), np.random.randn(20)]
    for name, want in zip(("W_ih", "W_hh", "b_ih", "b_hh"), drawn):
        if not np.array_equal(getattr(cell, name), want):
            raise Check(f"RNNCell.__init__ draws {name} out of order (W_ih, W_hh, b_ih, b_hh = randn)")
    np.random.set_state(state)
    W_ih, W_hh = drawn[0], drawn[1]
    acc = {k: 0.0 for k in ("dW_ih", "dW_hh", "db_ih", "db_hh")}
    for _ in range(2):
        B = 3
        delta, h, h_prev_l, h_prev_t = (np.random.randn(B, n) for n in (20, 20, 10, 20))
        dx, dh = cell.backward(delta, h, h_prev_l, h_prev_t)
        dz = delta * (1 - h * h)
        acc["dW_ih"] += dz.T @ h_prev_l / B
        acc["dW_hh"] += dz.T @ h_prev_t / B
        acc["db_ih"] += dz.sum(0) / B
        acc["db_hh"] += dz.sum(0) / B
        close(dx, dz @ W_ih, "dx", c["sem"], rtol=1e-4)
        close(dh, dz @ W_hh, "dh", c["sem"], rtol=1e-4)
    for k, v in acc.items():
        close(getattr(cell, k), v, k, c["sem"], rtol=1e-4)


class _RefClassifier(torch.nn.Module):
    def __init__(self, I, H, O, L):
        super().__init__()
        self.rnn = torch.nn.RNN(I, H, num_layers=L, batch_first=True, dtype=torch.float32)
        self.output = torch.nn.Linear(H, O, dtype=torch.float32)

    def forward(self, x, h0):
        out, _ = self.rnn(x, h0)
        return self.output(out[:, -1, :])


def rnn_classifier(c):
    sem, ns = c["sem"], c["rnn"]
    Cls = ns.get("RNNPhonemeClassifier") or ns["RNN_Phoneme_Classifier"]
    L, B, T, I, H, O = 2, 5, 10, 40, 32, 138
    np.random.seed(11785)
    torch.manual_seed(11785)
    x = np.random.randn(B, T, I)
    y = np.random.randint(0, O, B)
    ref = _RefClassifier(I, H, O, L)
    sd = ref.state_dict()
    model = Cls(I, H, O, num_layers=L)
    if not is_course_linear(model.output_layer, c):
        raise Check(f"output_layer is a {type(model.output_layer).__module__}.{type(model.output_layer).__name__}, "
                    f"not the course Linear")
    if ns["SoftmaxCrossEntropy"] is not c["rnn_loss"]:
        raise Check("star-importing the classifier replaced the course SoftmaxCrossEntropy (a leaked name)")
    rnn_w = [[sd[f"rnn.{k}_l{l}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] for l in range(L)]
    if sem != "s21":  # Spring 2021 hands the state-dict tensors themselves
        rnn_w = [[a.numpy() for a in w] for w in rnn_w]
    model.init_weights(rnn_w, [sd["output.weight"].numpy(), sd["output.bias"].numpy()])
    h0 = torch.zeros(L, B, H, dtype=torch.float32, requires_grad=True)
    ref_out = ref(torch.tensor(x, dtype=torch.float32), h0)
    out = model(x)
    if not np.allclose(out, ref_out.detach().numpy(), rtol=1e-3):
        raise Check("classifier forward differs")
    if len(model.hiddens) != T + 1 or np.shape(model.hiddens[-1]) != (L, B, H):
        raise Check(f"hiddens: expected {T + 1} states of shape {(L, B, H)}")
    loss = torch.nn.functional.cross_entropy(ref_out, torch.tensor(y))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in ref.named_parameters()}
    crit = ns["SoftmaxCrossEntropy"]()
    onehot = np.zeros((B, O))
    onehot[np.arange(B), y] = 1
    crit(out, onehot).mean()
    delta = crit.derivative() if sem == "s21" else crit.backward()
    dh = model.backward(delta)
    if not np.allclose(dh, h0.grad.numpy(), rtol=1e-4):
        raise Check("classifier dh differs")
    lay = model.output_layer
    if sem == "s21":
        dW, db, scale = lay.dW, lay.db, 1
    else:
        dW, db, scale = lay.dLdW, np.asarray(lay.dLdb).reshape(-1), (B if sem in ("s24", "s26") else 1)
    if not np.allclose(dW, grads["output.weight"] * scale, rtol=1e-3):
        raise Check("output layer weight gradient differs")
    if not np.allclose(db, grads["output.bias"] * scale):
        raise Check("output layer bias gradient differs")
    for l, cell in enumerate(model.rnn):
        for mine, theirs in (("dW_ih", "weight_ih"), ("dW_hh", "weight_hh"), ("db_ih", "bias_ih"),
                             ("db_hh", "bias_hh")):
            if not np.allclose(getattr(cell, mine), grads[f"rnn.{theirs}_l{l}"], rtol=1e-3):
                raise Check(f"layer {l} {mine} differs")


# ------------------------------------------------------------------------------------------- GRU
def _torch_gru(I, H, seed):
    torch.manual_seed(seed)
    ref32 = torch.nn.GRUCell(I, H, dtype=torch.float32)
    sd = {k: v.numpy() for k, v in ref32.state_dict().items()}
    ref = torch.nn.GRUCell(I, H)  # float64 copy of the float32 weights: the exact reference
    ref.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in sd.items()})
    Ws = np.split(sd["weight_ih"], 3) + np.split(sd["weight_hh"], 3)
    bs = np.split(sd["bias_ih"], 3) + np.split(sd["bias_hh"], 3)
    return ref, Ws, bs


def gru_forward(c):
    sem, GRUCell = c["sem"], c["gru"]["GRUCell"]
    np.random.seed(11785)
    I, H, T = 5, 4, 6
    data = np.random.randn(T, I)
    hidden = np.random.randn(H)
    ref, Ws, bs = _torch_gru(I, H, 11785)
    cell = GRUCell(I, H)
    cell.init_weights(*Ws, *bs)
    for t in range(T):
        want = ref(t64(data[t])[None], t64(hidden)[None])[0].detach().numpy()
        got = cell(data[t], hidden)
        close(got, want, f"h_t at t={t}", sem)
        if got.dtype != np.float64:
            raise Check(f"float32 weights with float64 data must give float64 (NumPy's promotion), got {got.dtype}")
        r = 1 / (1 + np.exp(-(Ws[0] @ data[t] + bs[0] + Ws[3] @ hidden + bs[3])))
        for name, arr in (("x", data[t]), ("hidden", hidden), ("r", r)):
            close(np.asarray(getattr(cell, name)), arr, f"cell.{name}", sem)
        for name in ("z", "n"):
            if np.shape(getattr(cell, name)) != (H,):
                raise Check(f"cell.{name} should have shape ({H},)")
        hidden = got
    ints = cell(np.arange(I), np.zeros(H, dtype=int))  # integer inputs (the toy tests)
    if ints.shape != (H,):
        raise Check("integer inputs")


def gru_backward(c):
    sem, ns = c["sem"], c["gru"]
    GRUCell, Linear, SCE = ns["GRUCell"], ns["Linear"], ns["SoftmaxCrossEntropy"]
    if not is_course_linear(Linear, c) or SCE is not c["gru_loss"]:
        raise Check("the GRU test's star imports did not leave the course Linear / SoftmaxCrossEntropy")
    np.random.seed(11785)
    I, H, O = 5, 4, 3
    data = np.random.randn(I)
    hidden = np.random.randn(H)
    ref, Ws, bs = _torch_gru(I, H, 11785)
    torch.manual_seed(1)
    lin32 = torch.nn.Linear(H, O, dtype=torch.float32)
    W, b = lin32.weight.detach().numpy(), lin32.bias.detach().numpy()
    cell = GRUCell(I, H)
    cell.init_weights(*Ws, *bs)
    lin = Linear(H, O)
    if sem == "s21":
        lin.init_weights(W, b)
    else:
        lin.W, lin.b = W, b.reshape(-1, 1)
    x_t = t64(data).requires_grad_(True)
    h_t = t64(hidden).requires_grad_(True)
    out_t = torch.nn.functional.linear(ref(x_t[None], h_t[None]), t64(W), t64(b))
    loss = torch.nn.functional.cross_entropy(out_t, torch.tensor([1]))
    loss.backward()
    h = cell(data, hidden)
    out = lin(h.reshape(1, -1))
    onehot = np.zeros((1, O))
    onehot[0, 1] = 1
    crit = SCE()
    crit(out, onehot)
    delta = lin.backward(crit.derivative() if sem == "s21" else crit.backward())  # (1, H)
    if sem in ("s24", "s26"):
        delta = delta.squeeze(0)
    dx, dh = cell.backward(delta)
    want_rank = 2 if sem in ("s21", "f22") else 1
    if np.ndim(dx) != want_rank or np.ndim(dh) != want_rank:
        raise Check(f"backward of a delta of shape {np.shape(delta)} must return rank-{want_rank} arrays, got "
                    f"{np.shape(dx)}, {np.shape(dh)}")
    if want_rank == 2:
        dx, dh = np.squeeze(dx, axis=0), np.squeeze(dh, axis=0)  # what the test does
    close(dx, x_t.grad.numpy(), "dx", sem)
    close(dh, h_t.grad.numpy(), "dh", sem)
    gW = np.split(ref.weight_ih.grad.numpy(), 3) + np.split(ref.weight_hh.grad.numpy(), 3)
    gb = np.split(ref.bias_ih.grad.numpy(), 3) + np.split(ref.bias_hh.grad.numpy(), 3)
    for name, g in zip(GRU_W, gW):
        close(np.asarray(getattr(cell, "d" + name)), g, "d" + name, sem)
    for name, g in zip(GRU_B.get(sem, GRU_B_DEFAULT), gb):
        close(np.asarray(getattr(cell, "d" + name)), g, "d" + name, sem)


def gru_inference(c):
    sem, mod = c["sem"], c["predictor"]
    seed = INFERENCE_SEED[sem]
    np.random.seed(seed)
    I, H, C, T = 6, 8, 5, 7
    data = np.random.randn(T, I)
    ref, Ws, bs = _torch_gru(I, H, seed)
    before = np.random.get_state()
    net = mod.CharacterPredictor(I, H, C)
    after = np.random.get_state()
    np.random.set_state(before)
    for shape in [(H, I)] * 3 + [(H, H)] * 3 + [(H,)] * 6:
        np.random.randn(*shape)
    proj = np.random.randn(C, H) if sem == "s21" else np.random.rand(C, H)
    expected = np.random.get_state()
    if not (np.array_equal(after[1], expected[1]) and after[2:] == expected[2:]):
        raise Check("CharacterPredictor.__init__ leaves the global RNG elsewhere than the handout's draws "
                    "(the GRU cell's twelve randn, then " + ("the course Linear's randn(C, h))" if sem == "s21"
                                                             else "projection.W = rand(C, h))"))
    if not is_course_linear(net.projection, c):
        raise Check("projection is not the course Linear")
    if not np.array_equal(np.asarray(net.projection.W), proj):
        raise Check("projection.W is not the drawn matrix")
    cell_attr = "rnn" if sem in ("s21", "f22") else "gru"
    if not hasattr(net, cell_attr):
        raise Check(f"the predictor has no attribute {cell_attr!r}")
    net.init_rnn_weights(*Ws, *bs)
    torch.manual_seed(seed + 1)
    Wp, bp = np.random.randn(C, H), np.random.randn(C)
    net.projection.W = Wp
    net.projection.b = bp if sem == "s21" else bp.reshape(-1, 1)
    logits = mod.inference(net, data)
    h = torch.zeros(1, H)
    want = []
    for t in range(T):
        h = ref(t64(data[t])[None], h)
        want.append((h @ t64(Wp).T + t64(bp))[0].detach().numpy())
    close(np.asarray(logits), np.stack(want), "inference logits", sem)
    one, hn = net(data[0], np.zeros(H))
    if np.shape(one) != (C,) or np.shape(hn) != (H,):
        raise Check(f"forward should return logits ({C},) and h ({H},), got {np.shape(one)}, {np.shape(hn)}")
    np.random.set_state(expected)  # what the section leaves for the search sections (S21, F22)


# ------------------------------------------------------------------------------------------- CTC
def _ctc_data():
    rng = np.random.default_rng(11785)
    T, B, C = 12, 4, 6
    z = rng.standard_normal((T, B, C))
    probs = np.exp(z) / np.exp(z).sum(2, keepdims=True)
    Lmax = 4
    targets = rng.integers(1, C, (B, Lmax))
    targets[0, :2] = 3  # a repeated symbol (no skip)
    input_lens = np.array([12, 11, 10, 12])
    target_lens = np.array([4, 3, 2, 4])
    return probs, targets, input_lens, target_lens


def _ext(target):
    ext = [0]
    for s in target:
        ext += [int(s), 0]
    skip = [0] * len(ext)
    for i in range(2, len(ext)):
        skip[i] = int(ext[i] != 0 and ext[i] != ext[i - 2])
    return np.array(ext), np.array(skip)


def _alpha_beta(y, ext, skip):
    T, S = y.shape[0], len(ext)
    a, b = np.zeros((T, S)), np.zeros((T, S))
    a[0, 0], a[0, 1] = y[0, ext[0]], y[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            v = a[t - 1, s] + (a[t - 1, s - 1] if s else 0) + (a[t - 1, s - 2] if s > 1 and skip[s] else 0)
            a[t, s] = v * y[t, ext[s]]
    b[T - 1, S - 1] = b[T - 1, S - 2] = 1
    for t in range(T - 2, -1, -1):
        for s in range(S):
            v = b[t + 1, s] * y[t + 1, ext[s]]
            if s + 1 < S:
                v += b[t + 1, s + 1] * y[t + 1, ext[s + 1]]
            if s + 2 < S and skip[s + 2]:
                v += b[t + 1, s + 2] * y[t + 1, ext[s + 2]]
            b[t, s] = v
    g = a * b
    return a, b, g / g.sum(1, keepdims=True)


def _names(sem):
    if sem == "s21":
        return "targetWithBlank", "forwardProb", "backwardProb", "postProb"
    return "extend_target_with_blank", "get_forward_probs", "get_backward_probs", "get_posterior_probs"


def ctc_extend(c):
    sem = c["sem"]
    _, targets, _, tl = _ctc_data()
    ctc = c["ctc"]["CTC"](BLANK=0)
    ext_name = _names(sem)[0]
    for b in range(len(tl)):
        ext, skip = getattr(ctc, ext_name)(targets[b, :tl[b]])
        want_e, want_s = _ext(targets[b, :tl[b]])
        close(np.array(ext), want_e, "extended symbols", sem)
        close(np.array(skip), want_s, "skip connections", sem)


def ctc_posterior(c):
    sem = c["sem"]
    probs, targets, il, tl = _ctc_data()
    ctc = c["ctc"]["CTC"](BLANK=0)
    ext_n, fwd_n, bwd_n, post_n = _names(sem)
    for b in range(len(tl)):
        y = probs[:il[b], b]  # a strided view, as the handout's test slices it
        ext, skip = getattr(ctc, ext_n)(targets[b, :tl[b]])
        ext, skip = np.array(ext), np.array(skip)
        alpha = getattr(ctc, fwd_n)(y, ext, skip)
        beta = getattr(ctc, bwd_n)(y, ext, skip)
        gamma = getattr(ctc, post_n)(alpha, beta)
        a, bb, g = _alpha_beta(y, ext, skip)
        close(alpha, a, "alpha", sem)
        close(beta, bb, "beta", sem)
        close(gamma, g, "gamma", sem)


def _ref_loss(probs, targets, il, tl):
    B = probs.shape[1]
    total, dY = 0.0, np.zeros_like(probs)
    for b in range(B):
        y = probs[:il[b], b]
        ext, skip = _ext(targets[b, :tl[b]])
        _, _, g = _alpha_beta(y, ext, skip)
        total += -(g * np.log(y[:, ext])).sum()
        for s, k in enumerate(ext):
            dY[:il[b], b, k] -= g[:, s] / y[:, k]
    return total / B, dY


def ctc_forward(c):
    sem = c["sem"]
    probs, targets, il, tl = _ctc_data()
    loss = c["ctc"]["CTCLoss"](BLANK=0)(probs, targets, il, tl)
    if np.ndim(loss) != 0:
        raise Check(f"the loss must be a scalar, got shape {np.shape(loss)}")
    close(np.asarray(loss), _ref_loss(probs, targets, il, tl)[0], "loss", sem)


def ctc_backward(c):
    sem = c["sem"]
    probs, targets, il, tl = _ctc_data()
    crit = c["ctc"]["CTCLoss"](BLANK=0)
    crit(probs, targets, il, tl)
    dY = crit.backward()
    close(dY, _ref_loss(probs, targets, il, tl)[1], "dY", sem)
    # dY is d(negative log-likelihood)/d(probabilities) of each item: PyTorch autograd through the
    # forward recursion on raw probabilities (torch's own ctc_loss gradient assumes log-softmax inputs)
    y = t64(probs).requires_grad_(True)
    total = 0
    for b in range(len(tl)):
        ext, skip = _ext(targets[b, :tl[b]])
        S = len(ext)
        yb = y[:il[b], b][:, torch.tensor(ext)]
        alpha = torch.cat([yb[0, :2], torch.zeros(S - 2)])
        sk = torch.tensor(skip, dtype=torch.float64)
        for t in range(1, int(il[b])):
            prev1 = torch.cat([torch.zeros(1), alpha[:-1]])
            prev2 = torch.cat([torch.zeros(2), alpha[:-2]]) * sk
            alpha = (alpha + prev1 + prev2) * yb[t]
        total = total - torch.log(alpha[-1] + alpha[-2])
    total.backward()
    close(dY, y.grad.numpy(), "dY against PyTorch autograd of the negative log-likelihood", sem, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------------------------ search
EPS = 1e-20


def _search_input(sem, i, T=10):
    if sem in ("s24", "s26"):
        np.random.seed(11785 + i)
    y = np.random.uniform(EPS, 1.0, (4, T, 1))
    return y / y.sum(0)


def _greedy(user_fn, c):
    sem = c["sem"]
    for i in range(2 if sem == "s26" else 1):
        y = _search_input(sem, i)
        path, score = user_fn(["a", "b", "c"], y)
        best = y[:, :, 0].argmax(0)
        want = 1.0
        for t in range(y.shape[1]):
            want *= y[best[t], t, 0]
        out, prev = "", 0
        for k in best:
            if k != prev and k != 0:
                out += "abc"[k - 1]
            prev = k
        if path != out or not score == want:
            raise Check(f"greedy: got ({path!r}, {score!r}), expected ({out!r}, {want!r}) (score compared with ==)")


def greedy(c):
    if c["sem"] == "s21":
        return _greedy(c["search"]["GreedySearch"], c)
    return _greedy(lambda s, y: c["search"]["GreedySearchDecoder"](s).decode(y), c)


def _lecture_beam(symbols, y, k):
    """The lecture's pseudo-code, transcribed with strings and dictionaries."""
    blank, sym = {"": y[0, 0]}, {s: y[i + 1, 0] for i, s in enumerate(symbols)}
    for t in range(1, y.shape[1]):
        scores = sorted(list(blank.values()) + list(sym.values()), reverse=True)
        cut = scores[k - 1] if k < len(scores) else scores[-1]
        blank = {p: s for p, s in blank.items() if s >= cut}
        sym = {p: s for p, s in sym.items() if s >= cut}
        nb = {p: s * y[0, t] for p, s in blank.items()}
        for p, s in sym.items():
            nb[p] = nb.get(p, 0) + s * y[0, t]
        ns = {}
        for p, s in blank.items():
            for i, ch in enumerate(symbols):
                ns[p + ch] = s * y[i + 1, t]
        for p, s in sym.items():
            for i, ch in enumerate(symbols):
                q = p if ch == p[-1] else p + ch
                ns[q] = ns.get(q, 0) + s * y[i + 1, t]
        blank, sym = nb, ns
    merged = dict(sym)
    for p, s in blank.items():
        merged[p] = merged.get(p, 0) + s
    return max(merged, key=merged.get), merged


def _enumerate(symbols, y):
    """Total probability of every collapsed label sequence, over all (C+1)^T alignments."""
    C1, T = y.shape
    out = {}
    for align in itertools.product(range(C1), repeat=T):
        p = 1.0
        for t, k in enumerate(align):
            p *= y[k, t]
        s, prev = "", 0
        for k in align:
            if k != prev and k != 0:
                s += symbols[k - 1]
            prev = k
        out[s] = out.get(s, 0.0) + p
    return out


def _check_beam(best, merged, want_best, want, sem, what):
    if best != want_best:
        raise Check(f"{what}: best path {best!r}, expected {want_best!r}")
    for key, v in want.items():
        if key not in merged:
            raise Check(f"{what}: path {key!r} missing from the merged scores")
        close(np.atleast_1d(np.asarray(merged[key], np.float64)).reshape(-1)[:1], np.array([v]), f"{what} {key!r}", sem)
    vals = [float(np.asarray(v).reshape(-1)[0]) for v in merged.values()]
    if vals != sorted(vals, reverse=True):
        raise Check(f"{what}: merged path scores are not in descending order")


def beam(c):
    sem = c["sem"]
    if sem == "s21":
        fn = c["search"]["BeamSearch"]
    else:
        Dec = c["search"]["BeamSearchDecoder"]

        def fn(s, y, k):
            return Dec(s, k).decode(y)
    symbols = ["a", "b", "c"]
    for i, k in enumerate((2, 3, 3)):
        y = _search_input(sem, i)
        best, merged = fn(symbols, y, k)
        _check_beam(best, merged, *_lecture_beam(symbols, y[:, :, 0], k), sem, f"beam case {i} (width {k})")
    rng = np.random.default_rng(7)  # a beam wide enough to keep every path: exact, so exhaustive enumeration
    y = rng.uniform(0.05, 1, (4, 6))
    y /= y.sum(0)
    want = _enumerate(symbols, y)
    best, merged = fn(symbols, y[:, :, None], 10 ** 4)
    _check_beam(best, merged, max(want, key=want.get), want, sem, "exact beam")
    if set(merged) != set(want):
        raise Check("exact beam: the merged paths differ from the enumerated ones")


SECTIONS = [("RNN Forward", rnn_forward), ("RNN Backward", rnn_backward), ("RNN Classifier", rnn_classifier),
            ("GRU Forward", gru_forward), ("GRU Backward", gru_backward), ("GRU Inference", gru_inference),
            ("Extend Sequence with Blank", ctc_extend), ("Posterior Probability", ctc_posterior),
            ("CTC Forward", ctc_forward), ("CTC Backward", ctc_backward), ("Greedy Search", greedy),
            ("Beam Search", beam)]


def run(context):
    """Run every section. ``context``: "sem", "linear_file" (the handout's course linear.py) and, as
    callables (an import error fails only the sections that need it): "rnn", "gru", "ctc", "search"
    (namespaces after the tests' star imports), "predictor" (the predictor module), "rnn_loss",
    "gru_loss" (the course SoftmaxCrossEntropy each test star-imported). Prints the scores."""
    scores = {}
    for title, fn in SECTIONS:
        try:
            c = {"sem": context["sem"], "linear_file": context["linear_file"]}
            for k in _NEEDS[fn.__name__]:
                c[k] = context[k]()
            fn(c)
            scores[title] = POINTS[title]
            print(f"{title}: PASS")
        except Exception as e:  # noqa: BLE001  (a failing section scores 0, the others still run)
            scores[title] = 0
            print(f"{title}: FAIL ({type(e).__name__}: {e})")
            traceback.print_exc(file=sys.stdout)
    print(f"TOTAL SCORE: {sum(scores.values())}")
    print(json.dumps({"scores": scores}))


_NEEDS = {"rnn_forward": ("rnn",), "rnn_backward": ("rnn",), "rnn_classifier": ("rnn", "rnn_loss"),
          "gru_forward": ("gru",), "gru_backward": ("gru", "gru_loss"), "gru_inference": ("predictor",),
          "ctc_extend": ("ctc",), "ctc_posterior": ("ctc",), "ctc_forward": ("ctc",), "ctc_backward": ("ctc",),
          "greedy": ("search",), "beam": ("search",)}
