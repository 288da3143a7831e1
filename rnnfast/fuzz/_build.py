"""Turning a case (a JSON-able description) into the Python values of a call.

A case names its entry point and backend and describes every argument, e.g.::

    {"ep": "functional.gru_forward", "backend": "cpp", "seed": 7,
     "args": {"x": {"shape": [2, 1, 3], "dtype": "float32", "layout": "F", "fill": "normal"},
              "h0": {"value": None}, ...}}

Array values come from a generator seeded by the case seed and the argument's position, so the
same case always builds the same values; the layout only decides how they sit in memory. A
"mutation" turns a valid argument into an invalid one (wrong dtype, shape, type, value).
"""
from __future__ import annotations

import json

import numpy as np

# memory layouts of array arguments
LAYOUTS = ("C", "F", "strided", "negative", "readonly", "misaligned")
# values of float arrays
FILLS = ("normal", "nan", "inf", "-inf", "big", "tiny", "zero")


def _values(rng, d):
    """The array of argument description ``d`` in C order (before layout and mutation)."""
    shape = tuple(d["shape"])
    if "ints" in d:
        lo, hi = d["ints"]
        return rng.integers(lo, hi + 1, size=shape).astype(d.get("dtype", "int64"))
    dt = np.dtype(d["dtype"])
    fill = d.get("fill", "normal")
    kind = d.get("kind", "normal")
    a = rng.standard_normal(shape)
    if kind == "logprob":  # log_softmax over the last axis
        m = a.max(axis=-1, keepdims=True) if a.size else 0
        a = a - m - np.log(np.exp(a - m).sum(axis=-1, keepdims=True)) if a.size else a
    elif kind == "prob":  # softmax over the last axis
        if a.size:
            e = np.exp(a - a.max(axis=-1, keepdims=True))
            a = e / e.sum(axis=-1, keepdims=True)
    elif kind == "weight":
        a = a * 0.5
    if fill == "zero":
        a = np.zeros(shape)
    elif fill == "big":
        a = a * 1e30 if dt == np.float64 else a * 1e30
    elif fill == "tiny":
        a = a * (1e-40 if dt == np.float32 else 1e-310)
    elif fill in ("nan", "inf", "-inf") and a.size:
        special = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[fill]
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 4))] = special
    with np.errstate(over="ignore"):
        return a.astype(dt)


def _layout(a, layout):
    """``a`` with the same values, laid out in memory as ``layout`` says."""
    if layout == "C" or a.ndim == 0:
        return np.ascontiguousarray(a) if layout != "readonly" else _readonly(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":  # every second element of a wider array along the last axis
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if layout == "negative":  # reversed view along the first axis
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "readonly":
        return _readonly(a)
    if layout == "misaligned":  # a view at byte offset 1 of a uint8 buffer
        buf = np.zeros(a.nbytes + 1, np.uint8)
        v = buf[1:].view(a.dtype).reshape(a.shape)
        v[...] = a
        return v
    raise ValueError(f"unknown layout {layout!r}")


def _readonly(a):
    r = np.array(a, copy=True)
    r.flags.writeable = False
    return r


def _mutate(v, mut):
    """An invalid (or unusual) version of the valid value ``v``."""
    if mut == "none":
        return None
    if mut == "str":
        return "abc"
    if mut == "bool_str":
        return "False"
    if mut == "float":
        return 1.5
    if mut == "neg":
        return -1
    if mut == "int32_max":
        return 2 ** 31
    if mut == "int64_over":
        return 2 ** 64 + 1
    if mut == "nan_scalar":
        return float("nan")
    if mut == "zero":
        return 0
    if mut == "list":  # a nested list holding the same values (valid input for array arguments)
        return v.tolist() if isinstance(v, np.ndarray) else [v]
    if mut == "tuple1":
        return (v,)
    if mut == "object":
        return object()
    if not isinstance(v, np.ndarray):
        return v
    if mut.startswith("dtype:"):
        want = mut[6:]
        if want == "other":
            want = "float64" if v.dtype == np.float32 else "float32"
        with np.errstate(invalid="ignore", over="ignore"):
            return v.astype(want)
    if mut == "ndim+1":
        return v[..., None]
    if mut == "ndim-1":
        return v[0] if v.ndim and v.shape[0] else v.reshape(-1)[:0]
    if mut == "dim+1":  # one more element along the first axis
        if v.ndim == 0:
            return v.reshape(1)
        return np.concatenate([v, v[:1] if v.shape[0] else np.zeros((1,) + v.shape[1:], v.dtype)])
    if mut == "dim-1":
        return v[1:] if v.ndim else v
    if mut == "scalar0d":
        return np.asarray(v.reshape(-1)[0] if v.size else 0, v.dtype)
    if mut == "negate":  # integer arrays: out-of-range values
        return -v - 1
    if mut == "plus_big":
        return v + 1000
    if mut == "float_ints":
        return v.astype(np.float64) + 0.5
    if mut == "whole_floats":
        return v.astype(np.float64)
    raise ValueError(f"unknown mutation {mut!r}")


def build_value(d, rng_seed, position, clean=False):
    """The value of argument description ``d``; ``clean`` gives C-contiguous writeable arrays."""
    if "value" in d:
        v = d["value"]
        if "dtype" in d:  # an integer array given by its values
            v = np.asarray(v, d["dtype"])
            v = v if clean else _layout(v, d.get("layout", "C"))
        elif isinstance(v, list) and d.get("tuple"):
            v = tuple(v)
    else:
        rng = np.random.default_rng([rng_seed, position])
        v = _values(rng, d)
        if not clean:
            v = _layout(v, d.get("layout", "C"))
    if d.get("mut"):
        v = _mutate(v, d["mut"])
    return v


def build_args(case, clean=False):
    """``{name: value}`` of the case's arguments."""
    return {name: build_value(d, case["seed"], i, clean) for i, (name, d) in enumerate(case["args"].items())}


def dumps(case) -> str:
    return json.dumps(case, separators=(",", ":"), sort_keys=False)


def describe(case) -> str:
    """A short human-readable account of the unusual parts of a case."""
    parts = []
    for name, d in case["args"].items():
        if "value" in d:
            s = f"{name}={d['value']!r}"
        else:
            s = f"{name}:{d.get('dtype', 'int64')}{tuple(d['shape'])}"
            extra = [x for x in (d.get("layout", "C"), d.get("fill", "normal")) if x not in ("C", "normal")]
            if "ints" in d:
                extra.append(f"in[{d['ints'][0]},{d['ints'][1]}]")
            if extra:
                s += "[" + ",".join(extra) + "]"
        if d.get("mut"):
            s += f"<{d['mut']}>"
        parts.append(s)
    return ", ".join(parts)
