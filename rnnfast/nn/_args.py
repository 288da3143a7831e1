"""Constructor-argument checks of the modules, following torch's rules and naming the argument."""
from __future__ import annotations

import dataclasses
import math
import numbers
import os

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def dtype_arg(dtype, name: str = "dtype") -> np.dtype:
    """float32 or float64 as NumPy's canonical dtype object (TypeError otherwise)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return np.dtype(dt.type)


def int_arg(name: str, v, lo: int) -> int:
    """An integer >= lo (TypeError for a non-integer such as 1.5, "3" or True, ValueError below lo)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v}")
    return int(v)


def bool_arg(name: str, v) -> bool:
    """A flag: True or False only (``bias="False"`` would otherwise mean True)."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {type(v).__name__} {v!r}")
    return bool(v)


def prob_arg(name: str, v) -> float:
    """A probability in [0, 1] (1 included, as torch)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(v).__name__} {v!r}")
    if not 0.0 <= float(v) <= 1.0 or math.isnan(float(v)):
        raise ValueError(f"{name} must be in [0, 1] (the probability of zeroing an element), got {v}")
    return float(v)


def dropout_mask(rng, shape, p: float, dtype) -> np.ndarray:
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p); all zeros for p = 1 (as torch)."""
    keep = 1.0 - p
    if keep <= 0.0:
        return np.zeros(shape, dtype)
    return (rng.random(shape) < keep).astype(dtype) / np.dtype(dtype).type(keep)


def _available_bytes() -> int:
    """Memory a new allocation can get without swapping: MemAvailable (Linux), else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 50


def check_parameter_bytes(who: str, n_elements: int, dtype) -> None:
    """MemoryError naming the sizes when the parameters would not fit in the memory available now
    (checked before allocating: a huge ``num_layers`` would otherwise allocate layer after layer, and a
    module whose parameters nearly fill the machine would be killed by the kernel's out-of-memory
    handler, or swap for minutes, instead of raising). Counted: each parameter in its dtype plus the
    float64 draw it is initialised from (its gradient, allocated later, takes no more than that draw)."""
    need = int(n_elements) * (np.dtype(dtype).itemsize + 8)
    have = _available_bytes()
    if need > have:
        raise MemoryError(f"{who}: the parameters would need {need / 2**30:.3g} GiB (with their initial draw), more "
                          f"than the {have / 2**30:.3g} GiB of memory available")


def allocating(who: str):
    """Context manager turning NumPy's allocation failures for huge sizes into a MemoryError that
    names the module and its sizes."""
    return _Allocating(who)


class _Allocating:
    def __init__(self, who):
        self.who = who

    def __enter__(self):
        return self

    def __exit__(self, et, e, tb):
        if et is not None and issubclass(et, (MemoryError, ValueError)) and not str(e).startswith(self.who):
            raise MemoryError(f"{self.who}: cannot allocate the parameters ({e})") from None
        return False


def canonical(a):
    """``a`` with NumPy's canonical dtype object (an unpickled array carries an equal but distinct
    one, which compiled kernels comparing dtypes by identity would refuse)."""
    if isinstance(a, np.ndarray) and a.dtype.isnative and a.dtype.kind in "fiub":
        return a.view(np.dtype(a.dtype.type))
    if isinstance(a, np.dtype) and a.isnative and a.kind in "fiub":
        return np.dtype(a.type)
    if isinstance(a, dict):  # e.g. the cache of a forward pass awaiting its backward
        return type(a)((k, canonical(v)) for k, v in a.items())
    if isinstance(a, (list, tuple)) and type(a) in (list, tuple):
        return type(a)(canonical(v) for v in a)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            setattr(a, f.name, canonical(getattr(a, f.name)))
    return a
