"""The functional layer's pool of backward workspaces: a reused workspace (even one full of NaN from
elsewhere) must give exactly the gradients of a fresh one, on every backend, with and without lengths."""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F
from rnnfast.functional import _workspace

BACKENDS = rnnfast.available_backends()


def _data(kind, T=5, B=3, I=4, H=6, seed=0):
    g = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    r = np.random.default_rng(seed)
    n = lambda *s: r.standard_normal(s)  # noqa: E731
    return dict(x=n(T, B, I), h0=n(B, H), w_ih=n(g * H, I) * 0.3, w_hh=n(g * H, H) * 0.3, b=n(g * H) * 0.1,
                dy=n(T, B, H), dh=n(B, H))


def _run(kind, d, lengths):
    if kind == "gru":
        _, _, c = F.gru_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.gru_backward(d["dy"], d["dh"], c)
    elif kind == "lstm":
        _, _, _, c = F.lstm_forward(d["x"], d["h0"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.lstm_backward(d["dy"], d["dh"], d["dh"], c)
    else:
        _, _, c = F.rnn_forward(d["x"], d["h0"], d["w_ih"], d["w_hh"], d["b"], d["b"], lengths=lengths)
        g = F.rnn_backward(d["dy"], d["dh"], c)
    return [a.copy() for a in (g.dx, g.dh0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)]


def _poison_pool():
    """Fill every pooled workspace with NaN."""
    for a in list(_workspace._free.values()):
        a.fill(np.nan)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_reused_workspace_gives_fresh_results(backend, kind, with_lengths):
    lengths = np.array([5, 0, 3]) if with_lengths else None
    with rnnfast.use_backend(backend):
        F.clear_workspace()
        fresh = _run(kind, _data(kind), lengths)
        assert _workspace._free, "the backward did not return its workspace to the pool"
        _poison_pool()
        _run(kind, _data(kind, seed=1), lengths)  # another call in between, on other data
        _poison_pool()
        again = _run(kind, _data(kind), lengths)
    F.clear_workspace()
    for a, b in zip(fresh, again):
        np.testing.assert_array_equal(a, b)


def test_pool_bounded_and_exclusive():
    pool = type(_workspace)(max_bytes=1000)
    a = pool.take((10, 10), np.float64, "w")  # 800 bytes
    assert pool.take((10, 10), np.float64, "w") is not a  # taken arrays are never handed out twice
    pool.give((a, "w"))
    assert pool.take((10, 10), np.float64, "w") is a
    pool.give((a, "w"), (np.empty((10, 10)), "v"))  # 1600 bytes > 1000: the least recently given goes
    assert list(pool._free) == [((10, 10), np.dtype(np.float64), "v")]
    pool.give((np.empty(200), "big"))  # larger than the whole budget: not kept
    assert ((200,), np.dtype(np.float64), "big") not in pool._free
