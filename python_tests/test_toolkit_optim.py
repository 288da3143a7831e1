"""rnnfast.optim against torch.optim: several steps in float64 from identical parameters and
gradient sequences; clip_grad_norm_ against torch.nn.utils.clip_grad_norm_; LR schedulers."""
import math

import numpy as np
import pytest

from rnnfast import optim

torch = pytest.importorskip("torch")

SHAPES = [(5, 3), (7,), (2, 3, 4)]
STEPS = 6


class P:
    """Minimal parameter: the optimiser only needs .data and .grad."""

    def __init__(self, a):
        self.data = a
        self.grad = None


def _run_both(make_ours, make_theirs, seed=0, zero_grad_param=False):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    ours = [P(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    o, t = make_ours(ours), make_theirs(theirs)
    for step in range(STEPS):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if zero_grad_param and i == 1 and step % 2:  # a parameter without a gradient is skipped
                p.grad, q.grad = None, None
            else:
                p.grad = grads[step][i].copy()
                q.grad = torch.tensor(grads[step][i])
        o.step()
        t.step()
        for p, q in zip(ours, theirs):
            ref = q.detach().numpy()
            err = np.max(np.abs(p.data - ref)) / np.max(np.abs(ref))
            assert err < 1e-12, f"step {step}: rel err {err}"
    # the parameters really moved
    assert max(np.max(np.abs(p.data - a)) for p, a in zip(ours, init)) > 1e-3
    return ours, o


@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9, maximize=True),
])
def test_sgd_matches_torch(kw):
    _run_both(lambda ps: optim.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, **kw), zero_grad_param=True)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    dict(lr=0.01, maximize=True),
])
def test_adam_matches_torch(cls, kw):
    _run_both(lambda ps: getattr(optim, cls)(ps, **kw),
              lambda ps: getattr(torch.optim, cls)(ps, foreach=False, **kw), zero_grad_param=True)


def test_adam_foreach_torch_also_matches():
    # torch's default (multi-tensor where available) must agree too
    _run_both(lambda ps: optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01))


def test_param_groups_and_named_parameters():
    rng = np.random.default_rng(1)
    a, b = P(rng.standard_normal(4)), P(rng.standard_normal(3))
    ta, tb = (torch.nn.Parameter(torch.tensor(x.data)) for x in (a, b))
    o = optim.SGD([{"params": [("a", a)]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    t = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1, momentum=0.9)
    for _ in range(3):
        ga, gb = rng.standard_normal(4), rng.standard_normal(3)
        a.grad, b.grad, ta.grad, tb.grad = ga.copy(), gb.copy(), torch.tensor(ga), torch.tensor(gb)
        o.step(), t.step()
    np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-13, atol=0)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(2)
    init = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    p1, p2 = P(init.copy()), P(init.copy())
    o1 = optim.Adam([p1], lr=0.01, amsgrad=True)
    for g in grads[:3]:
        p1.grad = g.copy()
        o1.step()
    p2.data[...] = p1.data
    o2 = optim.Adam([p2], lr=0.5)
    o2.load_state_dict(o1.state_dict())
    assert o2.param_groups[0]["lr"] == 0.01
    for g in grads[3:]:
        p1.grad, p2.grad = g.copy(), g.copy()
        o1.step(), o2.step()
    np.testing.assert_array_equal(p1.data, p2.data)


def test_update_is_in_place_and_keeps_dtype():
    a = np.ones(5, np.float32)
    p = P(a)
    p.grad = np.full(5, 0.5, np.float32)
    optim.Adam([p], lr=0.1).step()
    assert p.data is a and a.dtype == np.float32 and np.all(a < 1)


def test_zero_grad():
    p = P(np.zeros(3))
    p.grad = np.ones(3)
    g = p.grad
    o = optim.SGD([p], lr=0.1)
    o.zero_grad()
    assert p.grad is g and not g.any()
    o.zero_grad(set_to_none=True)
    assert p.grad is None


def test_bad_arguments():
    p = P(np.zeros(3))
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="iterable"):
        optim.Adam(p)
    with pytest.raises(TypeError, match="unknown option"):
        optim.SGD([{"params": [p], "momentun": 0.9}], lr=0.1)
    p.grad = np.zeros(4)
    with pytest.raises(ValueError, match="does not match"):
        optim.SGD([p], lr=0.1).step()


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipping and not clipping
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(3)
    gs = [rng.standard_normal(s) for s in SHAPES]
    ours = [P(np.zeros(s)) for s in SHAPES] + [P(np.zeros(2))]  # last one has no gradient
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES]
    for p, q, g in zip(ours, theirs, gs):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    n1 = optim.clip_grad_norm_(ours, max_norm, norm_type)
    n2 = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type).item()
    assert abs(n1 - n2) <= 1e-13 * n2
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-13, atol=0)
    total = np.linalg.norm(np.concatenate([p.grad.ravel() for p in ours[:3]]), norm_type)
    assert total <= max_norm * (1 + 1e-9) if max_norm < n1 else abs(total - n1) < 1e-12 * n1


def test_clip_grad_norm_nonfinite():
    p = P(np.zeros(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    p = P(np.zeros(4))
    p.grad = np.array([-3.0, -0.5, 0.5, 3.0])
    optim.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, -0.5, 0.5, 1.0])


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
])
def test_schedulers_match_torch(name, kw):
    o = optim.SGD([P(np.zeros(2))], lr=0.1)
    t = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    so, st = getattr(optim, name)(o, **kw), getattr(torch.optim.lr_scheduler, name)(t, **kw)
    for _ in range(10):
        np.testing.assert_allclose(so.get_last_lr(), st.get_last_lr(), rtol=1e-12)
        o.step(), t.step()
        so.step(), st.step()
