"""When the kernels cannot take a call, torch's own implementation runs it, with one warning per reason."""
from __future__ import annotations

import threading
import warnings

import torch

_KERNEL_DTYPES = (torch.float32, torch.float64)
_warned: set = set()
_lock = threading.Lock()


class RnnfastFallbackWarning(UserWarning):
    """A call ran on torch's implementation instead of rnnfast's kernels (shown once per reason)."""


def warn_once(reason: str) -> None:
    with _lock:
        if reason in _warned:
            return
        _warned.add(reason)
    warnings.warn(f"rnnfast.torch: {reason}; using torch's implementation for these calls", RnnfastFallbackWarning,
                  stacklevel=3)


def reset_warnings() -> None:
    """Show every fallback warning again the next time its reason occurs."""
    with _lock:
        _warned.clear()


try:
    _is_functorch = torch._C._functorch.is_functorch_wrapped_tensor
except AttributeError:  # pragma: no cover - older torch
    def _is_functorch(t) -> bool:
        return False
try:
    from torch.autograd import forward_ad
    forward_ad._current_level  # noqa: B018
except (ImportError, AttributeError):  # pragma: no cover - older torch
    forward_ad = None
_STRIDED = torch.strided


def reason(tensors, dtype=None) -> str | None:
    """Why the kernels cannot run on ``tensors`` (None entries ignored), or None if they can.

    The kernels take CPU, strided, float32/float64 tensors of one dtype, without forward-mode AD or
    torch.func transforms wrapping them."""
    ts = [t for t in tensors if t is not None]
    if not ts:
        return None
    dt = dtype if dtype is not None else ts[0].dtype
    if dt in _KERNEL_DTYPES and (forward_ad is None or forward_ad._current_level < 0) and all(
            t.is_cpu and t.dtype is dt and t.layout is _STRIDED and not _is_functorch(t) for t in ts):
        return None  # the common case, checked cheaply (this runs on every call)
    for t in ts:
        if t.device.type != "cpu":
            return f"tensors on device '{t.device}' (rnnfast's kernels run on the CPU)"
        if t.layout != torch.strided:
            return f"tensors with layout {t.layout}"
        if _is_functorch(t):
            return "torch.func transforms (vmap/grad/jacrev) wrapping the inputs"
        if t.dtype not in _KERNEL_DTYPES:
            return f"dtype {t.dtype} (rnnfast's kernels take float32 and float64)"
        if t.dtype != dt:
            return f"mixed dtypes {dt} and {t.dtype}"
    if forward_ad is not None and forward_ad._current_level >= 0 and any(
            forward_ad.unpack_dual(t).tangent is not None for t in ts):
        return "forward-mode AD (dual tensors)"
    return None
