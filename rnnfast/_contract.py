"""The kernel contract, declared once: every kernel's arguments in order, with role, dtype rule, shape
in symbols and whether ``None`` is allowed.

From this table follow:

* the allocation of outputs and workspaces in the functional layer (:func:`allocate`, one generated
  function per kernel, as fast as hand-written ``np.empty`` calls);
* a full check of any call (:func:`check_call`: dtype, shape with the symbols bound consistently,
  C-contiguity, alignment, writeability of outputs), used by the tests and, with
  ``RNNFAST_CHECK_CONTRACT=1``, on every kernel call through the registry;
* ``python_tests/test_contract.py``, which asserts that every backend's kernel (the pybind11 signature
  of ``rnnfast._core``, the Python signature of the numba and NumPy functions) takes exactly these
  arguments in this order.

Roles: ``out`` (overwritten), ``inout`` (accumulated into: the cell backward kernels' weight and bias
gradients), ``work`` (scratch the caller provides; contents undefined before and after), ``in``, and
``flag`` (a Python scalar). Dtype rules: ``float`` (float32 or float64, one dtype per call), ``int64``,
``bool``, ``int``, ``callable``. Shapes are tuples of Python expressions over the kernel's symbols
(``T`` steps, ``B`` batch, ``I`` input size, ``H`` hidden size, ``P`` LSTM state/projection size,
``C`` classes, ``S`` padded target length or number of states, ``W`` scratch width, ``K`` top-k).
The C++ headers (``csrc/*.h``) describe what each argument means; this table is what the three
backends must agree on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import _buffers

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Arg:
    name: str
    role: str                      # out | inout | work | in | flag
    dtype: str                     # float | int64 | bool | int | callable
    shape: tuple | None = None     # expressions over the kernel's symbols; None for flags
    optional: bool = False         # None allowed (the kernel skips it)
    when: str | None = None        # allocated only when this keyword of allocate() is true


def _a(role, dtype, name, shape=None, optional=False, when=None):
    shape = None if shape is None else tuple(s.strip() for s in shape.split(",") if s.strip())
    return Arg(name, role, dtype, shape, optional or when is not None, when)


def out(name, shape, optional=False, when=None):
    return _a("out", "float", name, shape, optional, when)


def inout(name, shape, optional=False, when=None):
    return _a("inout", "float", name, shape, optional, when)


def work(name, shape, optional=False, when=None):
    return _a("work", "float", name, shape, optional, when)


def inp(name, shape, optional=False, dtype="float", when=None):
    return _a("in", dtype, name, shape, optional, when)


def flag(name, dtype="bool"):
    return _a("flag", dtype, name)


def _gru_like(G):
    """Forward/backward of a recurrence with G gate rows per hidden unit (GRU 3, RNN 1)."""
    g = f"{G} * H" if G > 1 else "H"
    return f"{g}, I", f"{g}, H", f"{g},"


_GW_IH, _GW_HH, _GB = _gru_like(3)
_RW_IH, _RW_HH, _RB = _gru_like(1)

KERNELS: dict = {
    # ------------------------------------------------------------------------------------- GRU
    "gru_forward": (
        out("y", "T, B, H"), out("h_n", "B, H"), out("hs", "T + 1, B, H"), out("gates", "T, B, 3 * H"),
        out("hn", "T, B, H"), work("gh", "B, 3 * H"),
        inp("x", "T, B, I"), inp("h0", "B, H", True), inp("w_ih", _GW_IH), inp("w_hh", _GW_HH),
        inp("b_ih", _GB, True), inp("b_hh", _GB, True), inp("lengths", "B,", True, "int64"), flag("reset_after"),
        flag("reverse")),
    "gru_backward": (
        out("dx", "T, B, I", True), out("dh0", "B, H"), out("dw_ih", _GW_IH), out("dw_hh", _GW_HH),
        out("db_ih", _GB, when="has_bias_ih"), out("db_hh", _GB, when="has_bias_hh"),
        work("dgx", "T, B, 3 * H"), work("dgh", "T, B, 3 * H", when="reset_after"), work("dtmp", "B, H"),
        inp("dy", "T, B, H", True), inp("dh_n", "B, H", True), inp("x", "T, B, I"), inp("w_ih", _GW_IH),
        inp("w_hh", _GW_HH), inp("hs", "T + 1, B, H"), inp("gates", "T, B, 3 * H"), inp("hn", "T, B, H"),
        inp("lengths", "B,", True, "int64"), flag("reset_after"), flag("reverse")),
    "gru_cell_forward": (
        out("h_new", "B, H"), out("gates", "B, 3 * H"), out("hn", "B, H"), work("gh", "B, 3 * H"),
        inp("x", "B, I"), inp("h", "B, H"), inp("w_ih", _GW_IH), inp("w_hh", _GW_HH), inp("b_ih", _GB, True),
        inp("b_hh", _GB, True), flag("reset_after")),
    "gru_cell_backward": (
        out("dx", "B, I", True), out("dh", "B, H"), inout("dw_ih", _GW_IH), inout("dw_hh", _GW_HH),
        inout("db_ih", _GB, True), inout("db_hh", _GB, True),
        work("dgx", "B, 3 * H"), work("dgh", "B, 3 * H", when="reset_after"), work("dtmp", "B, H"),
        inp("dh_new", "B, H"), inp("x", "B, I"), inp("h", "B, H"), inp("w_ih", _GW_IH), inp("w_hh", _GW_HH),
        inp("gates", "B, 3 * H"), inp("hn", "B, H"), flag("reset_after")),
    # ------------------------------------------------------------------------------------ LSTM
    "lstm_forward": (
        out("y", "T, B, P"), out("h_n", "B, P"), out("c_n", "B, H"), out("hs", "T + 1, B, P"),
        out("cs", "T + 1, B, H"), out("gates", "T, B, 4 * H"), out("ms", "T, B, H", when="proj"),
        inp("x", "T, B, I"), inp("h0", "B, P", True), inp("c0", "B, H", True), inp("w_ih", "4 * H, I"),
        inp("w_hh", "4 * H, P"), inp("b_ih", "4 * H,", True), inp("b_hh", "4 * H,", True),
        inp("w_hr", "P, H", True), inp("lengths", "B,", True, "int64"), flag("reverse")),
    "lstm_backward": (
        out("dx", "T, B, I", True), out("dh0", "B, P"), out("dc0", "B, H"), out("dw_ih", "4 * H, I"),
        out("dw_hh", "4 * H, P"), out("db_ih", "4 * H,", when="has_bias_ih"),
        out("db_hh", "4 * H,", when="has_bias_hh"), out("dw_hr", "P, H", when="proj"),
        work("dgates", "T, B, 4 * H"), work("dhs", "T, B, P", when="proj"),
        inp("dy", "T, B, P", True), inp("dh_n", "B, P", True), inp("dc_n", "B, H", True), inp("x", "T, B, I"),
        inp("w_ih", "4 * H, I"), inp("w_hh", "4 * H, P"), inp("w_hr", "P, H", True), inp("hs", "T + 1, B, P"),
        inp("cs", "T + 1, B, H"), inp("gates", "T, B, 4 * H"), inp("ms", "T, B, H", when="proj"),
        inp("lengths", "B,", True, "int64"), flag("reverse")),
    "lstm_cell_forward": (
        out("h_new", "B, P"), out("c_new", "B, H"), out("gates", "B, 4 * H"), out("m", "B, H", when="proj"),
        inp("x", "B, I"), inp("h", "B, P"), inp("c", "B, H"), inp("w_ih", "4 * H, I"), inp("w_hh", "4 * H, P"),
        inp("b_ih", "4 * H,", True), inp("b_hh", "4 * H,", True), inp("w_hr", "P, H", True)),
    "lstm_cell_backward": (
        out("dx", "B, I", True), out("dh", "B, P"), out("dc", "B, H"), inout("dw_ih", "4 * H, I"),
        inout("dw_hh", "4 * H, P"), inout("db_ih", "4 * H,", True), inout("db_hh", "4 * H,", True),
        inout("dw_hr", "P, H", when="proj"), work("dgates", "B, 4 * H"),
        inp("dh_new", "B, P", True), inp("dc_new", "B, H", True), inp("x", "B, I"), inp("h", "B, P"),
        inp("c", "B, H"), inp("c_new", "B, H"), inp("w_ih", "4 * H, I"), inp("w_hh", "4 * H, P"),
        inp("w_hr", "P, H", True), inp("gates", "B, 4 * H"), inp("m", "B, H", when="proj")),
    # ------------------------------------------------------------------------------- Elman RNN
    "rnn_forward": (
        out("y", "T, B, H"), out("h_n", "B, H"), out("hs", "T + 1, B, H"),
        inp("x", "T, B, I"), inp("h0", "B, H", True), inp("w_ih", _RW_IH), inp("w_hh", _RW_HH),
        inp("b_ih", _RB, True), inp("b_hh", _RB, True), inp("lengths", "B,", True, "int64"), flag("relu"),
        flag("reverse")),
    "rnn_backward": (
        out("dx", "T, B, I", True), out("dh0", "B, H"), out("dw_ih", _RW_IH), out("dw_hh", _RW_HH),
        out("db_ih", _RB, when="has_bias_ih"), out("db_hh", _RB, when="has_bias_hh"), work("dg", "T, B, H"),
        inp("dy", "T, B, H", True), inp("dh_n", "B, H", True), inp("x", "T, B, I"), inp("w_ih", _RW_IH),
        inp("w_hh", _RW_HH), inp("hs", "T + 1, B, H"), inp("lengths", "B,", True, "int64"), flag("relu"),
        flag("reverse")),
    "rnn_cell_forward": (
        out("h_new", "B, H"),
        inp("x", "B, I"), inp("h", "B, H"), inp("w_ih", _RW_IH), inp("w_hh", _RW_HH), inp("b_ih", _RB, True),
        inp("b_hh", _RB, True), flag("relu")),
    "rnn_cell_backward": (
        out("dx", "B, I", True), out("dh", "B, H"), inout("dw_ih", _RW_IH), inout("dw_hh", _RW_HH),
        inout("db_ih", _RB, True), inout("db_hh", _RB, True), work("dg", "B, H"),
        inp("dh_new", "B, H"), inp("x", "B, I"), inp("h", "B, H"), inp("h_new", "B, H"), inp("w_ih", _RW_IH),
        inp("w_hh", _RW_HH), flag("relu")),
    # ------------------------------------------------------------------------------------- CTC
    # the kernels keep their lattice rows in scratch of their own (csrc/ctc.h): no workspace argument
    "ctc_loss": (
        out("loss", "B,"), out("grad", "T, B, C", when="return_grad"),
        inp("log_probs", "T, B, C"), inp("targets", "B, S", dtype="int64"), inp("input_lengths", "B,", dtype="int64"),
        inp("target_lengths", "B,", dtype="int64"), inp("grad_scale", "B,", True), flag("blank", "int"),
        flag("zero_infinity")),
    "ctc_beam_search": (
        _a("out", "int64", "labels", "B, K, T"), _a("out", "int64", "lengths", "B, K"), out("scores", "B, K"),
        inp("log_probs", "T, B, C"), inp("input_lengths", "B,", dtype="int64"), flag("blank", "int"),
        flag("beam_width", "int"), flag("top_k", "int")),
    # Prefix beam search of one item with a language-model callback: Python objects in and out (a
    # list of (labels, score)), so only the NumPy backend has it; the others fall back to it.
    "ctc_beam_search_item": (
        inp("lp", "T, C"), flag("Tb", "int"), flag("blank", "int"), flag("W", "int"),
        _a("flag", "callable", "lm_fn", optional=True), flag("alpha", "float"), flag("beta", "float")),
    # ---------------------------------------------------------------- probability-space CTC (MyTorch)
    "ctc_prob_alpha_beta": (
        out("alpha", "T, S", when="alpha"), out("beta", "T, S", when="beta"), out("gamma", "T, S", when="gamma"),
        inp("y", "T, C"), inp("ext", "S,", dtype="int64"), inp("skip", "S,", dtype="int64")),
    "ctc_prob_loss": (
        out("loss", "B,"), out("grad", "T, B, C", optional=True), out("gamma", "B, T, W"), work("work", "B, 2, W"),
        inp("y", "T, B, C"), inp("targets", "B, S", dtype="int64"), inp("input_lengths", "B,", dtype="int64"),
        inp("target_lengths", "B,", dtype="int64"), flag("blank", "int")),
}

# Kernels a backend may lack (the registry then falls back to the next backend in order).
OPTIONAL_KERNELS = frozenset({"ctc_beam_search_item"})

# ------------------------------------------------------- how a kernel's own checks read a call
# The compiled bindings of the recurrent kernels (csrc/bindings/{gru,lstm,rnn}.cpp, written from this
# table by tools/gen_bindings.py) and the NumPy and numba kernels' own checks (rnnfast/_numpy/_check.py)
# follow these rules, so that a kernel never reads or writes out of bounds whatever it is given:
# * sizes: T, B, I from x's dimensions; the others from RECURRENT_SIZES, (argument, dimension) in order
#   of preference, an optional argument only when given. The C++ kernel takes them after its arrays, in
#   the order T, B, I, H, P (those its shapes use), then its flags;
# * every array argument then has exactly its declared shape, the dtype of x (int64 for lengths, whose
#   values must lie in [0, T]), C order, alignment, and is writeable if not an input;
# * ``when``: a kernel flag (reset_after) makes the array required when the flag is true, else optional;
#   ``proj`` (w_hr given) makes it required with a projection and ignored without; a ``has_bias_*``
#   array is optional;
# * NO_ALIAS: pairs (output, input) that must not be the same array (a cell step reads h while
#   writing h_new).
RECURRENT_FAMILIES = {"gru": "GRU", "lstm": "LSTM", "rnn": "Elman RNN"}  # kernel prefix: title
RECURRENT_SIZES = {
    "gru": {"H": (("w_hh", 1),)},
    "rnn": {"H": (("w_hh", 1),)},
    "lstm": {"H": (("w_hr", 1), ("w_hh", 1)), "P": (("w_hr", 0), ("w_hh", 1))},
}
SIZE_ORDER = ("T", "B", "I", "H", "P")
CONDITIONS = {"proj": "w_hr"}  # a ``when`` that means "this argument is given"
NO_ALIAS = {"gru_cell_forward": (("h_new", "h"),), "rnn_cell_forward": (("h_new", "h"),),
            "lstm_cell_forward": (("h_new", "h"), ("c_new", "c"))}


def collect_kernels(package: str, namespace: dict) -> None:
    """Put every declared kernel that a backend package's modules define (``package``.gru, .lstm, ...,
    every non-underscore module) into ``namespace``: a new kernel needs no export list."""
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        namespace.update({k: getattr(mod, k) for k in KERNELS if callable(getattr(mod, k, None))})


def recurrent_kernels() -> list:
    """The kernels of the recurrent families, in declaration order."""
    return [k for k in KERNELS if k.split("_")[0] in RECURRENT_FAMILIES]


def size_sources(kernel: str) -> dict:
    """{symbol: ((argument, dimension, rank), ...)} in SIZE_ORDER for a recurrent kernel."""
    decl = {a.name: a for a in KERNELS[kernel]}
    used = {n for a in decl.values() if a.shape for e in a.shape for n in compile(e, "<s>", "eval").co_names}
    x = decl["x"]
    src = {s: (("x", i, len(x.shape)),) for i, s in enumerate(x.shape)}
    for s, alts in RECURRENT_SIZES[kernel.split("_")[0]].items():
        src[s] = tuple((n, i, len(decl[n].shape)) for n, i in alts)
    return {s: src[s] for s in SIZE_ORDER if s in used}


def names(kernel: str) -> list:
    """Argument names of ``kernel`` in order."""
    return [a.name for a in KERNELS[kernel]]


# ----------------------------------------------------------------------------------- allocation
def _make_allocator(kernel: str):
    """Source of ``alloc(dt, <symbols>, <conditions>)`` returning the kernel's out and work arrays
    (in order; ``inout`` ones are the caller's). Arrays whose shape has the sequence length come from
    the buffer pool (they are the large ones), the others from ``np.empty``; a ``when`` array is
    None unless its condition is true; an ``optional`` output without ``when`` is always allocated."""
    args = [a for a in KERNELS[kernel] if a.role in ("out", "work")]
    syms = sorted({n for a in args for e in a.shape for n in compile(e, "<s>", "eval").co_names})
    conds = sorted({a.when for a in args if a.when})
    lines = []
    for a in args:
        dt = "dt" if a.dtype == "float" else "_i64"
        shape = "(" + ", ".join(a.shape) + ("," if len(a.shape) == 1 else "") + ")"
        in_t = "T" in {n for e in a.shape for n in compile(e, "<s>", "eval").co_names}
        fn = "_pool" if in_t else "_empty"
        expr = f"{fn}({shape}, {dt})"
        lines.append(f"({expr} if {a.when} else None)" if a.when else expr)
    params = ", ".join(["dt", "*"] + syms + [f"{c}=False" for c in conds])
    return (f"def alloc_{kernel}({params}):\n    return ({', '.join(lines)},)\n", f"alloc_{kernel}")


_ALLOCATORS: dict = {}


def _build_allocators():
    env = {"_pool": _buffers.empty, "_empty": np.empty, "_i64": np.dtype(np.int64)}
    for k, decl in KERNELS.items():
        if not any(a.role in ("out", "work") for a in decl):
            continue
        src, fname = _make_allocator(k)
        exec(compile(src, f"<rnnfast._contract allocator {k}>", "exec"), env)  # noqa: S102 (source built above)
        _ALLOCATORS[k] = env[fname]


_build_allocators()


def allocate(kernel: str, dt, **sizes_and_conditions) -> tuple:
    """The out and work arrays of ``kernel`` (declaration order, ``inout`` excluded), e.g.::

        y, h_n, hs, gates, hn, gh = allocate("gru_forward", dt, T=T, B=B, I=I, H=H)
    """
    return _ALLOCATORS[kernel](dt, **sizes_and_conditions)


def allocator(kernel: str):
    """The generated allocation function of ``kernel``: ``alloc(dt, **symbols, **conditions)``, the
    symbols being those of its out and work shapes; the functional layer binds it once."""
    return _ALLOCATORS[kernel]


def shape_checker(kernel: str, names):
    """A generated function ``check(args, dt, **symbols)`` verifying the arrays ``names`` of a call of
    ``kernel``: None only where allowed, else the declared shape, dtype and C-contiguity. The functional
    layer runs it on what a backward pass reads from a forward's cache (a cache is a plain object a
    caller can change) before a backend without checks of its own (numba, numpy) reads them."""
    decl = {a.name: (i, a) for i, a in enumerate(KERNELS[kernel])}
    syms = sorted({n for nm in names for e in decl[nm][1].shape for n in compile(e, "<s>", "eval").co_names})
    lines = [f"def check(args, dt, *, {', '.join(syms)}):"]
    for nm in names:
        i, a = decl[nm]
        shape = "(" + ", ".join(a.shape) + ("," if len(a.shape) == 1 else "") + ")"
        dt = "dt" if a.dtype == "float" else "_i64"
        lines.append(f"    v = args[{i}]")
        none = "pass" if a.optional else f"_fail({kernel!r}, {nm!r}, v, {shape}, {dt})"
        lines.append(f"    if v is None:\n        {none}")
        lines.append(f"    elif v.shape != {shape} or v.dtype != {dt} or not v.flags.c_contiguous:")
        lines.append(f"        _fail({kernel!r}, {nm!r}, v, {shape}, {dt})")
    env = {"_fail": _fail_shape, "_i64": np.dtype(np.int64)}
    exec(compile("\n".join(lines) + "\n", f"<rnnfast._contract checker {kernel}>", "exec"), env)  # noqa: S102
    return env["check"]


def _fail_shape(kernel, name, v, shape, dt):
    raise ContractError(f"{kernel}: {name} (from the forward's cache) must be a C-contiguous array of shape "
                        f"{shape}, dtype {dt}; got {_describe(v)}: was the cache changed after the forward?")


def zero_outputs(kernel: str, args) -> None:
    """Set every ``out`` array of a call to 0 (an empty problem: nothing for the kernel to compute)."""
    for a, v in zip(KERNELS[kernel], args):
        if a.role == "out" and v is not None:
            v[...] = 0


# ------------------------------------------------------------------------------------ checking
class ContractError(ValueError):
    """A kernel call that does not match the declaration."""


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}, dtype {v.dtype}"
    return f"{type(v).__name__} {v!r}"


def check_call(kernel: str, args, kwargs=None) -> dict:
    """Check one call against the declaration; return the bound symbols. Raises :class:`ContractError`
    naming the kernel, the argument, what it got and what was expected."""
    decl = KERNELS[kernel]
    args = list(args)
    if kwargs:
        names_ = [a.name for a in decl]
        for k, v in kwargs.items():
            if k not in names_:
                raise ContractError(f"{kernel}: unexpected argument {k!r}")
            i = names_.index(k)
            args += [None] * (i + 1 - len(args))
            args[i] = v
    if len(args) != len(decl):
        raise ContractError(f"{kernel}: expected {len(decl)} arguments ({', '.join(a.name for a in decl)}), "
                            f"got {len(args)}")
    env: dict = {}
    float_dt = None
    pending = []
    for a, v in zip(decl, args):
        where = f"{kernel}: argument {a.name!r}"
        if v is None:
            if not a.optional:
                raise ContractError(f"{where} is required, got None")
            continue
        if a.role == "flag":
            ok = {"bool": (bool, np.bool_), "int": (int, np.integer), "float": (float, int, np.floating),
                  "callable": (object,)}[a.dtype]
            if not isinstance(v, ok) or (a.dtype == "int" and isinstance(v, (bool, np.bool_))):
                raise ContractError(f"{where}: expected a Python {a.dtype}, got {_describe(v)}")
            continue
        if not isinstance(v, np.ndarray):
            raise ContractError(f"{where}: expected a NumPy array, got {_describe(v)}")
        if a.dtype == "float":
            if v.dtype not in FLOAT_DTYPES:
                raise ContractError(f"{where}: expected float32 or float64, got {_describe(v)}")
            if float_dt is None:
                float_dt = v.dtype
            elif v.dtype != float_dt:
                raise ContractError(f"{where}: expected dtype {float_dt} like the other arrays, got {_describe(v)}")
        elif v.dtype != np.dtype(a.dtype):
            raise ContractError(f"{where}: expected dtype {a.dtype}, got {_describe(v)}")
        if not (v.flags.c_contiguous and v.flags.aligned):
            raise ContractError(f"{where}: expected a C-contiguous, aligned array, got strides {v.strides}")
        if a.role in ("out", "inout", "work") and not v.flags.writeable:
            raise ContractError(f"{where} is read-only")
        if len(v.shape) != len(a.shape):
            raise ContractError(f"{where}: expected shape ({', '.join(a.shape)}), got {_describe(v)}")
        for e, n in zip(a.shape, v.shape):
            if e.isidentifier() and env.setdefault(e, n) != n:
                raise ContractError(f"{where}: dimension {e} = {n} but another argument has {e} = {env[e]} "
                                    f"(expected shape ({', '.join(a.shape)}), got {v.shape})")
        pending.append((a, v, where))
    for a, v, where in pending:  # composite dimensions (T + 1, 3 * H) once every symbol is bound
        want = []
        for e in a.shape:
            try:
                want.append(eval(e, {}, env))  # expressions of this table only
            except NameError:
                want.append(None)
        if any(w is not None and w != n for w, n in zip(want, v.shape)):
            raise ContractError(f"{where}: expected shape ({', '.join(a.shape)}) = {tuple(want)} with "
                                f"{', '.join(f'{k}={n}' for k, n in sorted(env.items()))}, got {v.shape}")
    return env


def checked(kernel: str, fn):
    """``fn`` with :func:`check_call` before every call (``RNNFAST_CHECK_CONTRACT=1``)."""
    def run(*args, **kwargs):
        check_call(kernel, args, kwargs)
        return fn(*args, **kwargs)
    run.__name__ = getattr(fn, "__name__", kernel)
    run.__wrapped__ = fn
    return run


CHECK_CALLS = os.environ.get("RNNFAST_CHECK_CONTRACT", "").strip() not in ("", "0")

# the symbols' meaning, for error messages and docs
SYMBOLS = {"T": "sequence length", "B": "batch size", "I": "input size", "H": "hidden size",
           "P": "LSTM state size (projection size, else H)", "C": "classes", "S": "padded target length / states",
           "W": "scratch width", "K": "top_k"}

__all__ = ["KERNELS", "OPTIONAL_KERNELS", "Arg", "ContractError", "allocate", "allocator", "check_call", "checked",
           "names", "zero_outputs"]
