"""Argument checks of the numba and numpy kernels, mirroring csrc/bindings/: every array must have the
expected dtype, shape, C-contiguous layout and alignment, and outputs must be writeable, so that a
kernel never reads or writes out of bounds (numba does not check indices) whatever the caller passes,
e.g. a cache whose arrays were replaced by smaller ones. The functional layer validates first with
friendlier messages; these checks are the kernels' own last line of defence.

Each ``check_<kernel>`` takes the kernel's own arguments (same names and order as rnnfast._core).
"""
import numpy as np


def _shape_str(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + (",)" if len(shape) == 1 else ")")


def arr(a, name, dtype, shape, out=False, optional=False):
    """Check one array argument (None allowed when optional)."""
    if a is None:
        if optional:
            return
        raise ValueError(f"{name} must be an array, got None")
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != tuple(int(s) for s in shape):
        raise ValueError(f"{name}: expected shape {_shape_str(shape)}, got {_shape_str(a.shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not a.flags.aligned:
        raise ValueError(f"{name}: array data is not aligned to {a.dtype.itemsize} bytes (a view at an odd byte "
                         f"offset of a buffer); pass an aligned copy, e.g. np.array({name}, copy=True)")
    if out and not a.flags.writeable:
        raise ValueError(f"{name} is read-only")


def _dim(a, name, i, ndim):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {_shape_str(a.shape)}")
    return a.shape[i]


def _float(x):
    dt = x.dtype if isinstance(x, np.ndarray) else None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"x: expected float32 or float64, got {dt}")
    return dt


def _lengths(lengths, B, T, name="lengths"):
    arr(lengths, name, np.int64, (B,), optional=True)
    if lengths is not None and B and (lengths.min() < 0 or lengths.max() > T):
        b = int(np.argmax((lengths < 0) | (lengths > T)))
        raise ValueError(f"{name}[{b}] = {int(lengths[b])} is outside [0, T={T}]")


def _seq_dims(x, w_hh):
    T, B, I = (_dim(x, "x", i, 3) for i in range(3))
    return T, B, I, _dim(w_hh, "w_hh", 1, 2)


# ------------------------------------------------------------------------------------------ GRU
def check_gru_forward(y, h_n, hs, gates, hn, gh, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after, reverse):
    dt = _float(x)
    T, B, I, H = _seq_dims(x, w_hh)
    for a, n, s in ((y, "y", (T, B, H)), (h_n, "h_n", (B, H)), (hs, "hs", (T + 1, B, H)),
                    (gates, "gates", (T, B, 3 * H)), (hn, "hn", (T, B, H)), (gh, "gh", (B, 3 * H))):
        arr(a, n, dt, s, out=True)
    arr(x, "x", dt, (T, B, I))
    arr(h0, "h0", dt, (B, H), optional=True)
    arr(w_ih, "w_ih", dt, (3 * H, I))
    arr(w_hh, "w_hh", dt, (3 * H, H))
    arr(b_ih, "b_ih", dt, (3 * H,), optional=True)
    arr(b_hh, "b_hh", dt, (3 * H,), optional=True)
    _lengths(lengths, B, T)


def check_gru_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dy, dh_n, x, w_ih, w_hh, hs, gates, hn,
                       lengths, reset_after, reverse):
    dt = _float(x)
    T, B, I, H = _seq_dims(x, w_hh)
    arr(dx, "dx", dt, (T, B, I), out=True, optional=True)
    for a, n, s, opt in ((dh0, "dh0", (B, H), False), (dw_ih, "dw_ih", (3 * H, I), False),
                         (dw_hh, "dw_hh", (3 * H, H), False), (db_ih, "db_ih", (3 * H,), True),
                         (db_hh, "db_hh", (3 * H,), True), (dgx, "dgx", (T, B, 3 * H), False),
                         (dgh, "dgh", (T, B, 3 * H), not reset_after), (dtmp, "dtmp", (B, H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    arr(dy, "dy", dt, (T, B, H), optional=True)
    arr(dh_n, "dh_n", dt, (B, H), optional=True)
    for a, n, s in ((x, "x", (T, B, I)), (w_ih, "w_ih", (3 * H, I)), (w_hh, "w_hh", (3 * H, H)),
                    (hs, "hs", (T + 1, B, H)), (gates, "gates", (T, B, 3 * H)), (hn, "hn", (T, B, H))):
        arr(a, n, dt, s)
    _lengths(lengths, B, T)


def check_gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after):
    dt = _float(x)
    B, I, H = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2), _dim(w_hh, "w_hh", 1, 2)
    for a, n, s in ((h_new, "h_new", (B, H)), (gates, "gates", (B, 3 * H)), (hn, "hn", (B, H)), (gh, "gh", (B, 3 * H))):
        arr(a, n, dt, s, out=True)
    for a, n, s in ((x, "x", (B, I)), (h, "h", (B, H)), (w_ih, "w_ih", (3 * H, I)), (w_hh, "w_hh", (3 * H, H))):
        arr(a, n, dt, s)
    arr(b_ih, "b_ih", dt, (3 * H,), optional=True)
    arr(b_hh, "b_hh", dt, (3 * H,), optional=True)
    if np.may_share_memory(h_new, h) and h_new.size:
        raise ValueError("h_new must not alias h")


def check_gru_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, dh_new, x, h, w_ih, w_hh, gates, hn,
                            reset_after):
    dt = _float(x)
    B, I, H = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2), _dim(w_hh, "w_hh", 1, 2)
    arr(dx, "dx", dt, (B, I), out=True, optional=True)
    for a, n, s, opt in ((dh, "dh", (B, H), False), (dw_ih, "dw_ih", (3 * H, I), False),
                         (dw_hh, "dw_hh", (3 * H, H), False), (db_ih, "db_ih", (3 * H,), True),
                         (db_hh, "db_hh", (3 * H,), True), (dgx, "dgx", (B, 3 * H), False),
                         (dgh, "dgh", (B, 3 * H), not reset_after), (dtmp, "dtmp", (B, H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    for a, n, s in ((dh_new, "dh_new", (B, H)), (x, "x", (B, I)), (h, "h", (B, H)), (w_ih, "w_ih", (3 * H, I)),
                    (w_hh, "w_hh", (3 * H, H)), (gates, "gates", (B, 3 * H)), (hn, "hn", (B, H))):
        arr(a, n, dt, s)


# ----------------------------------------------------------------------------------------- LSTM
def _lstm_sizes(w_hh, w_hr):
    if w_hr is None:
        H = _dim(w_hh, "w_hh", 1, 2)
        return H, H
    return _dim(w_hr, "w_hr", 1, 2), _dim(w_hr, "w_hr", 0, 2)  # H, P


def check_lstm_forward(y, h_n, c_n, hs, cs, gates, ms, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
    dt = _float(x)
    T, B, I = (_dim(x, "x", i, 3) for i in range(3))
    H, P = _lstm_sizes(w_hh, w_hr)
    proj = w_hr is not None
    for a, n, s in ((y, "y", (T, B, P)), (h_n, "h_n", (B, P)), (c_n, "c_n", (B, H)), (hs, "hs", (T + 1, B, P)),
                    (cs, "cs", (T + 1, B, H)), (gates, "gates", (T, B, 4 * H))):
        arr(a, n, dt, s, out=True)
    if proj:
        arr(ms, "ms", dt, (T, B, H), out=True)
    arr(x, "x", dt, (T, B, I))
    arr(h0, "h0", dt, (B, P), optional=True)
    arr(c0, "c0", dt, (B, H), optional=True)
    arr(w_ih, "w_ih", dt, (4 * H, I))
    arr(w_hh, "w_hh", dt, (4 * H, P))
    arr(b_ih, "b_ih", dt, (4 * H,), optional=True)
    arr(b_hh, "b_hh", dt, (4 * H,), optional=True)
    arr(w_hr, "w_hr", dt, (P, H), optional=True)
    _lengths(lengths, B, T)


def check_lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dhs, dy, dh_n, dc_n, x, w_ih, w_hh,
                        w_hr, hs, cs, gates, ms, lengths, reverse):
    dt = _float(x)
    T, B, I = (_dim(x, "x", i, 3) for i in range(3))
    H, P = _lstm_sizes(w_hh, w_hr)
    proj = w_hr is not None
    arr(dx, "dx", dt, (T, B, I), out=True, optional=True)
    for a, n, s, opt in ((dh0, "dh0", (B, P), False), (dc0, "dc0", (B, H), False), (dw_ih, "dw_ih", (4 * H, I), False),
                         (dw_hh, "dw_hh", (4 * H, P), False), (db_ih, "db_ih", (4 * H,), True),
                         (db_hh, "db_hh", (4 * H,), True), (dgates, "dgates", (T, B, 4 * H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    if proj:
        arr(dw_hr, "dw_hr", dt, (P, H), out=True)
        arr(dhs, "dhs", dt, (T, B, P), out=True)
        arr(ms, "ms", dt, (T, B, H))
    arr(dy, "dy", dt, (T, B, P), optional=True)
    arr(dh_n, "dh_n", dt, (B, P), optional=True)
    arr(dc_n, "dc_n", dt, (B, H), optional=True)
    for a, n, s in ((x, "x", (T, B, I)), (w_ih, "w_ih", (4 * H, I)), (w_hh, "w_hh", (4 * H, P)),
                    (hs, "hs", (T + 1, B, P)), (cs, "cs", (T + 1, B, H)), (gates, "gates", (T, B, 4 * H))):
        arr(a, n, dt, s)
    arr(w_hr, "w_hr", dt, (P, H), optional=True)
    _lengths(lengths, B, T)


def check_lstm_cell_forward(h_new, c_new, gates, m, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
    dt = _float(x)
    B, I = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2)
    H, P = _lstm_sizes(w_hh, w_hr)
    for a, n, s in ((h_new, "h_new", (B, P)), (c_new, "c_new", (B, H)), (gates, "gates", (B, 4 * H))):
        arr(a, n, dt, s, out=True)
    if w_hr is not None:
        arr(m, "m", dt, (B, H), out=True)
    for a, n, s in ((x, "x", (B, I)), (h, "h", (B, P)), (c, "c", (B, H)), (w_ih, "w_ih", (4 * H, I)),
                    (w_hh, "w_hh", (4 * H, P))):
        arr(a, n, dt, s)
    arr(b_ih, "b_ih", dt, (4 * H,), optional=True)
    arr(b_hh, "b_hh", dt, (4 * H,), optional=True)
    arr(w_hr, "w_hr", dt, (P, H), optional=True)
    if np.may_share_memory(h_new, h) and h_new.size:
        raise ValueError("h_new must not alias h")
    if np.may_share_memory(c_new, c) and c_new.size:
        raise ValueError("c_new must not alias c")


def check_lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dgates, dh_new, dc_new, x, h, c, c_new,
                             w_ih, w_hh, w_hr, gates, m):
    dt = _float(x)
    B, I = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2)
    H, P = _lstm_sizes(w_hh, w_hr)
    arr(dx, "dx", dt, (B, I), out=True, optional=True)
    for a, n, s, opt in ((dh, "dh", (B, P), False), (dc, "dc", (B, H), False), (dw_ih, "dw_ih", (4 * H, I), False),
                         (dw_hh, "dw_hh", (4 * H, P), False), (db_ih, "db_ih", (4 * H,), True),
                         (db_hh, "db_hh", (4 * H,), True), (dgates, "dgates", (B, 4 * H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    if w_hr is not None:
        arr(dw_hr, "dw_hr", dt, (P, H), out=True)
        arr(m, "m", dt, (B, H))
    arr(dh_new, "dh_new", dt, (B, P), optional=True)
    arr(dc_new, "dc_new", dt, (B, H), optional=True)
    for a, n, s in ((x, "x", (B, I)), (h, "h", (B, P)), (c, "c", (B, H)), (c_new, "c_new", (B, H)),
                    (w_ih, "w_ih", (4 * H, I)), (w_hh, "w_hh", (4 * H, P)), (gates, "gates", (B, 4 * H))):
        arr(a, n, dt, s)
    arr(w_hr, "w_hr", dt, (P, H), optional=True)


# ------------------------------------------------------------------------------------------ RNN
def check_rnn_forward(y, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, relu, reverse):
    dt = _float(x)
    T, B, I, H = _seq_dims(x, w_hh)
    for a, n, s in ((y, "y", (T, B, H)), (h_n, "h_n", (B, H)), (hs, "hs", (T + 1, B, H))):
        arr(a, n, dt, s, out=True)
    for a, n, s in ((x, "x", (T, B, I)), (w_ih, "w_ih", (H, I)), (w_hh, "w_hh", (H, H))):
        arr(a, n, dt, s)
    arr(h0, "h0", dt, (B, H), optional=True)
    arr(b_ih, "b_ih", dt, (H,), optional=True)
    arr(b_hh, "b_hh", dt, (H,), optional=True)
    _lengths(lengths, B, T)


def check_rnn_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dg, dy, dh_n, x, w_ih, w_hh, hs, lengths, relu, reverse):
    dt = _float(x)
    T, B, I, H = _seq_dims(x, w_hh)
    arr(dx, "dx", dt, (T, B, I), out=True, optional=True)
    for a, n, s, opt in ((dh0, "dh0", (B, H), False), (dw_ih, "dw_ih", (H, I), False), (dw_hh, "dw_hh", (H, H), False),
                         (db_ih, "db_ih", (H,), True), (db_hh, "db_hh", (H,), True), (dg, "dg", (T, B, H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    arr(dy, "dy", dt, (T, B, H), optional=True)
    arr(dh_n, "dh_n", dt, (B, H), optional=True)
    for a, n, s in ((x, "x", (T, B, I)), (w_ih, "w_ih", (H, I)), (w_hh, "w_hh", (H, H)), (hs, "hs", (T + 1, B, H))):
        arr(a, n, dt, s)
    _lengths(lengths, B, T)


def check_rnn_cell_forward(h_new, x, h, w_ih, w_hh, b_ih, b_hh, relu):
    dt = _float(x)
    B, I, H = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2), _dim(w_hh, "w_hh", 1, 2)
    arr(h_new, "h_new", dt, (B, H), out=True)
    for a, n, s in ((x, "x", (B, I)), (h, "h", (B, H)), (w_ih, "w_ih", (H, I)), (w_hh, "w_hh", (H, H))):
        arr(a, n, dt, s)
    arr(b_ih, "b_ih", dt, (H,), optional=True)
    arr(b_hh, "b_hh", dt, (H,), optional=True)
    if np.may_share_memory(h_new, h) and h_new.size:
        raise ValueError("h_new must not alias h")


def check_rnn_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dg, dh_new, x, h, h_new, w_ih, w_hh, relu):
    dt = _float(x)
    B, I, H = _dim(x, "x", 0, 2), _dim(x, "x", 1, 2), _dim(w_hh, "w_hh", 1, 2)
    arr(dx, "dx", dt, (B, I), out=True, optional=True)
    for a, n, s, opt in ((dh, "dh", (B, H), False), (dw_ih, "dw_ih", (H, I), False), (dw_hh, "dw_hh", (H, H), False),
                         (db_ih, "db_ih", (H,), True), (db_hh, "db_hh", (H,), True), (dg, "dg", (B, H), False)):
        arr(a, n, dt, s, out=True, optional=opt)
    for a, n, s in ((dh_new, "dh_new", (B, H)), (x, "x", (B, I)), (h, "h", (B, H)), (h_new, "h_new", (B, H)),
                    (w_ih, "w_ih", (H, I)), (w_hh, "w_hh", (H, H))):
        arr(a, n, dt, s)


# ------------------------------------------------------------------------------------------ CTC
def check_ctc_loss(loss, grad, log_probs, targets, input_lengths, target_lengths, grad_scale, blank, zero_infinity):
    dt = log_probs.dtype if isinstance(log_probs, np.ndarray) else None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"log_probs: expected float32 or float64, got {dt}")
    T, B, C = (_dim(log_probs, "log_probs", i, 3) for i in range(3))
    Smax = _dim(targets, "targets", 1, 2)
    if not 0 <= int(blank) < C:
        raise ValueError(f"blank = {int(blank)} is outside [0, C={C})")
    arr(loss, "loss", dt, (B,), out=True)
    arr(grad, "grad", dt, (T, B, C), out=True, optional=True)
    arr(log_probs, "log_probs", dt, (T, B, C))
    arr(targets, "targets", np.int64, (B, Smax))
    arr(grad_scale, "grad_scale", dt, (B,), optional=True)
    _lengths(input_lengths, B, T, "input_lengths")
    arr(input_lengths, "input_lengths", np.int64, (B,))
    arr(target_lengths, "target_lengths", np.int64, (B,))
    if B and (target_lengths.min() < 0 or target_lengths.max() > Smax):
        b = int(np.argmax((target_lengths < 0) | (target_lengths > Smax)))
        raise ValueError(f"target_lengths[{b}] = {int(target_lengths[b])} is outside [0, S={Smax}]")
    used = np.arange(Smax)[None, :] < target_lengths[:, None]
    bad = used & ((targets < 0) | (targets >= C) | (targets == blank))
    if bad.any():
        b, i = map(int, np.argwhere(bad)[0])
        raise ValueError(f"targets[{b}, {i}] = {int(targets[b, i])}: labels must be in [0, C={C}) and differ from "
                         f"blank={int(blank)}")


def check_ctc_beam_search(labels, lengths, scores, log_probs, input_lengths, blank, beam_width, top_k):
    dt = log_probs.dtype if isinstance(log_probs, np.ndarray) else None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"log_probs: expected float32 or float64, got {dt}")
    T, B, C = (_dim(log_probs, "log_probs", i, 3) for i in range(3))
    if not 0 <= int(blank) < C:
        raise ValueError(f"blank = {int(blank)} is outside [0, C={C})")
    if int(beam_width) < 1 or int(top_k) < 1:
        raise ValueError(f"beam_width and top_k must be >= 1, got {int(beam_width)}, {int(top_k)}")
    arr(labels, "labels", np.int64, (B, top_k, T), out=True)
    arr(lengths, "lengths", np.int64, (B, top_k), out=True)
    arr(scores, "scores", dt, (B, top_k), out=True)
    arr(log_probs, "log_probs", dt, (T, B, C))
    arr(input_lengths, "input_lengths", np.int64, (B,))
    _lengths(input_lengths, B, T, "input_lengths")
