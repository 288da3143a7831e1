"""Type stub of rnnfast._core, the compiled kernels (csrc/bindings/*.cpp).

Every kernel writes into arrays the caller allocated (C-contiguous, aligned, float32 or float64 like
the call's other float arrays; labels, lengths and targets int64) and returns None. The argument order
and meaning are declared in rnnfast/_contract.py and the headers csrc/*.h; arrays typed
``numpy.ndarray | None`` may be None.
"""

import numpy

# ---- build, instruction-set level (csrc/dispatch.h)
has_openmp: bool
has_libmvec: bool

def _cpu_capability() -> str: ...
def _cpu_capabilities() -> list[str]: ...
def _cpu_capabilities_compiled() -> list[tuple[str, str]]: ...
def _cpu_best() -> str: ...
def _set_cpu_capability(name: str) -> None: ...
def _build_info() -> dict[str, str | bool]: ...
def _vmath(fn: str, out: numpy.ndarray, x: numpy.ndarray) -> None: ...

# ---- BLAS, threads and team policy (csrc/blas.h, csrc/team.h, csrc/packed_step.h)
def set_blas(sgemm: int, dgemm: int, sgemv: int = 0, dgemv: int = 0) -> None: ...
def set_blas_threads(set: int, get: int) -> None: ...
def blas_ready() -> bool: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def get_team_threads() -> int: ...
def set_team_policy(min_batch: int, min_work: int, rows_per_thread: int = 4, features_per_thread: int = 16) -> None: ...
def get_team_policy() -> tuple[int, int, int, int]: ...
def team_runs() -> int: ...
def _set_step_product(name: str) -> None: ...
def _step_product() -> tuple[str, str, int]: ...

# ---- scratch the CTC kernels keep between calls (csrc/team.h ScratchPool, csrc/ctc_decode.h)
beam_scratch_limit: int

def release_scratch() -> int: ...
def ctc_beam_scratch_bytes(T: int, beam_width: int, C: int) -> int: ...

# ---- GRU (csrc/gru.h)
def gru_backward(
    dx: numpy.ndarray | None, dh0: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dgx: numpy.ndarray, dgh: numpy.ndarray | None,
    dtmp: numpy.ndarray, dy: numpy.ndarray | None, dh_n: numpy.ndarray | None, x: numpy.ndarray, w_ih: numpy.ndarray,
    w_hh: numpy.ndarray, hs: numpy.ndarray, gates: numpy.ndarray, hn: numpy.ndarray, lengths: numpy.ndarray | None,
    reset_after: bool, reverse: bool,
) -> None: ...
def gru_cell_backward(
    dx: numpy.ndarray | None, dh: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dgx: numpy.ndarray, dgh: numpy.ndarray | None,
    dtmp: numpy.ndarray, dh_new: numpy.ndarray, x: numpy.ndarray, h: numpy.ndarray, w_ih: numpy.ndarray,
    w_hh: numpy.ndarray, gates: numpy.ndarray, hn: numpy.ndarray, reset_after: bool,
) -> None: ...
def gru_cell_forward(
    h_new: numpy.ndarray, gates: numpy.ndarray, hn: numpy.ndarray, gh: numpy.ndarray, x: numpy.ndarray,
    h: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, b_ih: numpy.ndarray | None, b_hh: numpy.ndarray | None,
    reset_after: bool,
) -> None: ...
def gru_forward(
    y: numpy.ndarray, h_n: numpy.ndarray, hs: numpy.ndarray, gates: numpy.ndarray, hn: numpy.ndarray, gh: numpy.ndarray,
    x: numpy.ndarray, h0: numpy.ndarray | None, w_ih: numpy.ndarray, w_hh: numpy.ndarray, b_ih: numpy.ndarray | None,
    b_hh: numpy.ndarray | None, lengths: numpy.ndarray | None, reset_after: bool, reverse: bool,
) -> None: ...

# ---- LSTM (csrc/lstm.h)
def lstm_backward(
    dx: numpy.ndarray | None, dh0: numpy.ndarray, dc0: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dw_hr: numpy.ndarray | None, dgates: numpy.ndarray,
    dhs: numpy.ndarray | None, dy: numpy.ndarray | None, dh_n: numpy.ndarray | None, dc_n: numpy.ndarray | None,
    x: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, w_hr: numpy.ndarray | None, hs: numpy.ndarray,
    cs: numpy.ndarray, gates: numpy.ndarray, ms: numpy.ndarray | None, lengths: numpy.ndarray | None,
    reverse: bool,
) -> None: ...
def lstm_cell_backward(
    dx: numpy.ndarray | None, dh: numpy.ndarray, dc: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dw_hr: numpy.ndarray | None, dgates: numpy.ndarray,
    dh_new: numpy.ndarray | None, dc_new: numpy.ndarray | None, x: numpy.ndarray, h: numpy.ndarray, c: numpy.ndarray,
    c_new: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, w_hr: numpy.ndarray | None, gates: numpy.ndarray,
    m: numpy.ndarray | None,
) -> None: ...
def lstm_cell_forward(
    h_new: numpy.ndarray, c_new: numpy.ndarray, gates: numpy.ndarray, m: numpy.ndarray | None, x: numpy.ndarray,
    h: numpy.ndarray, c: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, b_ih: numpy.ndarray | None,
    b_hh: numpy.ndarray | None, w_hr: numpy.ndarray | None,
) -> None: ...
def lstm_forward(
    y: numpy.ndarray, h_n: numpy.ndarray, c_n: numpy.ndarray, hs: numpy.ndarray, cs: numpy.ndarray,
    gates: numpy.ndarray, ms: numpy.ndarray | None, x: numpy.ndarray, h0: numpy.ndarray | None,
    c0: numpy.ndarray | None, w_ih: numpy.ndarray, w_hh: numpy.ndarray, b_ih: numpy.ndarray | None,
    b_hh: numpy.ndarray | None, w_hr: numpy.ndarray | None, lengths: numpy.ndarray | None, reverse: bool,
) -> None: ...

# ---- Elman RNN (csrc/rnn.h)
def rnn_backward(
    dx: numpy.ndarray | None, dh0: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dg: numpy.ndarray, dy: numpy.ndarray | None,
    dh_n: numpy.ndarray | None, x: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, hs: numpy.ndarray,
    lengths: numpy.ndarray | None, relu: bool, reverse: bool,
) -> None: ...
def rnn_cell_backward(
    dx: numpy.ndarray | None, dh: numpy.ndarray, dw_ih: numpy.ndarray, dw_hh: numpy.ndarray,
    db_ih: numpy.ndarray | None, db_hh: numpy.ndarray | None, dg: numpy.ndarray, dh_new: numpy.ndarray,
    x: numpy.ndarray, h: numpy.ndarray, h_new: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray, relu: bool,
) -> None: ...
def rnn_cell_forward(
    h_new: numpy.ndarray, x: numpy.ndarray, h: numpy.ndarray, w_ih: numpy.ndarray, w_hh: numpy.ndarray,
    b_ih: numpy.ndarray | None, b_hh: numpy.ndarray | None, relu: bool,
) -> None: ...
def rnn_forward(
    y: numpy.ndarray, h_n: numpy.ndarray, hs: numpy.ndarray, x: numpy.ndarray, h0: numpy.ndarray | None,
    w_ih: numpy.ndarray, w_hh: numpy.ndarray, b_ih: numpy.ndarray | None, b_hh: numpy.ndarray | None,
    lengths: numpy.ndarray | None, relu: bool, reverse: bool,
) -> None: ...

# ---- CTC: loss (csrc/ctc.h), prefix beam search (csrc/ctc_decode.h), MyTorch's probability-space CTC
# (csrc/ctc_prob.h)
def ctc_beam_search(
    labels: numpy.ndarray, lengths: numpy.ndarray, scores: numpy.ndarray, log_probs: numpy.ndarray,
    input_lengths: numpy.ndarray, blank: int, beam_width: int, top_k: int,
) -> None: ...
def ctc_loss(
    loss: numpy.ndarray, grad: numpy.ndarray | None, log_probs: numpy.ndarray, targets: numpy.ndarray,
    input_lengths: numpy.ndarray, target_lengths: numpy.ndarray, grad_scale: numpy.ndarray | None, blank: int,
    zero_infinity: bool,
) -> None: ...
def ctc_prob_alpha_beta(
    alpha: numpy.ndarray | None, beta: numpy.ndarray | None, gamma: numpy.ndarray | None, y: numpy.ndarray,
    ext: numpy.ndarray, skip: numpy.ndarray,
) -> None: ...
def ctc_prob_loss(
    loss: numpy.ndarray, grad: numpy.ndarray | None, gamma: numpy.ndarray, work: numpy.ndarray, y: numpy.ndarray,
    targets: numpy.ndarray, input_lengths: numpy.ndarray, target_lengths: numpy.ndarray, blank: int,
) -> None: ...
