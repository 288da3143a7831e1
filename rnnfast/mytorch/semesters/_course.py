"""The course-provided ``Linear`` a semester's models must use (the classifier's ``output_layer``,
the predictor's ``projection``): the handout's own class, whatever its gradient convention.

Inside a handout (shim files written by ``rnnfast mytorch install``) it is imported exactly as that
semester's model files import it: ``linear`` (Spring 2021, Fall 2022) or ``nn.linear`` (Spring 2024,
Spring 2026) from the handout's ``mytorch/`` folder, so a test that star-imported the same module
shares the class. Without a handout (``install_import_aliases``), a module of that name on
``sys.path`` is used if there is one, else a transcription of that semester's course ``Linear``.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np

# semester -> (module name the handout's model files import, folder of the handout it lives in)
LINEAR_MODULE = {"s21": ("linear", "mytorch"), "f22": ("linear", "mytorch"),
                 "s24": ("nn.linear", "mytorch"), "s26": ("nn.linear", "mytorch")}

_roots: dict = {}  # semester -> handout root registered by a shim
_resolved: dict = {}  # (semester, root) -> Linear class


def register_root(semester: str, root: str) -> None:
    """Called by a shim: the handout at ``root`` provides ``semester``'s course layers."""
    _roots[semester] = os.path.abspath(root)


def _from_handout(semester, root):
    name, folder = LINEAR_MODULE[semester]
    base = os.path.join(root, folder)
    path = os.path.join(base, *name.split(".")) + ".py"
    if not os.path.isfile(path):
        raise ImportError(f"the {semester.upper()} handout at {root} has no course Linear at {path}")
    mod = sys.modules.get(name)
    if mod is None:
        if not any(os.path.abspath(p or os.curdir) == base for p in sys.path):
            sys.path.append(base)  # as the model files do (sys.path.append("mytorch"), relative to the root)
        try:
            mod = importlib.import_module(name)
        except ImportError:  # e.g. another package called "nn" came first on sys.path
            mod = None
    if mod is None or os.path.abspath(getattr(mod, "__file__", "") or "") != path:
        # another module of that name was imported first: load the handout's file under its own name
        key = f"_rnnfast_course_{semester}_linear"
        mod = sys.modules.get(key)
        if mod is None:
            spec = importlib.util.spec_from_file_location(key, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[key] = mod
            spec.loader.exec_module(mod)
    return mod.Linear


def linear_class(semester: str):
    """The ``Linear`` class ``semester``'s models construct."""
    root = _roots.get(semester)
    key = (semester, root)
    cls = _resolved.get(key)
    if cls is None:
        if root is not None:
            cls = _from_handout(semester, root)
        else:
            name = LINEAR_MODULE[semester][0]
            try:
                cls = importlib.import_module(name).Linear
            except (ImportError, AttributeError):
                cls = FALLBACK[semester]
        _resolved[key] = cls
    return cls


# ----------------------------------------------------------------------- transcriptions (no handout)
class LinearS21:
    """Spring 2021's course Linear: W = randn(out, in) (drawn), b = zeros(out); gradients averaged."""

    def __init__(self, in_feature, out_feature):
        self.W = np.random.randn(out_feature, in_feature)
        self.b = np.zeros(out_feature)
        self.dW = np.zeros(self.W.shape)
        self.db = np.zeros(self.b.shape)

    def init_weights(self, W, b):
        self.W, self.b = W, b

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, delta):
        B = delta.shape[0]
        self.dW = delta.T @ self.x / B
        self.db = delta.sum(axis=0) / B
        return delta @ self.W


class LinearF22:
    """Fall 2022's course Linear: W, b zeros (b (out, 1)), no draws; gradients divided by N."""

    def __init__(self, in_features, out_features, debug=False):
        self.W = np.zeros((out_features, in_features), dtype="f")
        self.b = np.zeros((out_features, 1), dtype="f")
        self.debug = debug

    def __call__(self, A):
        return self.forward(A)

    def forward(self, A):
        self.A = A
        self.N = A.shape[0]
        self.Ones = np.ones((self.N, 1), dtype="f")
        return A @ self.W.T + self.Ones @ self.b.T

    def backward(self, dLdZ):
        self.dLdW = dLdZ.T @ self.A / self.N
        self.dLdb = dLdZ.T @ self.Ones / self.N
        return dLdZ @ self.W


def _s24_linear():
    from ..nn.linear import Linear
    return Linear


class _Lazy(dict):
    def __missing__(self, k):
        return _s24_linear()


FALLBACK = _Lazy(s21=LinearS21, f22=LinearF22)
