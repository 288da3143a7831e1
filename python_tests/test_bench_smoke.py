"""Smoke test of the benchmark CLI: `rnnfast bench gru --quick` in-process. Checks the JSON's
structure and that every figure is finite and positive; never speed (the machine is shared)."""
import json
import math

import pytest

from rnnfast import available_backends, cli
from rnnfast.bench.suites import get_suite

pytest.importorskip("threadpoolctl")


def _numbers(obj, path=""):
    """Every (path, number) in a JSON tree; booleans excluded."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "gru.json"
    rc = cli.main(["bench", "gru", "--quick", "--repeats", "2", "--threads", "1", "--json", str(path), "--markdown"])
    assert rc == 0
    with open(path) as f:
        return json.load(f)


def test_json_structure(quick_run):
    d = quick_run
    suite = get_suite("gru")
    assert d["suite"] == "gru"
    m = d["machine"]
    for key in ("cpu", "logical_cpus", "threads", "versions", "blas", "date", "line"):
        assert key in m, key
    assert m["threads"] == 1 and d["config"]["threads"] == 1
    assert d["config"]["dtype"] == "float32"
    assert m["blas"], "threadpoolctl found no BLAS"
    assert {"numpy", "scipy", "torch", "numba", "rnnfast"} <= set(m["versions"])

    expected_impls = [b for b in ("cpp", "numba", "numpy") if b in available_backends()] + ["floor"]
    torch_ok = "torch" not in d["unavailable"]
    if torch_ok:
        expected_impls.append("torch")
    assert len(d["cases"]) == len(suite.quick_shapes) * len(suite.passes)
    for case, (shape, p) in zip(d["cases"], [(s, p) for s in suite.quick_shapes for p in suite.passes]):
        assert tuple(case["shape"].values()) == shape and case["pass"] == p
        T, B, I, H = shape
        f = 2 * T * B * (I + H) * 3 * H
        assert case["flops"] == (f if p == "fwd" else 3 * f)
        assert sorted(case["results"]) == sorted(expected_impls)
        for name, st in case["results"].items():
            assert st["repeats"] >= 2  # timed calls
            assert st["min_ms"] <= st["median_ms"]
            assert "gflops" in st
            if name in ("cpp", "numba", "numpy"):
                assert "ratio_to_floor" in st
                if torch_ok:
                    assert "speedup_vs_baseline" in st
                    # the contenders computed the same thing as torch (all outputs and gradients)
                    assert st["max_rel_err"] < 1e-3, (name, case["label"], p, st["worst_result"])


def test_every_number_finite_and_positive(quick_run):
    nums = list(_numbers(quick_run["cases"]))
    assert len(nums) > 20
    for path, v in nums:
        assert math.isfinite(v), path
        if path.endswith(("max_rel_err", "other_load")):
            assert v >= 0, path
        else:
            assert v > 0, path


def test_markdown_table(quick_run):
    from rnnfast.bench.common import markdown

    md = markdown(quick_run)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "---" not in ln]
    n_rows = sum(len(c["results"]) for c in quick_run["cases"])
    assert len(rows) == 1 + n_rows  # header + one row per contender and case
    assert quick_run["machine"]["line"] in md


@pytest.mark.parametrize("engine", ["numba", "scipy-f2py"])
def test_gemm_floor_products_are_right(engine):
    """Every equivalent form the floor may time computes the product it claims (SciPy's BLAS)."""
    np = pytest.importorskip("numpy")
    from rnnfast.bench.common import GemmOp, floor_engine, gemm_callable

    if engine == "numba" and floor_engine() != "numba":
        pytest.skip("numba not installed")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for op in GemmOp(3, 5, 7, 6).variants():
            fn, A, B, C = gemm_callable(op, dtype, rng, engine)
            assert fn() is None
            a = A[-1] if op.vary == "a" else A  # the last call's operands
            b = B[-1] if op.vary == "b" else B
            ref = (a.T if op.trans_a else a).astype(np.float64) @ (b.T if op.trans_b else b).astype(np.float64)
            assert C.shape == (op.M, op.N)
            np.testing.assert_allclose(C, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_cli_errors(capsys):
    assert cli.main(["bench", "no-such-suite"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert cli.main([]) == 2  # no command: help
    assert "bench" in capsys.readouterr().out


def test_broken_command_does_not_break_cli(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "broken", "rnnfast.no_such_module:register")
    assert cli.main(["broken"]) == 1
    assert "rnnfast.no_such_module" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--help"])
    assert e.value.code == 0
    assert "--threads" in capsys.readouterr().out
