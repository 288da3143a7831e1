"""Weight initialisers, in place, with PyTorch's formulas (``torch.nn.init``) and an explicit RNG.

Every function takes a NumPy array or a parameter (anything with a ``.data`` array), fills it in
place keeping its dtype, and returns the array. Randomness comes from ``rng``, a
``numpy.random.Generator`` (``np.random.default_rng(seed)``); passing the same generator state
reproduces the same weights. ``rng=None`` uses a fresh unseeded generator.

The PyTorch-default initialisers of layers are :func:`linear_default_`, :func:`embedding_default_`
and :func:`rnn_default_`.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

import numpy as np

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "linear_default_", "embedding_default_", "rnn_default_",
]


def _array(tensor, name: str = "tensor") -> np.ndarray:
    a = tensor if isinstance(tensor, np.ndarray) else getattr(tensor, "data", tensor)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array or a parameter with a .data array, got {type(tensor).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype, got {a.dtype}")
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return a


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """Recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor) -> tuple:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as PyTorch computes them."""
    a = _array(tensor)
    if a.ndim < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {a.shape}")
    receptive = int(np.prod(a.shape[2:])) if a.ndim > 2 else 1
    return a.shape[1] * receptive, a.shape[0] * receptive


def _fan(a, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(a)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, *, rng=None) -> np.ndarray:
    """Fill with U(a, b)."""
    arr = _array(tensor)
    arr[...] = _rng(rng).uniform(a, b, size=arr.shape)
    return arr


def normal_(tensor, mean: float = 0.0, std: float = 1.0, *, rng=None) -> np.ndarray:
    """Fill with N(mean, std^2)."""
    arr = _array(tensor)
    arr[...] = _rng(rng).normal(mean, std, size=arr.shape)
    return arr


def constant_(tensor, val: float) -> np.ndarray:
    arr = _array(tensor)
    arr[...] = val
    return arr


def zeros_(tensor) -> np.ndarray:
    return constant_(tensor, 0.0)


def ones_(tensor) -> np.ndarray:
    return constant_(tensor, 1.0)


def eye_(tensor) -> np.ndarray:
    """Identity matrix (2-D only)."""
    arr = _array(tensor)
    if arr.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D array, got shape {arr.shape}")
    arr[...] = np.eye(*arr.shape)
    return arr


def xavier_uniform_(tensor, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, rng=rng)


def xavier_normal_(tensor, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), rng=rng)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                     rng=None) -> np.ndarray:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    arr = _array(tensor)
    if 0 in arr.shape:
        return arr
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(arr, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(arr, -bound, bound, rng=rng)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                    rng=None) -> np.ndarray:
    """N(0, std^2) with std = gain / sqrt(fan)."""
    arr = _array(tensor)
    if 0 in arr.shape:
        return arr
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(arr, mode))
    return normal_(arr, 0.0, std, rng=rng)


def orthogonal_(tensor, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """(Semi-)orthogonal matrix (Saxe et al., 2013), as ``torch.nn.init.orthogonal_``.

    The array is viewed as (rows = shape[0], cols = size // rows); the rows (if rows <= cols) or
    the columns are orthonormal, times ``gain``. Sign-corrected QR of a Gaussian matrix, so the
    result is uniformly (Haar) distributed.
    """
    arr = _array(tensor)
    if arr.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {arr.shape}")
    if arr.size == 0:
        return arr
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _rng(rng).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    arr[...] = (gain * q).reshape(arr.shape)
    return arr


# ------------------------------------------------------------------ PyTorch's layer defaults
def linear_default_(weight, bias=None, *, rng=None) -> None:
    """``torch.nn.Linear.reset_parameters``: weight U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with
    a=sqrt(5)), bias U(-1/sqrt(in), 1/sqrt(in)). ``weight`` has shape (out, in)."""
    rng = _rng(rng)
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, rng=rng)


def embedding_default_(weight, padding_idx: Optional[int] = None, *, rng=None) -> None:
    """``torch.nn.Embedding.reset_parameters``: N(0, 1), the padding row zeroed."""
    arr = normal_(weight, 0.0, 1.0, rng=rng)
    if padding_idx is not None:
        arr[padding_idx] = 0


def rnn_default_(params: Iterable, hidden_size: int, *, rng=None) -> None:
    """``torch.nn.RNNBase.reset_parameters``: every weight and bias U(-1/sqrt(H), 1/sqrt(H)),
    filled in the order given (PyTorch's order: per layer and direction w_ih, w_hh, b_ih, b_hh)."""
    if hidden_size <= 0:
        raise ValueError(f"hidden_size must be positive, got {hidden_size}")
    rng = _rng(rng)
    k = 1.0 / math.sqrt(hidden_size)
    for p in params:
        uniform_(p, -k, k, rng=rng)
