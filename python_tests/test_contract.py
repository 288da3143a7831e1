"""The kernel contract (rnnfast/_contract.py) is the one declaration every backend and the functional
layer follow: each backend's kernels take exactly the declared arguments in the declared order; every
call the functional layer makes matches the declared roles, dtypes and shapes; a backend lacking a
kernel falls back to the next one."""
import inspect
import logging
import re
import types

import numpy as np
import pytest

import rnnfast
from rnnfast import _backend, _contract, ctc, ctc_prob
from rnnfast import functional as F

BACKENDS = rnnfast.available_backends()
KERNEL_PREFIXES = ("gru_", "lstm_", "rnn_", "ctc_")


def _pybind_names(fn, name):
    """Argument names from a pybind11 function's docstring: ``name(a: object, b: bool) -> None``."""
    m = re.match(rf"{name}\((.*?)\)\s*->", (fn.__doc__ or "").strip())
    assert m, f"no pybind11 signature in the docstring of {name}: {fn.__doc__!r}"
    return [p.split(":")[0].split("=")[0].strip() for p in m.group(1).split(",") if p.strip()]


def kernel_arg_names(backend, name):
    fn = getattr(_backend.kernels(backend), name, None)
    if fn is None:
        return None
    if backend == "cpp":
        return _pybind_names(fn, name)
    return list(inspect.signature(inspect.unwrap(fn)).parameters)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", sorted(_contract.KERNELS))
def test_backend_kernel_arguments_match_the_declaration(backend, kernel):
    got = kernel_arg_names(backend, kernel)
    if got is None:
        assert kernel in _contract.OPTIONAL_KERNELS, f"backend {backend!r} lacks the required kernel {kernel!r}"
        return
    assert got == _contract.names(kernel), f"{backend}.{kernel}: arguments differ from rnnfast/_contract.py"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_kernel_is_declared(backend):
    mod = _backend.kernels(backend)
    exported = {n for n in dir(mod) if n.startswith(KERNEL_PREFIXES) and callable(getattr(mod, n))}
    assert exported <= set(_contract.KERNELS), f"undeclared kernels in {backend}: {exported - set(_contract.KERNELS)}"


def test_reference_backend_has_every_kernel():
    assert all(hasattr(_backend.kernels("numpy"), k) for k in _contract.KERNELS)


def test_pybind_signature_parser_reads_names():
    doc = "gru_forward(y: object, h_n: object, reset_after: bool) -> None\n\nmore text"
    assert _pybind_names(types.SimpleNamespace(__doc__=doc), "gru_forward") == ["y", "h_n", "reset_after"]


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the compiled module")
def test_type_stub_lists_every_compiled_function_with_its_arguments():
    """rnnfast/_core.pyi: one def per function of rnnfast._core with the pybind11 signature's argument
    names, and an annotation per module attribute."""
    import ast
    import pathlib

    from rnnfast import _core

    tree = ast.parse((pathlib.Path(rnnfast.__file__).parent / "_core.pyi").read_text())
    stub = {n.name: [a.arg for a in n.args.args] for n in tree.body if isinstance(n, ast.FunctionDef)}
    attrs = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    public = [n for n in dir(_core) if not n.startswith("__")]
    funcs = {n: _pybind_names(getattr(_core, n), n) for n in public if callable(getattr(_core, n))}
    assert stub == funcs
    assert attrs == set(public) - set(funcs)


# ------------------------------------------------------------------------------------ allocation
def test_allocate_follows_the_declared_shapes_and_conditions():
    dt = np.dtype(np.float32)
    outs = _contract.allocate("gru_backward", dt, T=4, B=3, I=2, H=5, has_bias_ih=True, reset_after=True)
    decl = [a for a in _contract.KERNELS["gru_backward"] if a.role in ("out", "work")]
    assert [a.name for a in decl] == ["dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh", "dgx", "dgh", "dtmp"]
    shapes = [None if a is None else a.shape for a in outs]
    assert shapes == [(4, 3, 2), (3, 5), (15, 2), (15, 5), (15,), None, (4, 3, 15), (4, 3, 15), (3, 5)]
    assert all(a is None or (a.dtype == dt and a.flags.c_contiguous) for a in outs)
    labels, _, scores = _contract.allocate("ctc_beam_search", np.dtype(np.float64), B=2, K=3, T=7)
    assert labels.dtype == np.int64 and labels.shape == (2, 3, 7) and scores.dtype == np.float64


# ------------------------------------------------------------------------- calls follow the contract
def _every_kernel_call():
    """Calls through the public API reaching every declared kernel, with and without the optional
    arrays (biases, projection, lengths, reset_after both ways, gradients)."""
    r = np.random.default_rng(0)
    n = lambda *s: r.standard_normal(s)
    T, B, I, H, P = 3, 2, 4, 5, 3
    lengths = np.array([3, 1])
    for ra in (True, False):
        _, _, c = F.gru_forward(n(T, B, I), n(B, H), n(3 * H, I), n(3 * H, H), n(3 * H), None, reset_after=ra,
                                lengths=lengths)
        F.gru_backward(n(T, B, H), None, c)
        _, cc = F.gru_cell_forward(n(B, I), None, n(3 * H, I), n(3 * H, H), None, n(3 * H), reset_after=ra)
        F.gru_cell_backward(n(B, H), cc, F.gru_cell_backward(n(B, H), cc))
    for w_hr in (None, n(P, H)):
        S = H if w_hr is None else P
        _, _, _, c = F.lstm_forward(n(T, B, I), None, n(B, H), n(4 * H, I), n(4 * H, S), n(4 * H), n(4 * H),
                                    w_hr=w_hr, lengths=lengths)
        F.lstm_backward(n(T, B, S), n(B, S), None, c)
        _, _, cc = F.lstm_cell_forward(n(B, I), n(B, S), None, n(4 * H, I), n(4 * H, S), None, None, w_hr=w_hr)
        F.lstm_cell_backward(n(B, S), None, cc, F.lstm_cell_backward(None, n(B, H), cc))
    for nl in ("tanh", "relu"):
        _, _, c = F.rnn_forward(n(T, B, I), None, n(H, I), n(H, H), n(H), n(H), nonlinearity=nl)
        F.rnn_backward(None, n(B, H), c)
        _, cc = F.rnn_cell_forward(n(B, I), n(B, H), n(H, I), n(H, H), nonlinearity=nl)
        F.rnn_cell_backward(n(B, H), cc)
    lp = ctc.log_softmax(n(6, 2, 4))
    for rg in (False, True):
        ctc.ctc_loss(lp, [[1, 2], [3, 0]], [6, 5], [2, 1], return_grad=rg)
    ctc.beam_search(lp, [6, 4], beam_width=3, top_k=2)
    ctc.beam_search(lp, [6, 4], beam_width=3, lm={((), 1): -0.1}, alpha=0.5)
    y = np.abs(n(6, 2, 4)) + 0.1
    ext, skip = ctc_prob.extend_target_with_blank([1, 2])
    ctc_prob.prob_alpha_beta(y[:, 0], ext, skip)
    ctc_prob.prob_alpha_beta(y[:, 0], ext, skip, compute=("beta",))
    ctc_prob.prob_ctc_loss(y, np.array([[1, 2], [3, 3]]), [6, 5], [2, 2])


@pytest.fixture
def checking(monkeypatch):
    """Every kernel resolved from now on checks its call against the declaration first."""
    monkeypatch.setattr(_contract, "CHECK_CALLS", True)
    monkeypatch.setattr(_backend, "_resolved", {})
    seen = set()
    real = _contract.check_call

    def record(kernel, args, kwargs=None):
        seen.add(kernel)
        return real(kernel, args, kwargs)

    monkeypatch.setattr(_contract, "check_call", record)
    yield seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_calls_match_the_declaration(backend, checking):
    with rnnfast.use_backend(backend):
        _every_kernel_call()
    assert checking == set(_contract.KERNELS), f"kernels never called: {set(_contract.KERNELS) - checking}"


def test_check_call_catches_swapped_and_misshaped_arguments():
    T, B, I, H = 3, 2, 4, 5
    dt = np.dtype(np.float64)
    outs = list(_contract.allocate("rnn_forward", dt, T=T, B=B, H=H))
    ins = [np.zeros((T, B, I)), None, np.zeros((H, I)), np.zeros((H, H)), None, None, None, False, False]
    env = _contract.check_call("rnn_forward", outs + ins)
    assert env == {"T": T, "B": B, "H": H, "I": I}
    swapped = outs + [ins[0], None, ins[3], ins[2]] + ins[4:]  # w_ih and w_hh exchanged
    with pytest.raises(_contract.ContractError, match="rnn_forward: argument 'w_ih'"):
        _contract.check_call("rnn_forward", swapped)
    with pytest.raises(_contract.ContractError, match=r"argument 'hs': expected shape \(T \+ 1, B, H\) = \(4, 2, 5\)"):
        _contract.check_call("rnn_forward", [outs[0], outs[1], np.zeros((T, B, H))] + ins)
    with pytest.raises(_contract.ContractError, match="argument 'x': expected dtype float64 like the other"):
        _contract.check_call("rnn_forward", outs + [ins[0].astype(np.float32)] + ins[1:])
    with pytest.raises(_contract.ContractError, match="argument 'relu': expected a Python bool"):
        _contract.check_call("rnn_forward", outs + ins[:-2] + ["yes", False])
    ro = outs[1].copy()
    ro.flags.writeable = False
    with pytest.raises(_contract.ContractError, match="argument 'h_n' is read-only"):
        _contract.check_call("rnn_forward", [outs[0], ro, outs[2]] + ins)
    with pytest.raises(_contract.ContractError, match="expected 12 arguments"):
        _contract.check_call("rnn_forward", outs + ins[:-1])


# ------------------------------------------------------------------------------ per-kernel fallback
@pytest.mark.skipif("cpp" not in BACKENDS or "numba" not in BACKENDS, reason="needs the cpp and numba backends")
def test_a_missing_kernel_falls_back_to_the_next_backend(monkeypatch, caplog):
    real = _backend.kernels("cpp")
    partial = types.SimpleNamespace(**{k: getattr(real, k) for k in _contract.KERNELS
                                       if hasattr(real, k) and k != "gru_cell_forward"})
    monkeypatch.setitem(_backend._loaded, "cpp", partial)
    monkeypatch.setattr(_backend, "_resolved", {})
    r = np.random.default_rng(1)
    x, h, w_ih, w_hh = r.standard_normal((2, 3)), r.standard_normal((2, 4)), r.standard_normal((12, 3)), \
        r.standard_normal((12, 4))
    with caplog.at_level(logging.DEBUG, logger="rnnfast"), rnnfast.use_backend("cpp"):
        h_new, cache = F.gru_cell_forward(x, h, w_ih, w_hh)
        grads = F.gru_cell_backward(np.ones((2, 4)), cache)  # cpp has the backward: it runs there
    assert cache.backend == "numba"
    assert "backend 'cpp' has no kernel 'gru_cell_forward'; running it on 'numba'" in caplog.text
    assert _backend.kernel("gru_cell_backward", "cpp")[0] == "cpp"
    with rnnfast.use_backend("numpy"):
        ref, rc = F.gru_cell_forward(x, h, w_ih, w_hh)
        rg = F.gru_cell_backward(np.ones((2, 4)), rc)
    np.testing.assert_allclose(h_new, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads.dw_hh, rg.dw_hh, rtol=1e-10, atol=1e-12)


def test_kernel_only_the_reference_has_resolves_to_it():
    for b in BACKENDS:
        name, fn = _backend.kernel("ctc_beam_search_item", b)
        assert name == "numpy"
        assert inspect.unwrap(fn) is _backend.kernels("numpy").ctc_beam_search_item


def test_unknown_kernel_and_backend_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown kernel 'gru_peephole'"):
        _backend.kernel("gru_peephole", "numpy")
    errs = rnnfast.backend_errors()
    assert isinstance(errs, dict) and set(errs) <= set(_backend.BACKENDS)
    assert set(errs) | set(rnnfast.available_backends()) == set(_backend.BACKENDS)
    monkeypatch.setitem(_backend._errors, "numba", "ImportError: No module named 'numba'")
    assert rnnfast.backend_errors()["numba"] == "ImportError: No module named 'numba'"
    errs["cpp"] = "changed"  # a copy: the registry's record is not the caller's to change
    assert rnnfast.backend_errors().get("cpp") != "changed"


def test_bad_backend_variable_is_named_in_the_error():
    import os
    import subprocess
    import sys

    code = "import rnnfast\ntry:\n    rnnfast.get_backend()\nexcept ValueError as e:\n    print(e)"
    env = dict(os.environ, RNNFAST_BACKEND="bogus")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "RNNFAST_BACKEND='bogus': unknown backend 'bogus'; choose from ('cpp', 'numba', 'numpy')" in out.stdout


def test_set_backend_overrides_the_environment_variable():
    import os
    import subprocess
    import sys

    code = "import rnnfast\nrnnfast.set_backend('numpy')\nprint(rnnfast.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, RNNFAST_BACKEND="cpp"),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "numpy", out.stderr


def test_use_backend_nests_per_thread_and_decorates():
    """use_backend selects a backend for the current thread only, restores the previous one on exit (an
    exception included), nests, and works as a decorator, recursion included; a bad name raises."""
    import threading

    outer = rnnfast.get_backend()
    with rnnfast.use_backend("numpy") as name:
        assert name == "numpy" and rnnfast.get_backend() == "numpy"
        seen = []
        th = threading.Thread(target=lambda: seen.append(rnnfast.get_backend()))
        th.start()
        th.join()
        assert seen == [outer]  # another thread keeps its own
        other = "cpp" if "cpp" in rnnfast.available_backends() else "numpy"
        with pytest.raises(KeyError), rnnfast.use_backend(other):
            raise KeyError("inside")
        assert rnnfast.get_backend() == "numpy"
    assert rnnfast.get_backend() == outer

    @rnnfast.use_backend("numpy")
    def depth(n):
        inner = depth(n - 1) if n else []
        return [rnnfast.get_backend(), *inner]

    assert depth(3) == ["numpy"] * 4 and rnnfast.get_backend() == outer
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        rnnfast.use_backend("nope")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_cache_is_refused_before_any_kernel_reads_it(backend):
    """numba and numpy kernels do not check their arrays: the functional layer checks what a backward
    reads from the cache (the compiled bindings check it themselves)."""
    r = np.random.default_rng(2)
    n = lambda *s: r.standard_normal(s)
    with rnnfast.use_backend(backend):
        _, _, c = F.gru_forward(n(4, 2, 3), None, n(15, 3), n(15, 5), lengths=np.array([4, 2]))
        c.hs = c.hs[:4].copy()  # one state short
        with pytest.raises(ValueError, match=r"hs.*\(5, 2, 5\)"):
            F.gru_backward(n(4, 2, 5), None, c)
        _, _, cc = F.lstm_cell_forward(n(2, 3), None, None, n(20, 3), n(20, 5))
        cc.gates = cc.gates.astype(np.float32)
        with pytest.raises((ValueError, TypeError), match="gates"):
            F.lstm_cell_backward(n(2, 5), None, cc)
        _, _, rc = F.rnn_forward(n(4, 2, 3), None, n(5, 3), n(5, 5), lengths=np.array([4, 2]))
        rc.lengths = np.array([4])
        with pytest.raises(ValueError, match="lengths"):
            F.rnn_backward(None, n(2, 5), rc)


def test_backend_kernels_is_the_public_kernel_module(backend):
    """rnnfast.backend_kernels(name) is the module whose functions the contract describes (what the
    MyTorch cells call per step); the active backend's by default."""
    k = rnnfast.backend_kernels(backend)
    have = {n for n in dir(k) if not n.startswith("_")} & set(_contract.KERNELS)
    assert {"gru_forward", "lstm_backward", "rnn_forward"} <= have  # a backend may lack some (fallback)
    assert have == set(_contract.KERNELS) or backend != "numpy"  # the reference has every kernel
    with rnnfast.use_backend(backend):
        assert rnnfast.backend_kernels() is k
    with pytest.raises(ValueError, match="backend"):
        rnnfast.backend_kernels("fortran")


def test_generated_bindings_are_current():
    """csrc/bindings/{gru,lstm,rnn}.cpp and their stubs in rnnfast/_core.pyi are what tools/gen_bindings.py
    writes from the declarations (a changed declaration without a rerun fails here)."""
    import importlib.util
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    gen = root / "tools" / "gen_bindings.py"
    if not gen.exists() or not (root / "csrc").is_dir():
        pytest.skip("needs the source tree (tools/, csrc/)")
    spec = importlib.util.spec_from_file_location("gen_bindings", gen)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for path, text in mod.outputs().items():
        assert path.read_text() == text, f"{path.relative_to(root)} is stale: run python tools/gen_bindings.py"


def test_recurrent_checks_follow_the_declaration():
    """The NumPy/numba kernels' own checks are built from the declaration: a size read from the weights,
    a when-flag array required only with its flag, a projection-only array ignored without one."""
    from rnnfast._numpy import _check

    T, B, I, H = 3, 2, 4, 5
    a = dict(dx=None, dh=np.zeros((B, H)), dw_ih=np.zeros((3 * H, I)), dw_hh=np.zeros((3 * H, H)), db_ih=None,
             db_hh=None, dgx=np.zeros((B, 3 * H)), dgh=None, dtmp=np.zeros((B, H)), dh_new=np.zeros((B, H)),
             x=np.zeros((B, I)), h=np.zeros((B, H)), w_ih=np.zeros((3 * H, I)), w_hh=np.zeros((3 * H, H)),
             gates=np.zeros((B, 3 * H)), hn=np.zeros((B, H)), reset_after=False)
    _check.check_gru_cell_backward(**a)
    with pytest.raises(ValueError, match="dgh must be an array, got None"):
        _check.check_gru_cell_backward(**{**a, "reset_after": True})
    with pytest.raises(ValueError, match=r"h: expected shape \(2, 6\)"):
        _check.check_gru_cell_backward(**{**a, "w_hh": np.zeros((18, 6)), "dw_hh": np.zeros((18, 6))})
    lstm = dict(y=np.zeros((T, B, H)), h_n=np.zeros((B, H)), c_n=np.zeros((B, H)), hs=np.zeros((T + 1, B, H)),
                cs=np.zeros((T + 1, B, H)), gates=np.zeros((T, B, 4 * H)), ms="ignored without w_hr",
                x=np.zeros((T, B, I)), h0=None, c0=None, w_ih=np.zeros((4 * H, I)), w_hh=np.zeros((4 * H, H)),
                b_ih=None, b_hh=None, w_hr=None, lengths=None, reverse=False)
    _check.check_lstm_forward(**lstm)
    with pytest.raises(ValueError, match="lengths"):
        _check.check_lstm_forward(**{**lstm, "lengths": np.array([0, T + 1])})


def test_a_recurrent_family_lives_in_the_documented_files():
    """docs/adding-a-kernel.md lists the files a recurrent family touches; the GRU's code (comments and
    docstrings aside) appears in exactly those, plus the generated binding and stubs."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    if not (root / "csrc").is_dir() or not (root / "tools").is_dir():
        pytest.skip("needs the source tree")
    documented = {"rnnfast/_contract.py", "csrc/gru.h", "csrc/gru.cpp", "csrc/dispatch.h", "rnnfast/_numba/gru.py",
                  "rnnfast/_numpy/gru.py", "rnnfast/functional.py"}
    generated = {"csrc/bindings/gru.cpp", "rnnfast/_core.pyi"}
    doc = (root / "docs" / "adding-a-kernel.md").read_text()
    for f in documented:
        assert f"`{f.replace('gru', '<name>') if f.count('gru') else f}`" in doc or f"`{f}`" in doc, f
    pat = re.compile(r"\bgru\w*", re.I)
    users = set()
    for base in ("csrc", "rnnfast", "tools"):
        for p in (root / base).rglob("*"):
            rel = p.relative_to(root)
            if p.suffix not in (".py", ".h", ".cpp", ".pyi") or {"apps", "nn", "torch", "mytorch", "bench",
                                                                  "fuzz"} & set(rel.parts):
                continue
            mark = "//" if p.suffix in (".h", ".cpp") else "#"
            code = re.sub(r'""".*?"""', "", "\n".join(ln.split(mark)[0] for ln in p.read_text().splitlines()),
                          flags=re.S)
            if pat.search(code):
                users.add(rel.as_posix())
    assert users == documented | generated
