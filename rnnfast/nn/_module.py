"""Module and Parameter: the PyTorch-like object model of rnnfast.nn, on NumPy arrays.

A :class:`Parameter` holds ``.data`` (the array, updated in place by optimisers) and ``.grad``
(None until a backward pass; backward passes ACCUMULATE into it until ``zero_grad()``).
A :class:`Module` registers the Parameters and sub-Modules assigned to its attributes, in
assignment order, so ``named_parameters()`` and ``state_dict()`` follow PyTorch's names and order.
Modules have explicit ``forward`` and ``backward`` methods; ``module(x)`` calls ``forward``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, Optional, Tuple

import numpy as np

from ._args import canonical

__all__ = ["Parameter", "Module"]


class Parameter:
    """A trainable array: ``data`` (any float dtype) and its gradient ``grad`` (same shape and
    dtype, or None before the first backward)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self.grad: Optional[np.ndarray] = None

    def __getstate__(self):
        return {"data": self.data, "grad": self.grad}

    def __setstate__(self, state):
        if isinstance(state, tuple):  # the default form of a __slots__ class: (None, slots)
            state = state[1]
        self.data = canonical(state["data"])
        self.grad = canonical(state.get("grad"))

    def accumulate(self, g: np.ndarray) -> None:
        """grad += g (grad is created on the first call)."""
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype, copy=True).reshape(self.data.shape)
        else:
            self.grad += g

    def grad_buffer(self) -> np.ndarray:
        """``grad``, created as zeros if None: for kernels that accumulate into it directly."""
        if self.grad is None:
            self.grad = np.zeros_like(self.data)
        return self.grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameter/sub-module registration, ``named_parameters``, ``zero_grad``,
    ``state_dict``/``load_state_dict``, ``train``/``eval``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setstate__(self, state):
        # unpickling: arrays and dtypes get NumPy's canonical dtype objects back (see canonical)
        for k, v in state.items():
            object.__setattr__(self, k, canonical(v))

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:  # a subclass that forgot super().__init__()
            Module.__init__(self)
        params, mods = self.__dict__["_parameters"], self.__dict__["_modules"]
        if isinstance(value, Parameter):
            mods.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            mods[name] = value
        elif value is None and name in params:  # e.g. bias=False keeps the slot, like torch
            params[name] = None
        elif name in params or name in mods:
            raise TypeError(f"cannot assign {type(value).__name__} to {name!r}: it is a registered "
                            f"{'parameter' if name in params else 'sub-module'} (assign a Parameter or Module)")
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Register ``param`` (or None: a declared but absent parameter) under ``name``."""
        if "_parameters" not in self.__dict__:
            Module.__init__(self)
        self.__dict__["_parameters"][name] = param
        object.__setattr__(self, name, param)

    # ----------------------------------------------------------------------------- traversal
    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        yield from self.__dict__.get("_modules", {}).items()

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs in registration order, PyTorch-style dotted names."""
        for name, p in self.__dict__.get("_parameters", {}).items():
            if p is not None:
                yield (f"{prefix}.{name}" if prefix else name), p
        if recurse:
            for name, m in self.named_children():
                yield from m.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self, recurse: bool = True):
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (None, as torch's default, or zeros in place)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    # ----------------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """``{name: copy of the parameter array}`` in ``named_parameters()`` order."""
        return OrderedDict((k, p.data.copy()) for k, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into the parameters IN PLACE (views and optimisers stay valid).

        Accepts NumPy arrays or anything ``np.asarray`` takes (e.g. ``t.numpy()`` of a torch
        ``state_dict``). Shapes must match exactly and dtypes must match (rnnfast never casts
        silently: convert explicitly, e.g. ``v.astype(np.float32)``). With ``strict``, missing and
        unexpected keys raise ``KeyError`` naming them. Returns ``(missing, unexpected)``.
        """
        own = dict(self.named_parameters())
        given = {k: v for k, v in state_dict.items()}
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        checked = []
        for k, p in own.items():
            if k not in given:
                continue
            v = np.asarray(given[k])
            if v.shape != p.data.shape:
                raise ValueError(f"load_state_dict: {k}: expected shape {p.data.shape}, got {v.shape}")
            if v.dtype != p.data.dtype:
                raise TypeError(f"load_state_dict: {k}: parameter is {p.data.dtype} but the value is {v.dtype}; "
                                "convert explicitly (rnnfast never casts silently)")
            checked.append((p, v))
        for p, v in checked:  # all checked first: a failed load changes nothing
            p.data[...] = v
        return missing, unexpected

    # ----------------------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self.named_children():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"
