"""Feed-forward layers on NumPy arrays with explicit backward passes and PyTorch's parameter
names and initialisation: Linear, Embedding, Dropout, ReLU, Tanh, Sigmoid, LogSoftmax, Softmax.

Each layer: ``y = layer(x)`` (``forward``), ``dx = layer.backward(dy)`` for the most recent
forward; parameter gradients accumulate into ``p.grad`` until ``zero_grad()``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .._validate import as_float_array
from ._args import bool_arg, dropout_mask, dtype_arg, prob_arg
from ._module import Module, Parameter

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

__all__ = ["Linear", "Embedding", "Dropout", "ReLU", "Tanh", "Sigmoid", "LogSoftmax", "Softmax"]

_dtype = dtype_arg


def _fortran_operand(x: np.ndarray):
    """(array, trans) with op(array) == x and array Fortran-contiguous, without a copy if x is
    C- or Fortran-contiguous (the BLAS wrapper copies anything else)."""
    if x.flags.f_contiguous:
        return x, 0
    if x.flags.c_contiguous:
        return x.T, 1
    return np.asfortranarray(x), 0


def blas_matmul(a: np.ndarray, b: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``a @ b`` for 2-D float32/float64 arrays through SciPy's BLAS, the BLAS (and thread pool)
    that rnnfast's compiled kernels use; NumPy's ``@`` calls NumPy's own OpenBLAS, a second thread
    pool whose idle threads spin beside the first one's.

    a (m, k), b (k, n): C- or Fortran-contiguous, transposed views included (no copies then).
    out: optional C-contiguous (m, n) array of the same dtype, written in place. Returns the
    (m, n) product (``out`` if given, else a new C-contiguous array)."""
    from scipy.linalg import blas

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"blas_matmul: shapes {a.shape} and {b.shape} do not chain")
    if a.dtype != b.dtype or a.dtype not in _FLOATS:
        raise TypeError(f"blas_matmul: expected two float32 or two float64 arrays, got {a.dtype} and {b.dtype}")
    gemm = blas.sgemm if a.dtype == np.float32 else blas.dgemm
    if a.shape[0] == 0 or b.shape[1] == 0 or a.shape[1] == 0:
        r = np.zeros((a.shape[0], b.shape[1]), a.dtype)
        if out is None:
            return r
        out[...] = r
        return out
    # C = a b in C order is C^T = b^T a^T in Fortran order
    fa, ta = _fortran_operand(b.T)
    fb, tb = _fortran_operand(a.T)
    if out is None:
        return gemm(1.0, fa, fb, trans_a=ta, trans_b=tb).T
    if out.shape != (a.shape[0], b.shape[1]) or out.dtype != a.dtype or not out.flags.c_contiguous:
        raise ValueError(f"blas_matmul: out must be C-contiguous {(a.shape[0], b.shape[1])} {a.dtype}, got "
                         f"{out.shape} {out.dtype}")
    c = gemm(1.0, fa, fb, beta=0.0, c=out.T, trans_a=ta, trans_b=tb, overwrite_c=1)
    if not np.shares_memory(c, out):  # the wrapper made a copy after all
        out[...] = c.T
    return out


def scatter_add_rows_(g: np.ndarray, ids: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``g[ids[i]] += dy[i]`` for every i, repeated ids summed (``np.add.at(g, ids, dy)``), IN PLACE.

    Sorts the ids once and sums each id's rows with one ``np.add.reduceat``: rows of the same id
    are added in their original order, and each row of ``g`` is touched once, where
    ``np.add.at`` makes one small indexed update per row of ``dy``.

    g (V, D); ids (N,) integers in [0, V); dy (N, D) of g's dtype. Returns g."""
    ids = np.asarray(ids).reshape(-1)
    if ids.size == 0:
        return g
    dy = dy.reshape(ids.size, -1)
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    g[s[starts]] += np.add.reduceat(dy[order], starts, axis=0)
    return g


def _need(cache, who):
    if cache is None:
        raise RuntimeError(f"{who}.backward called before forward")
    return cache


class Linear(Module):
    """``y = x W^T + b`` over the last dimension: x (..., in_features) -> (..., out_features).
    ``weight`` (out, in) and ``bias`` (out,) initialised as torch (uniform in +-1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, seed=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.dtype = _dtype(dtype)
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(rng.uniform(-k, k, (out_features, in_features)).astype(self.dtype))
        if bool_arg("bias", bias):
            self.bias = Parameter(rng.uniform(-k, k, out_features).astype(self.dtype))
        else:
            self.register_parameter("bias", None)
        self._x = None

    def forward(self, x):
        x = as_float_array("x", x, None, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected in_features={self.in_features} in its last dimension, got shape {x.shape}")
        self._x = x
        y = x @ self.weight.data.T
        return y + self.bias.data if self.bias is not None else y

    def backward(self, dy):
        x = _need(self._x, "Linear")
        dy = as_float_array("dy", dy, None, self.dtype)
        if dy.shape != x.shape[:-1] + (self.out_features,):
            raise ValueError(f"dy: expected shape {x.shape[:-1] + (self.out_features,)}, got {dy.shape}")
        d2, x2 = dy.reshape(-1, self.out_features), x.reshape(-1, self.in_features)
        self.weight.accumulate(d2.T @ x2)
        if self.bias is not None:
            self.bias.accumulate(d2.sum(0))
        return dy @ self.weight.data

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Lookup ``weight[ids]``: ids (...) ints -> (..., embedding_dim). ``weight`` ~ N(0, 1) as
    torch; the ``padding_idx`` row is zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None, dtype=np.float32,
                 seed=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must be in [-{num_embeddings}, {num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.dtype = _dtype(dtype)
        w = np.random.default_rng(seed).standard_normal((num_embeddings, embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)
        self._ids = None

    def forward(self, ids):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids: expected integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"ids: every index must be in [0, {self.num_embeddings}), got min {ids.min()}, "
                             f"max {ids.max()}")
        self._ids = ids
        return self.weight.data[ids]

    def backward(self, dy):
        ids = _need(self._ids, "Embedding")
        dy = as_float_array("dy", dy, None, self.dtype)
        if dy.shape != ids.shape + (self.embedding_dim,):
            raise ValueError(f"dy: expected shape {ids.shape + (self.embedding_dim,)}, got {dy.shape}")
        g = scatter_add_rows_(np.zeros_like(self.weight.data), ids, dy)
        if self.padding_idx is not None:
            g[self.padding_idx] = 0
        self.weight.accumulate(g)
        return None  # integer input: no gradient

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training mode and scales the rest by
    1/(1-p); the identity in eval mode. Masks come from a seeded Generator."""

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__()
        self.p = prob_arg("p", p)
        self._rng = np.random.default_rng(seed)
        self._mask = None

    def forward(self, x):
        x = as_float_array("x", x)
        if not self.training or self.p == 0:
            self._mask = None
            return x
        self._mask = dropout_mask(self._rng, x.shape, self.p, x.dtype)
        return x * self._mask

    def backward(self, dy):
        dy = as_float_array("dy", dy)
        return dy if self._mask is None else dy * self._mask

    def extra_repr(self):
        return f"p={self.p}"


class _Elementwise(Module):
    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        self._y = self._f(as_float_array("x", x))
        return self._y

    def backward(self, dy):
        y = _need(self._y, type(self).__name__)
        dy = as_float_array("dy", dy, None, y.dtype)
        if dy.shape != y.shape:
            raise ValueError(f"dy: expected shape {y.shape}, got {dy.shape}")
        return self._df(dy, y)


class ReLU(_Elementwise):
    @staticmethod
    def _f(x):
        return np.maximum(x, 0)

    @staticmethod
    def _df(dy, y):
        return dy * (y > 0)


class Tanh(_Elementwise):
    @staticmethod
    def _f(x):
        return np.tanh(x)

    @staticmethod
    def _df(dy, y):
        return dy * (1 - y * y)


class Sigmoid(_Elementwise):
    @staticmethod
    def _f(x):
        return 0.5 * np.tanh(0.5 * x) + 0.5  # = 1/(1+exp(-x)) without overflow

    @staticmethod
    def _df(dy, y):
        return dy * y * (1 - y)


def log_softmax(x, axis=-1):
    """Stable log-softmax in x's dtype."""
    m = np.max(x, axis=axis, keepdims=True)
    z = x - np.where(np.isfinite(m), m, 0)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


class LogSoftmax(Module):
    """``log_softmax`` over ``dim``; backward ``dy - softmax * sum(dy)``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim
        self._y = None

    def forward(self, x):
        self._y = log_softmax(as_float_array("x", x), self.dim)
        return self._y

    def backward(self, dy):
        y = _need(self._y, "LogSoftmax")
        dy = as_float_array("dy", dy, None, y.dtype)
        return dy - np.exp(y) * dy.sum(axis=self.dim, keepdims=True)


class Softmax(Module):
    """``softmax`` over ``dim``; backward ``y * (dy - sum(dy * y))``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim
        self._y = None

    def forward(self, x):
        self._y = np.exp(log_softmax(as_float_array("x", x), self.dim))
        return self._y

    def backward(self, dy):
        y = _need(self._y, "Softmax")
        dy = as_float_array("dy", dy, None, y.dtype)
        return y * (dy - (dy * y).sum(axis=self.dim, keepdims=True))
