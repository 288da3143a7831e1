"""Argument checks of the numba and numpy kernels, mirroring csrc/bindings/: every array must have the
expected dtype, shape, C-contiguous layout and alignment, and outputs must be writeable, so that a
kernel never reads or writes out of bounds (numba does not check indices) whatever the caller passes,
e.g. a cache whose arrays were replaced by smaller ones. The functional layer validates first with
friendlier messages; these checks are the kernels' own last line of defence.

Each ``check_<kernel>`` takes the kernel's own arguments (same names and order as rnnfast._core).
"""
import numpy as np

from .. import _contract


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


# ------------------------------------------------------------------------------ recurrent kernels
def _recurrent_checker(kernel):
    """``check_<kernel>(<its arguments>)`` for one recurrent kernel, generated once from its declaration
    and the checking rules beside it in rnnfast/_contract.py (those tools/gen_bindings.py writes the
    compiled bindings from): sizes read from x and the weights, then every array in declaration order,
    then the no-alias pairs. Generated source, as the contract's allocators: no table walk per call."""
    decl = _contract.KERNELS[kernel]
    flags = {a.name for a in decl if a.role == "flag"}
    lines = [f"def check_{kernel}({', '.join(a.name for a in decl)}):", "    dt = _float(x)"]
    for sym, alts in _contract.size_sources(kernel).items():
        n, i, rank = alts[-1]
        expr = f"_dim({n}, {n!r}, {i}, {rank})"
        for n, i, rank in reversed(alts[:-1]):  # preferred sources, when given
            expr = f"(_dim({n}, {n!r}, {i}, {rank}) if {n} is not None else {expr})"
        lines.append(f"    {sym} = {expr}")
    for cond, given in _contract.CONDITIONS.items():
        if any(a.when == cond for a in decl):
            lines.append(f"    {cond} = {given} is not None")
    for a in decl:
        if a.role == "flag":
            continue
        if a.dtype == "int64":  # lengths
            lines.append(f"    _lengths({a.name}, B, T, {a.name!r})")
            continue
        call = f"arr({a.name}, {a.name!r}, dt, ({', '.join(a.shape)},), out={a.role != 'in'}"
        if a.when in flags:
            lines.append(f"    {call}, optional=not {a.when})")
        elif a.when in _contract.CONDITIONS:
            lines.append(f"    if {a.when}:\n        {call})")
        else:
            lines.append(f"    {call}, optional={a.optional})")
    for o, i in _contract.NO_ALIAS.get(kernel, ()):
        lines.append(f"    if np.may_share_memory({o}, {i}) and {o}.size:\n"
                     f"        raise ValueError({f'{o} must not alias {i}'!r})")
    env = {"np": np, "arr": arr, "_dim": _dim, "_float": _float, "_lengths": _lengths}
    exec(compile("\n".join(lines) + "\n", f"<rnnfast._numpy._check {kernel}>", "exec"), env)  # noqa: S102
    return env[f"check_{kernel}"]


for _k in _contract.recurrent_kernels():
    globals()[f"check_{_k}"] = _recurrent_checker(_k)


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
