"""rnnfast.torch modules against torch's: outputs, final states and every gradient (inputs, initial
states, all parameters) for random upstream gradients, float64 to 1e-10 and float32 to 1e-5 relative;
PackedSequence with unsorted lengths, unbatched input, batch_first, dropout, partial outputs, cells, CTC,
state_dict round trips, convert/revert on a nested model, optimizer steps, fallbacks and imports."""
import copy
import os
import subprocess
import sys
import warnings

import pytest

import rnnfast

torch = pytest.importorskip("torch")
rt = pytest.importorskip("rnnfast.torch")
from torch.nn.utils.rnn import pack_padded_sequence

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = [torch.float64, torch.float32]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rel_err(a, b):
    den = b.abs().max().item()
    return (a - b).abs().max().item() / (den if den > 0 else 1.0)


def assert_all_close(got, want, tol, what=""):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        if b is None:
            assert a is None or not a.abs().max().item(), (what, i)
            continue
        assert a.shape == b.shape, (what, i, a.shape, b.shape)
        e = rel_err(a.detach().to(torch.float64), b.detach().to(torch.float64))
        assert e <= tol, f"{what} item {i}: relative error {e:.3g} > {tol}"


def _flat(v):
    if isinstance(v, torch.nn.utils.rnn.PackedSequence):
        return [v.data]
    if isinstance(v, (tuple, list)):
        return [t for x in v for t in _flat(x)]
    return [v]


def run(model, make_inputs, seed=0, use=None):
    """Forward ``model(*make_inputs())``, a loss <outputs, random weights> over the outputs selected by
    ``use`` (indices into the flattened outputs, default all); returns (outputs, grads of the leaf inputs
    and every parameter)."""
    leaves, args = make_inputs()
    outs = _flat(model(*args))
    g = torch.Generator().manual_seed(seed)
    sel = range(len(outs)) if use is None else use
    loss = sum((outs[i] * torch.randn(outs[i].shape, generator=g, dtype=outs[i].dtype)).sum() for i in sel)
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, leaves + params, allow_unused=True)
    return outs, list(grads)


def twin(m):
    return rt.convert(copy.deepcopy(m))


def compare(tm, make_inputs, dtype, use=None, what=""):
    rm = twin(tm)
    assert any(type(a) is not type(b) for a, b in zip(rm.modules(), tm.modules()))
    o1, g1 = run(tm, make_inputs, use=use)
    o2, g2 = run(rm, make_inputs, use=use)
    assert_all_close(o2, o1, TOL[dtype], what + " outputs")
    assert_all_close(g2, g1, TOL[dtype], what + " grads")


def _x(*shape, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(True)


SEQ_CASES = [
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {"bias": False, "batch_first": True}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 3}),
    ("LSTM", {"batch_first": True}),
    ("RNN", {"num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}),
    ("RNN", {"bias": False}),
]


def _make_seq(mode, kw, dtype, with_hx, T=5, B=3, I=4, H=6, seed=0):
    torch.manual_seed(seed)
    m = getattr(torch.nn, mode)(I, H, dtype=dtype, **kw)
    D = 2 if m.bidirectional else 1
    LD, P = m.num_layers * D, m.proj_size or H

    def inputs():
        x = _x(*((B, T, I) if m.batch_first else (T, B, I)), dtype=dtype)
        if not with_hx:
            return [x], (x,)
        h0 = _x(LD, B, P, dtype=dtype, seed=2)
        if mode == "LSTM":
            c0 = _x(LD, B, H, dtype=dtype, seed=3)
            return [x, h0, c0], (x, (h0, c0))
        return [x, h0], (x, h0)
    return m, inputs


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "nohx"])
@pytest.mark.parametrize("mode,kw", SEQ_CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(SEQ_CASES)])
def test_sequence_module_equals_torch(mode, kw, with_hx, dtype):
    m, inputs = _make_seq(mode, kw, dtype, with_hx)
    compare(m, inputs, dtype, what=mode)


@pytest.mark.parametrize("backend", rnnfast.available_backends())
def test_sequence_modules_on_every_backend(backend):
    with rnnfast.use_backend(backend):
        for mode, kw in SEQ_CASES[::2]:
            m, inputs = _make_seq(mode, kw, torch.float64, True)
            compare(m, inputs, torch.float64, what=f"{backend} {mode}")


@pytest.mark.parametrize("mode", ["GRU", "LSTM", "RNN"])
def test_partial_outputs(mode):
    """Only some outputs feed the loss (None upstream gradients for the others)."""
    m, inputs = _make_seq(mode, {"num_layers": 2, "bidirectional": True}, torch.float64, True)
    n_out = 3 if mode == "LSTM" else 2
    for use in [[0], [1]] + ([[2], [1, 2]] if mode == "LSTM" else []):
        assert max(use) < n_out
        compare(m, inputs, torch.float64, use=use, what=f"{mode} uses {use}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,kw", [("GRU", {}), ("LSTM", {"proj_size": 2}), ("RNN", {"nonlinearity": "relu"})])
def test_packed_sequence_unsorted(mode, kw, dtype):
    T, B, I, H = 6, 4, 3, 5
    lengths = torch.tensor([4, 6, 1, 3])  # unsorted
    torch.manual_seed(0)
    m = getattr(torch.nn, mode)(I, H, num_layers=2, bidirectional=True, dtype=dtype, **kw)
    P = m.proj_size or H

    def inputs():
        x = _x(T, B, I, dtype=dtype)
        h0 = _x(4, B, P, dtype=dtype, seed=2)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        hx = (h0, _x(4, B, H, dtype=dtype, seed=3)) if mode == "LSTM" else h0
        return [x, h0], (packed, hx)
    compare(m, inputs, dtype, what=f"packed {mode}")
    out, _ = twin(m)(*inputs()[1])
    ref, _ = m(*inputs()[1])
    assert torch.equal(out.batch_sizes, ref.batch_sizes)
    assert torch.equal(out.sorted_indices, ref.sorted_indices)
    assert torch.equal(out.unsorted_indices, ref.unsorted_indices)


def test_packed_sequence_sorted_without_hx():
    m = torch.nn.GRU(3, 4, bidirectional=True, dtype=torch.float64)
    lengths = [5, 3, 2]

    def inputs():
        x = _x(5, 3, 3, dtype=torch.float64)
        return [x], (pack_padded_sequence(x, lengths),)
    compare(m, inputs, torch.float64, what="packed sorted")


@pytest.mark.parametrize("mode", ["GRU", "LSTM", "RNN"])
def test_unbatched_input(mode):
    dtype = torch.float64
    m = getattr(torch.nn, mode)(3, 4, num_layers=2, bidirectional=True, dtype=dtype)

    def inputs():
        x = _x(5, 3, dtype=dtype)
        h0 = _x(4, 4, dtype=dtype, seed=2)
        return [x, h0], (x, (h0, _x(4, 4, dtype=dtype, seed=3)) if mode == "LSTM" else h0)
    compare(m, inputs, dtype, what=f"unbatched {mode}")

    def no_state():
        x = _x(5, 3, dtype=dtype)
        return [x], (x,)
    compare(m, no_state, dtype, what=f"unbatched {mode} no state")


@pytest.mark.parametrize("mode", ["GRU", "LSTM", "RNN"])
def test_dropout_train_and_eval(mode):
    """Training: the same dropout masks as torch's for the same seed (both draw them with
    torch.nn.functional.dropout between layers); eval: no dropout."""
    m, inputs = _make_seq(mode, {"num_layers": 3, "bidirectional": True, "dropout": 0.5}, torch.float64, True)
    rm = twin(m)
    for train in (True, False):
        m.train(train)
        rm.train(train)
        torch.manual_seed(7)
        o1, g1 = run(m, inputs)
        torch.manual_seed(7)
        o2, g2 = run(rm, inputs)
        assert_all_close(o2, o1, 1e-10, f"dropout train={train}")
        assert_all_close(g2, g1, 1e-10, f"dropout train={train} grads")
    rm.train(True)
    a, b = rm(inputs()[1][0])[0], rm(inputs()[1][0])[0]
    assert not torch.equal(a, b)  # training draws new masks
    rm.eval()
    assert torch.equal(rm(inputs()[1][0])[0], rm(inputs()[1][0])[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("cls,kw", [("GRUCell", {}), ("LSTMCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                    ("RNNCell", {"bias": False})])
def test_cells_unrolled(cls, kw, dtype):
    B, I, H, T = 3, 4, 5, 4
    torch.manual_seed(0)
    m = getattr(torch.nn, cls)(I, H, dtype=dtype, **kw)
    lstm = cls == "LSTMCell"

    class Unroll(torch.nn.Module):
        def __init__(self, cell, with_state, batched=True):
            super().__init__()
            self.cell, self.with_state, self.batched = cell, with_state, batched

        def forward(self, x, h):
            state = ((h, h * 0.5) if lstm else h) if self.with_state else None
            outs = []
            for t in range(x.shape[0]):
                state = self.cell(x[t], state)
                outs.append(state[0] if lstm else state)
            return torch.stack(outs), state

    for with_state in (True, False):
        for batched in (True, False):
            def inputs(batched=batched):
                shape = (T, B, I) if batched else (T, I)
                x = _x(*shape, dtype=dtype)
                h = _x(*((B, H) if batched else (H,)), dtype=dtype, seed=2)
                return [x, h], (x, h)
            compare(Unroll(m, with_state), inputs, dtype, what=f"{cls} state={with_state} batched={batched}")


# --------------------------------------------------------------------------------------------- CTC
def _ctc_case(dtype, T=12, B=4, C=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(T, B, C, generator=g, dtype=dtype).requires_grad_(True)
    tl = torch.tensor([3, 1, 0, 5])
    il = torch.tensor([12, 7, 4, 10])
    targets = torch.randint(1, C, (B, 5), generator=g)
    return logits, targets, il, tl


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_equals_torch(reduction, zero_infinity, dtype):
    logits, targets, il, tl = _ctc_case(dtype)
    concat = torch.cat([targets[b, :tl[b]] for b in range(4)])
    forms = [(targets, il, tl), (concat.to(torch.int32), il.to(torch.int32), tl.to(torch.int32)),
             (targets, tuple(il.tolist()), tuple(tl.tolist()))]
    for tg, a, b in forms:
        out = []
        for fn in (torch.nn.functional.ctc_loss, rt.ctc_loss):
            loss = fn(logits.log_softmax(2), tg, a, b, blank=0, reduction=reduction, zero_infinity=zero_infinity)
            w = torch.linspace(0.5, 1.5, loss.numel(), dtype=dtype).view(loss.shape)
            (g,) = torch.autograd.grad((loss * w).sum(), logits)
            out.append((loss.detach(), g))
        assert out[1][0].shape == out[0][0].shape
        assert_all_close([out[1][0], out[1][1]], [out[0][0], out[0][1]], TOL[dtype], f"ctc {reduction}")


def test_ctc_infeasible_zero_infinity_and_unbatched_and_module():
    dtype = torch.float64
    logits = _x(3, 2, 4, dtype=dtype)
    targets = torch.tensor([[1, 1, 2], [2, 3, 0]])
    il, tl = torch.tensor([3, 3]), torch.tensor([3, 2])  # item 0 needs 4 frames: infeasible
    for zi in (True, False):
        ref = torch.nn.functional.ctc_loss(logits.log_softmax(2), targets, il, tl, reduction="none", zero_infinity=zi)
        got = rt.CTCLoss(reduction="none", zero_infinity=zi)(logits.log_softmax(2), targets, il, tl)
        assert torch.equal(torch.isinf(got), torch.isinf(ref))
        fin = torch.isfinite(ref)
        assert rel_err(got[fin], ref[fin]) < 1e-10
    (g,) = torch.autograd.grad(rt.ctc_loss(logits.log_softmax(2), targets, il, tl, zero_infinity=True), logits)
    (g0,) = torch.autograd.grad(torch.nn.functional.ctc_loss(logits.log_softmax(2), targets, il, tl,
                                                             zero_infinity=True), logits)
    assert rel_err(g, g0) < 1e-10
    lp1 = logits[:, 1].log_softmax(1)  # unbatched (T, C)
    for red in ("none", "mean"):
        a = rt.ctc_loss(lp1, targets[1, :2], torch.tensor(3), torch.tensor(2), reduction=red)
        b = torch.nn.functional.ctc_loss(lp1, targets[1, :2], torch.tensor(3), torch.tensor(2), reduction=red)
        assert a.shape == b.shape and rel_err(a, b) < 1e-10


def test_ctc_bad_arguments():
    logits, targets, il, tl = _ctc_case(torch.float64)
    with pytest.raises(ValueError, match="reduction"):
        rt.ctc_loss(logits, targets, il, tl, reduction="avg")
    with pytest.raises(TypeError, match="input_lengths must hold integers"):
        rt.ctc_loss(logits, targets, il.double(), tl)
    with pytest.raises(ValueError, match="input_lengths"):
        rt.ctc_loss(logits, targets, il[:2], tl)


# ----------------------------------------------------------------------------- state dict, convert
@pytest.mark.parametrize("mode,kw", SEQ_CASES + [("GRUCell", {}), ("LSTMCell", {}), ("RNNCell", {})])
def test_state_dict_round_trip(mode, kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, mode)(4, 6, dtype=torch.float64, **kw)
    rm = getattr(rt, mode)(4, 6, dtype=torch.float64, **kw)
    assert list(rm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in rm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    rm.load_state_dict(tm.state_dict())
    back = getattr(torch.nn, mode)(4, 6, dtype=torch.float64, **kw)
    back.load_state_dict(rm.state_dict())
    for k, v in tm.state_dict().items():
        assert torch.equal(back.state_dict()[k], v) and torch.equal(rm.state_dict()[k], v)
    assert repr(rm) == repr(tm)


class Nested(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh())
        self.rnns = torch.nn.ModuleList([torch.nn.LSTM(5, 6, bidirectional=True),
                                         torch.nn.GRU(12, 6, num_layers=2)])
        self.inner = torch.nn.ModuleDict({"cell": torch.nn.GRUCell(6, 6)})
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.rnns[0](self.enc(x))
        y, h = self.rnns[1](y)
        h = self.inner["cell"](y[-1], h[-1])
        return self.head(h)


def test_convert_and_revert_nested_model():
    torch.manual_seed(0)
    m = Nested().double()
    x = _x(5, 2, 4, dtype=torch.float64)
    ref = m(x)
    params = {n: p for n, p in m.named_parameters()}
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    assert rt.convert(m) is m
    assert type(m.rnns[0]) is rt.LSTM and type(m.rnns[1]) is rt.GRU and type(m.inner["cell"]) is rt.GRUCell
    assert isinstance(m.rnns[0], torch.nn.LSTM)
    assert all(p is params[n] for n, p in m.named_parameters())  # the same Parameter objects
    assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
    assert rel_err(m(x), ref) < 1e-12
    assert rt.revert(m) is m
    assert type(m.rnns[0]) is torch.nn.LSTM and type(m.inner["cell"]) is torch.nn.GRUCell
    assert rel_err(m(x), ref) < 1e-12


def test_user_subclass_is_left_alone():
    class MyGRU(torch.nn.GRU):
        pass
    m = torch.nn.Sequential(MyGRU(3, 4))
    rt.convert(m)
    assert type(m[0]) is MyGRU


def test_optimizer_steps_equal_torch():
    """Adam steps on a converted model (GRU bidirectional + Linear + CTC) give torch's parameters."""
    torch.manual_seed(0)

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(6, 8, num_layers=2, bidirectional=True)
            self.out = torch.nn.Linear(16, 5)
            self.ctc = torch.nn.CTCLoss(zero_infinity=True)

        def forward(self, x, targets, il, tl):
            y, _ = self.rnn(x)
            return self.ctc(self.out(y).log_softmax(2), targets, il, tl)

    a = M().double()
    b = rt.convert(copy.deepcopy(a))
    assert type(b.ctc) is rt.CTCLoss
    g = torch.Generator().manual_seed(1)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (a, b)]
    for _ in range(4):
        x = torch.randn(10, 3, 6, generator=g, dtype=torch.float64)
        targets = torch.randint(1, 5, (3, 4), generator=g)
        il, tl = torch.tensor([10, 8, 9]), torch.tensor([4, 2, 3])
        for m, opt in zip((a, b), opts):
            opt.zero_grad()
            m(x, targets, il, tl).backward()
            opt.step()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert rel_err(q, p) < 1e-10, n


# ------------------------------------------------------------------------------------- fallbacks
def test_fallback_dtype_warns_once_and_equals_torch():
    rt.reset_warnings()
    m = torch.nn.GRU(4, 5, dtype=torch.bfloat16)
    r = twin(m)
    x = torch.randn(3, 2, 4, dtype=torch.bfloat16)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y = r(x)[0]
        r(x)
    msgs = [str(i.message) for i in w if issubclass(i.category, rt.RnnfastFallbackWarning)]
    assert len(msgs) == 1 and "bfloat16" in msgs[0]
    assert torch.equal(y, m(x)[0])


def test_fallback_forward_ad_and_torch_func():
    import torch.autograd.forward_ad as fwAD
    from torch.func import jacrev

    rt.reset_warnings()
    m = torch.nn.LSTM(3, 4, dtype=torch.float64)
    r = twin(m)
    x = _x(4, 2, 3, dtype=torch.float64).detach()
    t = torch.randn_like(x)
    with fwAD.dual_level():
        with pytest.warns(rt.RnnfastFallbackWarning, match="forward-mode"):
            y = r(fwAD.make_dual(x, t))[0]
        got = fwAD.unpack_dual(y).tangent
        want = fwAD.unpack_dual(m(fwAD.make_dual(x, t))[0]).tangent
    assert rel_err(got, want) < 1e-12
    with pytest.warns(rt.RnnfastFallbackWarning, match="torch.func"):
        j = jacrev(lambda v: r(v)[0].sum())(x)
    assert rel_err(j, jacrev(lambda v: m(v)[0].sum())(x)) < 1e-12


def test_double_backward_of_a_module_equals_torch():
    m = torch.nn.GRU(3, 4, dtype=torch.float64)
    r = twin(m)
    out = []
    for mod in (m, r):
        x = _x(3, 2, 3, dtype=torch.float64)
        (g,) = torch.autograd.grad(mod(x)[0].square().sum(), x, create_graph=True)
        out.append(torch.autograd.grad(g.square().sum(), [x] + list(mod.parameters())))
    assert_all_close(out[1], out[0], 1e-10, "double backward")


def test_torch_compile_graph_break_runs():
    m = torch.nn.Sequential(torch.nn.Linear(3, 4)).double()
    rnn = rt.GRU(4, 5, dtype=torch.float64)

    def f(x):
        return rnn(m(x))[0].sum()
    x = _x(4, 2, 3, dtype=torch.float64)
    c = torch.compile(f, backend="aot_eager")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        v = c(x)
    assert not [str(i.message) for i in w if "Dynamo" in str(i.message)]  # dynamo never traces the bridge
    (g,) = torch.autograd.grad(v, x)
    (g0,) = torch.autograd.grad(f(x), x)
    assert rel_err(v, f(x)) < 1e-12 and rel_err(g, g0) < 1e-12


def test_bad_input_messages():
    r = rt.GRU(4, 5)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        r(torch.randn(3, 2, 7))
    with pytest.raises(RuntimeError, match="hidden"):
        r(torch.randn(3, 2, 4), torch.randn(1, 3, 5))
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        r(torch.randn(3))
    with pytest.raises(RuntimeError, match="hx should also be 2-D"):
        r(torch.randn(3, 4), torch.randn(1, 1, 5))
    with pytest.raises(RuntimeError, match="inconsistent input_size"):
        rt.GRUCell(4, 5)(torch.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"hx of shape \(2, 4\)"):
        rt.GRUCell(4, 5)(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(TypeError, match="tuple"):
        rt.LSTM(4, 5)(torch.randn(3, 2, 4), torch.randn(1, 2, 5))


# ---------------------------------------------------------------------------------------- imports
def _py(code):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_import_does_not_shadow_torch():
    r = _py("import rnnfast.torch, torch, os; assert os.sep + 'rnnfast' + os.sep not in torch.__file__; "
            "assert torch.nn.GRU is not rnnfast.torch.GRU; print(torch.__version__)")
    assert r.returncode == 0, r.stderr


def test_clear_message_without_torch():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ImportError('No module named torch')\n"
            "sys.meta_path.insert(0, Block())\n"
            "try:\n"
            "    import rnnfast.torch\n"
            "except ImportError as e:\n"
            "    print('MSG', e)\n")
    r = _py(code)
    assert r.returncode == 0, r.stderr
    assert 'pip install "rnnfast[torch]"' in r.stdout, r.stdout


@pytest.mark.parametrize("mode", ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"])
def test_no_grad_path_equals_torch(mode):
    """Under torch.no_grad (and in inference mode) the kernels run without autograd: same outputs."""
    torch.manual_seed(0)
    cell = mode.endswith("Cell")
    kw = {} if cell else {"num_layers": 2, "bidirectional": True}
    m = getattr(torch.nn, mode)(3, 4, dtype=torch.float64, **kw)
    r = twin(m)
    x = torch.randn(2, 3, dtype=torch.float64) if cell else torch.randn(5, 2, 3, dtype=torch.float64)
    for ctx in (torch.no_grad, torch.inference_mode):
        with ctx():
            got, want = _flat(r(x)), _flat(m(x))
        assert not any(t.requires_grad for t in got)
        assert_all_close(got, want, 1e-12, f"{mode} {ctx.__name__}")
