"""The C++ kernels' thread teams (csrc/team.h): every step split over threads (product rows through
single-threaded BLAS calls, gate math by batch rows), the whole-sequence products split likewise.

The team policy is lowered so that small shapes take the team path; team sizes 2 and 3 give uneven
splits (H not a multiple of 16, B not a multiple of the team). Each case is checked against PyTorch
autograd (float64, 1e-10; float32, 1e-5) and against the numpy backend, and asserts that a team ran.
"""
import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

pytest.importorskip("rnnfast._core")
from rnnfast import _core  # noqa: E402

torch = pytest.importorskip("torch")
from test_gru_functional import assert_close, make_case, ours, torch_gru  # noqa: E402

if "cpp" not in rnnfast.available_backends():
    pytest.skip("the cpp backend is not available", allow_module_level=True)

TOL = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(params=[2, 3], ids=lambda n: f"team{n}")
def team(request):
    before_policy, before_threads = _core.get_team_policy(), rnnfast.get_num_threads()
    _core.set_team_policy(1, 1, 1, 1)
    rnnfast.set_num_threads(request.param)
    yield request.param
    _core.set_team_policy(*before_policy)
    rnnfast.set_num_threads(before_threads)


def _blas_threads():
    from threadpoolctl import threadpool_info
    import scipy.linalg.cython_blas  # noqa: F401

    return [p["num_threads"] for p in threadpool_info() if "scipy.libs" in p["filepath"] or "scipy/" in p["filepath"]]


SHAPES = [(5, 2, 3, 7), (4, 5, 6, 40), (3, 33, 11, 17), (2, 9, 20, 64)]


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_gru_team_matches_torch_and_numpy(team, shape, dtype, reset_after):
    d = make_case(*shape, dtype=dtype, seed=sum(shape))
    runs = _core.team_runs()
    got = ours(d, "cpp", reset_after=reset_after)
    assert _core.team_runs() >= runs + 2, "forward and backward should each have run a team"
    assert_close(got, torch_gru(d, reset_after=reset_after), TOL[dtype])
    assert_close(got, ours(d, "numpy", reset_after=reset_after), TOL[dtype])


@pytest.mark.parametrize("bias", [True, False])
def test_gru_team_lengths(team, bias):
    d = make_case(6, 7, 5, 20, bias=bias, seed=3)
    lengths = [6, 4, 3, 1, 6, 2, 5]
    runs = _core.team_runs()
    got = ours(d, "cpp", lengths=lengths)
    assert _core.team_runs() >= runs + 2
    assert_close(got, torch_gru(d, lengths=lengths), TOL[np.float64])
    lengths[1] = 0  # torch's packed sequences refuse empty rows
    assert_close(ours(d, "cpp", lengths=lengths), ours(d, "numpy", lengths=lengths), TOL[np.float64])
    got_rb = ours(d, "cpp", lengths=lengths, reset_after=False)
    assert_close(got_rb, ours(d, "numpy", lengths=lengths, reset_after=False), TOL[np.float64])


def test_team_restores_blas_threads_and_respects_limits(team):
    d = make_case(3, 8, 4, 16, seed=1)
    before = _blas_threads()
    ours(d, "cpp")
    assert _blas_threads() == before, "the BLAS thread count must be restored after a team"
    from threadpoolctl import threadpool_limits

    runs = _core.team_runs()
    with threadpool_limits(1, user_api="blas"):
        got = ours(d, "cpp")
    assert _core.team_runs() == runs, "a BLAS limited to one thread must not get a team"
    assert_close(got, torch_gru(d), TOL[np.float64])


def test_default_policy_keeps_small_shapes_serial():
    assert _core.get_team_policy() == (8, 2048, 4, 16)
    runs = _core.team_runs()
    ours(make_case(3, 4, 4, 16, seed=2), "cpp")  # B = 4 < 8
    ours(make_case(3, 64, 4, 16, seed=2), "cpp")  # B * H = 1024 < 2048
    ours(make_case(3, 8, 4, 300, seed=2), "cpp")  # B / 4 = 2 threads at most: a team
    assert _core.team_runs() == runs + (2 if rnnfast.get_num_threads() > 1 else 0)


# ------------------------------------------------------------------------------------------ LSTM
import test_lstm_functional as L  # noqa: E402

LSTM_SHAPES = [(5, 2, 3, 7, 0), (4, 5, 6, 40, 0), (3, 33, 11, 17, 0), (4, 9, 8, 24, 5), (3, 6, 5, 40, 33)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", LSTM_SHAPES, ids=lambda s: "T{}B{}I{}H{}P{}".format(*s))
def test_lstm_team_matches_torch_and_numpy(team, shape, dtype):
    d = L.make_case(*shape, dtype=dtype, seed=sum(shape))
    runs = _core.team_runs()
    got = L.ours(d, "cpp")
    assert _core.team_runs() >= runs + 2, "forward and backward should each have run a team"
    L.assert_close(got, L.torch_lstm(d), TOL[dtype])
    L.assert_close(got, L.ours(d, "numpy"), TOL[dtype])


@pytest.mark.parametrize("P", [0, 4])
def test_lstm_team_lengths_and_optional_upstreams(team, P):
    d = L.make_case(6, 7, 5, 20, P=P, seed=4)
    lengths = [6, 4, 3, 1, 6, 2, 5]
    runs = _core.team_runs()
    got = L.ours(d, "cpp", lengths=lengths)
    assert _core.team_runs() >= runs + 2
    L.assert_close(got, L.torch_lstm(d, lengths=lengths), TOL[np.float64])
    lengths[1] = 0  # torch's packed sequences refuse empty rows
    L.assert_close(L.ours(d, "cpp", lengths=lengths, dy=False, use_c0=False),
                   L.ours(d, "numpy", lengths=lengths, dy=False, use_c0=False), TOL[np.float64])


# ------------------------------------------------------------------------------------------- RNN
import test_rnn_functional as R  # noqa: E402

RNN_SHAPES = [(5, 2, 3, 7), (4, 5, 6, 40), (3, 33, 11, 17)]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", RNN_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_rnn_team_matches_torch_and_numpy(team, shape, dtype, nonlinearity):
    d = R.make_case(*shape, dtype=dtype, seed=sum(shape))
    runs = _core.team_runs()
    got = R.ours(d, "cpp", nonlinearity)
    assert _core.team_runs() >= runs + 2, "forward and backward should each have run a team"
    R.assert_close(got, R.torch_rnn(d, nonlinearity), TOL[dtype])
    R.assert_close(got, R.ours(d, "numpy", nonlinearity), TOL[dtype])


def test_rnn_team_lengths(team):
    d = R.make_case(6, 7, 5, 20, seed=5)
    lengths = [6, 4, 3, 1, 6, 2, 5]
    got = R.ours(d, "cpp", "tanh", lengths=lengths)
    R.assert_close(got, R.torch_rnn(d, "tanh", lengths=lengths), TOL[np.float64])
    lengths[1] = 0
    R.assert_close(R.ours(d, "cpp", "relu", lengths=lengths, dy=False),
                   R.ours(d, "numpy", "relu", lengths=lengths, dy=False), TOL[np.float64])


def test_concurrent_calls_from_threads_give_serial_results(team):
    """Several Python threads calling the kernels at once: one of them gets the team, the others run on
    their own thread while the BLAS is single-threaded; every result must equal a lone call's."""
    import threading

    cases = [make_case(4, 9, 5, 24, seed=s) for s in range(6)]
    want = [ours(d, "cpp") for d in cases]
    got = [None] * len(cases)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                got[i] = ours(cases[i], "cpp")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for g, w in zip(got, want):
        assert_close(g, w, 1e-12)
    assert _blas_threads() == [team] * len(_blas_threads()), "BLAS thread count not restored"
