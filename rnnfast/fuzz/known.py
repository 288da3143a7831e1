"""Findings of the fuzzer: the ones known and not fixed yet, and reproducers of the fixed ones.

``KNOWN``: (entry-point regex, backend regex, outcome, detail regex, reason); a finding matching
one is reported as known, not as new. The bounded test (python_tests/test_fuzz.py) fails on any
other finding.
``FIXED_CASES``: one reproducer per finding fixed so far (what it was, the case); the test suite runs
each in a fresh process and requires a clean outcome.
"""

_HEAP = ("was: C++ LSTM/Elman-RNN kernels with T = 0 or B = 0 and a bias write the bias row into a zero-row "
         "buffer (heap overflow: a crash then or at a later call), and gru_cell_backward with hidden size 0")
_INT = "was: scalar arguments (blank, beam_width, top_k) go through int() unchecked: the message names no argument"

KNOWN = []  # none open: every finding fails the bounded test


def _case(ep, backend, args, seed=1):
    return {"ep": ep, "backend": backend, "seed": seed, "args": args}


def _a(shape, dtype="float64", **kw):
    d = {"shape": list(shape), "dtype": dtype, "layout": "C", "fill": "normal", "kind": "normal"}
    d.update(kw)
    return d


def _v(v):
    return {"value": v}


def _lstm_args(T, B, I, H, **over):
    a = {"x": _a((T, B, I)), "h0": _v(None), "c0": _v(None), "w_ih": _a((4 * H, I)), "w_hh": _a((4 * H, H)),
         "b_ih": _a((4 * H,)), "b_hh": _a((4 * H,)), "w_hr": _v(None), "lengths": _v(None)}
    a.update(over)
    return a


FIXED_CASES = {
    "lstm_forward-T0-bias-cpp": (_HEAP, _case("functional.lstm_forward", "cpp", _lstm_args(0, 3, 2, 4))),
    "lstm_cell_backward-B0-bias-cpp": (_HEAP, _case("functional.lstm_cell_backward", "cpp", {
        "x": _a((0, 2)), "h": _v(None), "c": _v(None), "w_ih": _a((16, 2)), "w_hh": _a((16, 4)), "b_ih": _a((16,)),
        "b_hh": _a((16,)), "w_hr": _v(None), "dh_new": _a((0, 4)), "dc_new": _v(None)})),
    "rnn_forward-B0-bias-cpp": (_HEAP, _case("functional.rnn_forward", "cpp", {
        "x": _a((3, 0, 2)), "h0": _v(None), "w_ih": _a((4, 2)), "w_hh": _a((4, 4)), "b_ih": _a((4,)),
        "b_hh": _a((4,)), "nonlinearity": _v("tanh"), "lengths": _v(None)})),
    "gru_cell_backward-H0-cpp": (_HEAP, _case("functional.gru_cell_backward", "cpp", {
        "x": _a((2, 3)), "h": _v(None), "w_ih": _a((0, 3)), "w_hh": _a((0, 0)), "b_ih": _a((0,)), "b_hh": _a((0,)),
        "reset_after": _v(True), "dh_new": _a((2, 0))})),
    "rnn_relu-nan-cpp": ("ReLU RNN maps NaN to 0 (cpp)", _case("functional.rnn_forward", "cpp", {
        "x": _a((2, 1, 2), fill="nan"), "h0": _v(None), "w_ih": _a((3, 2)), "w_hh": _a((3, 3)), "b_ih": _v(None),
        "b_hh": _v(None), "nonlinearity": _v("relu"), "lengths": _v(None)})),
    "rnn_relu-nan-numba": ("ReLU RNN maps NaN to 0 (numba)", _case("functional.rnn_forward", "numba", {
        "x": _a((2, 1, 2), fill="nan"), "h0": _v(None), "w_ih": _a((3, 2)), "w_hh": _a((3, 3)), "b_ih": _v(None),
        "b_hh": _v(None), "nonlinearity": _v("relu"), "lengths": _v(None)})),
    "ctc_loss-blank-None": (_INT, _case("ctc.ctc_loss", "numpy", {
        "log_probs": _a((3, 1, 4), kind="logprob"), "targets": {"value": [[1, 2]], "dtype": "int64"},
        "input_lengths": {"value": [3], "dtype": "int64"}, "target_lengths": {"value": [2], "dtype": "int64"},
        "blank": _v(None), "reduction": _v("mean"), "zero_infinity": _v(False), "return_grad": _v(False)})),
    "beam_search-beam_width-None": (_INT, _case("ctc.beam_search", "numpy", {
        "log_probs": _a((3, 1, 4), kind="logprob"), "input_lengths": _v(None), "blank": _v(0),
        "beam_width": _v(None), "top_k": _v(1)})),
    "log_softmax-empty": ("log_softmax of an empty array", _case("ctc.log_softmax", "numpy", {
        "x": _a((0, 3)), "axis": _v(0)})),
    "prob_alpha_beta-compute-None": ("prob_alpha_beta: compute unchecked", _case("ctc_prob.prob_alpha_beta", "numpy", {
        "y": _a((3, 3), kind="prob"), "ext": {"value": [0, 1, 0], "dtype": "int64"},
        "skip": {"value": [0, 0, 0], "dtype": "int64"}, "compute": _v(None)})),
    "mytorch-rnncell-B0": ("MyTorch RNNCell.backward divides by B = 0", _case("mytorch.RNNCell", "numpy", {
        "input_size": _v(2), "hidden_size": _v(3), "W_ih": _a((3, 2)), "W_hh": _a((3, 3)), "b_ih": _a((3,)),
        "b_hh": _a((3,)), "x": _a((0, 2)), "h_prev_t": _a((0, 3)), "delta": _a((0, 3))})),
    "rnn_backward-carried-row-inf-w_hh-cpp": ("a row of length 0 got NaN gradients from 0 * inf in W_hh",
                                              _case("functional.rnn_backward", "cpp", {
        "x": _a((4, 2, 3)), "h0": _v(None), "w_ih": _a((2, 3)), "w_hh": _a((2, 2), fill="-inf"), "b_ih": _a((2,)),
        "b_hh": _a((2,)), "nonlinearity": _v("tanh"), "lengths": {"value": [2, 0], "dtype": "int64"}, "dy": _v(None),
        "dh_n": _a((2, 2))}, seed=50835)),
    "mytorch-rnncell-misaligned-weight-cpp": ("MyTorch RNNCell named its kernel's argument w_ih for a misaligned W_ih",
                                              _case("mytorch.RNNCell", "cpp", {
        "input_size": _v(4), "hidden_size": _v(1), "W_ih": _a((1, 4), dtype="float32", layout="misaligned"),
        "W_hh": _a((1, 1), dtype="float32"), "b_ih": _a((1,), dtype="float32"), "b_hh": _a((1,), dtype="float32"),
        "x": _a((1, 4), dtype="float32"), "h_prev_t": _a((1, 1), dtype="float32"),
        "delta": _a((1, 1), dtype="float32")})),
}
