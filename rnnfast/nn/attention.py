"""Scaled dot-product causal self-attention over a sequence of states, with an explicit backward
and an incremental ``step`` for generation.

For states h (T, B, D)::

    q = h W_q^T (dk)    k = h W_k^T (dk)    v = h W_v^T (dv)
    a[t, i] = softmax_i( q_t . k_i / sqrt(dk) )  over i <= t   (causal)
    c_t = sum_i a[t, i] v_i                       o_t = c_t W_o^T (D)

``forward(h)`` attends from every step over all previous ones (itself included);
``step(h_t, cache)`` does the same for one new step, appending its key and value to ``cache``.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import as_float_array
from ._module import Module, Parameter

__all__ = ["CausalSelfAttention"]


class CausalSelfAttention(Module):
    def __init__(self, d_model: int, dk: int, dv: int, dtype=np.float32, seed=None):
        super().__init__()
        self.d_model, self.dk, self.dv = int(d_model), int(dk), int(dv)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        u = lambda fan_in, *s: Parameter((rng.uniform(-1, 1, s) / np.sqrt(fan_in)).astype(self.dtype))  # noqa: E731
        self.W_q = u(d_model, dk, d_model)
        self.W_k = u(d_model, dk, d_model)
        self.W_v = u(d_model, dv, d_model)
        self.W_o = u(dv, d_model, dv)
        self._cache = None

    def forward(self, h):
        """h (T, B, D) -> o (T, B, D)."""
        h = as_float_array("h", h, 3, self.dtype)
        T, B, D = h.shape
        if D != self.d_model:
            raise ValueError(f"h: expected d_model={self.d_model} features, got shape {h.shape}")
        hb = h.transpose(1, 0, 2)                                   # (B, T, D)
        q, k, v = hb @ self.W_q.data.T, hb @ self.W_k.data.T, hb @ self.W_v.data.T
        s = (q @ k.transpose(0, 2, 1)) / self.dtype.type(math.sqrt(self.dk))   # (B, T, T)
        s = np.where(np.tril(np.ones((T, T), bool)), s, self.dtype.type(-np.inf))
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = a @ v                                                   # (B, T, dv)
        o = c @ self.W_o.data.T
        self._cache = (hb, q, k, v, a, c)
        return np.ascontiguousarray(o.transpose(1, 0, 2))

    def backward(self, do):
        """do (T, B, D) -> dh (T, B, D); accumulates the four weights' gradients."""
        if self._cache is None:
            raise RuntimeError("CausalSelfAttention.backward called before forward")
        hb, q, k, v, a, c = self._cache
        do = as_float_array("do", do, 3, self.dtype).transpose(1, 0, 2)  # (B, T, D)
        sc = self.dtype.type(1 / math.sqrt(self.dk))
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (B*T, n): weight gradients as one GEMM each
        self.W_o.accumulate(flat(do).T @ flat(c))
        dc = do @ self.W_o.data                                     # (B, T, dv)
        da = dc @ v.transpose(0, 2, 1)                              # (B, T, T)
        dv = a.transpose(0, 2, 1) @ dc                              # (B, T, dv)
        ds = a * (da - (da * a).sum(-1, keepdims=True)) * sc        # softmax backward; masked entries have a = 0
        dq = ds @ k
        dk = ds.transpose(0, 2, 1) @ q
        self.W_q.accumulate(flat(dq).T @ flat(hb))
        self.W_k.accumulate(flat(dk).T @ flat(hb))
        self.W_v.accumulate(flat(dv).T @ flat(hb))
        dh = dq @ self.W_q.data + dk @ self.W_k.data + dv @ self.W_v.data
        return np.ascontiguousarray(dh.transpose(1, 0, 2))

    def step(self, h_t, cache: dict):
        """One new step: h_t (B, D) -> o_t (B, D), attending over the keys and values in ``cache``
        (a dict, empty at the start of a sequence) plus its own, which it appends."""
        h_t = as_float_array("h_t", h_t, 2, self.dtype)
        q = h_t @ self.W_q.data.T
        cache.setdefault("k", []).append(h_t @ self.W_k.data.T)
        cache.setdefault("v", []).append(h_t @ self.W_v.data.T)
        K, V = np.stack(cache["k"], 1), np.stack(cache["v"], 1)    # (B, t, dk), (B, t, dv)
        s = np.einsum("bk,btk->bt", q, K) / self.dtype.type(math.sqrt(self.dk))
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        return np.einsum("bt,btv->bv", a, V) @ self.W_o.data.T

    def extra_repr(self):
        return f"d_model={self.d_model}, dk={self.dk}, dv={self.dv}"
