"""Smoke tests of the benchmark: the CLI's quick run (JSON structure, every figure finite and
positive), the default-run machinery on a tiny in-process suite (mode shapes, JSON rewritten after
every case, a stopped run keeping its cases, progress and ETA, the summary table with its legend,
targets and disturbed-load warning, the machine line and the large-SGEMM rate), the recurrence
suites against torch, and the bench without torch. Never speed (the machine is shared)."""
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from rnnfast import available_backends, cli
from rnnfast.bench import report, runner
from rnnfast.bench.floor import GemmFloor, GemmOp
from rnnfast.bench.progress import Progress
from rnnfast.bench.suite import Suite, Target
from rnnfast.bench.suites import SUITES, get_suite
from rnnfast.bench.timing import Options

pytest.importorskip("threadpoolctl")

ROOT = Path(__file__).resolve().parents[1]


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


# ------------------------------------------------------------------------------ the CLI's quick run
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
    assert d["suite"] == "gru" and d["complete"] is True
    m = d["machine"]
    for key in ("cpu", "isa", "logical_cpus", "threads", "versions", "blas", "openblas_coretype", "sgemm",
                "date", "line"):
        assert key in m, key
    assert m["threads"] == 1 and d["config"]["threads"] == 1
    assert d["config"]["dtype"] == "float32" and d["config"]["mode"] == "quick"
    assert m["blas"], "threadpoolctl found no BLAS"
    assert {"numpy", "scipy", "torch", "numba", "rnnfast"} <= set(m["versions"])
    assert m["sgemm"]["gflops"] > 0 and m["sgemm"]["threads"] == 1

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
            # the share of the run's large-SGEMM rate (the recurrence suites' target at the largest shape)
            assert st["sgemm_fraction"] == pytest.approx(st["gflops"] / m["sgemm"]["gflops"])
            if name in ("cpp", "numba", "numpy"):
                assert "ratio_to_floor" in st
                if torch_ok:
                    assert "speedup_vs_baseline" in st
                    # the contenders computed the same thing as torch (all outputs and gradients)
                    assert st["max_rel_err"] < 1e-3, (name, case["label"], p, st["worst_result"])


def test_sgemm_target_reads_the_share_of_the_large_sgemm_rate():
    """Target metric "sgemm": GFLOP/s over the large SGEMM of the same run, met at or above the value."""
    from rnnfast.bench.suite import Target

    t = Target("cpp", "sgemm", ">=", 0.7, [(1, 2)], ("fwdbwd",))

    def case(frac):
        return {"shape": {"a": 1, "b": 2}, "label": "a=1 b=2", "pass": "fwdbwd",
                "results": {"cpp": {"median_ms": 1.0, "gflops": 70.0, "sgemm_fraction": frac}}}

    assert t.evaluate(case(0.71), ("a", "b"))["met"] is True
    assert t.evaluate(case(0.69), ("a", "b"))["met"] is False
    assert "large SGEMM >= 0.7" in t.describe()
    assert t.evaluate(dict(case(0.9), **{"pass": "fwd"}), ("a", "b")) is None  # another pass: not checked


def test_recurrence_suites_state_the_per_step_product_goals():
    """The gru/lstm/rnn suites check the project's speed goals at every run (float32, forward+backward)."""
    from rnnfast.bench.suites.recurrence import SHAPES

    def goals(name):
        return {(t.impl, t.metric, t.value, tuple(map(tuple, t.shapes))) for t in get_suite(name).targets}

    large = (tuple(SHAPES[4]),)
    for name in ("gru", "lstm", "rnn"):
        assert ("cpp", "sgemm", 0.7, large) in goals(name)
        assert ("numba", "vs:cpp", 2, tuple(SHAPES[1:])) in goals(name)
    assert ("cpp", "speedup", 3, (SHAPES[0],)) in goals("lstm")
    assert ("cpp", "speedup", 1, tuple(SHAPES[1:])) in goals("lstm")
    assert ("cpp", "speedup", 4, (SHAPES[1],)) in goals("gru")
    assert ("cpp", "speedup", 1.3, tuple(SHAPES[2:])) in goals("gru")
    assert ("cpp", "speedup", 3, (SHAPES[1],)) in goals("rnn")
    assert ("cpp", "speedup", 1.1, tuple(SHAPES[2:])) in goals("rnn")


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


def test_floor_form_chosen_by_the_run():
    """A suite's floor (best=None) takes the run's --floor choice at prepare(); a fixed one keeps its own."""
    op = GemmOp(2, 3, 5, 4, trans_b=True)
    stated = GemmFloor([op], np.float32).prepare(False)
    assert stated.ops == [op] and stated.best is False
    best = GemmFloor([op], np.float32).prepare(True)
    assert best.ops[0] in list(op.variants()) and best.best is True
    fixed = GemmFloor([op], np.float32, best=False).prepare(True)
    assert fixed.ops == [op]


def test_cli_errors(capsys):
    assert cli.main(["bench", "no-such-suite"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert cli.main(["bench", "gru", "lstm", "--shape", "1,2,3,4"]) == 2
    assert "--shape needs exactly one suite" in capsys.readouterr().err
    assert cli.main(["bench", "gru", "--quick", "--no-json", "--backends", "cpp,fortran"]) == 1
    assert "unknown backend 'fortran'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", "--full", "--quick"])
    capsys.readouterr()
    assert cli.main([]) == 2  # no command: help
    assert "bench" in capsys.readouterr().out


def test_broken_command_does_not_break_cli(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "broken", "rnnfast.no_such_module:register")
    assert cli.main(["broken"]) == 1
    assert "rnnfast.no_such_module" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--threads" in out and "--full" in out and "--quick" in out


# ------------------------------------------------------------------------------ registry
def test_registry_default_shapes_are_part_of_the_protocol():
    """Every suite that loads has 1-3 default shapes (at most 2 by default), all from its full list."""
    loaded = 0
    for name in SUITES:
        try:
            s = get_suite(name)
        except ImportError:
            continue
        loaded += 1
        d = s.shapes_for("default")
        assert 1 <= len(d) <= 3, name
        assert set(d) <= {tuple(x) for x in s.shapes}, name
        assert s.shapes_for("full") == [tuple(x) for x in s.shapes]
        assert s.shapes_for("quick") == [tuple(x) for x in s.quick_shapes]
    assert loaded >= 7


@pytest.mark.parametrize("name", ["gru", "lstm", "rnn"])
def test_recurrence_suite_matches_torch(name):
    """The parametrised recurrence suite: same result names for torch and every backend, same values."""
    pytest.importorskip("torch")
    s = get_suite(name)
    d = s.setup((5, 3, 4, 6), np.dtype(np.float64), np.random.default_rng(0))
    ref = s.baseline_impl(d)
    for backend in available_backends():
        impl = s.backend_impl(d, backend)
        for p in s.passes:
            want, got = ref[p](), impl[p]()
            assert set(got) == set(want), (backend, p)
            for k in want:
                b = want[k].detach().numpy()
                assert np.abs(got[k] - b).max() <= 1e-9 * max(np.abs(b).max(), 1), (backend, p, k)
    names = set(s.baseline_impl(d)["fwdbwd"]())
    assert {"y", "h_n", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"} <= names
    assert ({"c_n", "dc0"} <= names) == (name == "lstm")


# ------------------------------------------------------------------------------ default-run machinery
class TinySuite(Suite):
    """Fast fake contenders: a 'torch' baseline (plain NumPy, no torch), one product per backend,
    a GEMM floor; an impossible target and an easy one."""
    name = "tiny"
    title = "tiny test suite"
    params = ("N",)
    shapes: ClassVar[list] = [(4,), (6,), (8,), (10,)]
    default_shapes: ClassVar[list] = [(6,), (10,)]
    quick_shapes: ClassVar[list] = [(4,)]
    passes = ("fwd",)
    flops_note = "2N^3"
    targets: ClassVar[list] = [Target("numpy", "speedup", ">=", 1e9, [(10,)]), Target("numpy", "speedup", ">=", 0, [(6,)])]
    stop_at = None  # a shape whose setup raises KeyboardInterrupt (a user's Ctrl-C)

    def flops(self, shape):
        return {"fwd": 2.0 * shape[0] ** 3}

    def setup(self, shape, dtype, rng):
        if shape == self.stop_at:
            raise KeyboardInterrupt
        n = shape[0]
        return SimpleNamespace(n=n, a=rng.standard_normal((n, n)).astype(dtype), dtype=dtype)

    def baseline_impl(self, d):
        return {"fwd": lambda: {"c": d.a @ d.a}}

    def backend_impl(self, d, backend):
        return {"fwd": lambda: {"c": np.dot(d.a, d.a)}}

    def floor_impl(self, d):
        return {"fwd": GemmFloor([GemmOp(1, d.n, d.n, d.n)], d.dtype)}


def _run(tmp_path, suite, mode="default", live=False, monkeypatch=None, load=None):
    if load is not None:
        class FixedLoad:
            frac = load

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False
        monkeypatch.setattr(runner, "LoadMeter", FixedLoad)
    opts = Options(threads=1, mode=mode, backends=["numpy"], budget=0.0, settle=0.0, repeats=1)
    out = io.StringIO()
    res = runner.run([suite.name], opts, lambda n: suite, out=out, json_path=lambda n: tmp_path / f"{n}.json",
                     live=live, sgemm_n=64)
    return res, out.getvalue()


def test_default_run_shapes_summary_and_json_after_each_case(tmp_path, monkeypatch):
    snapshots = []
    real_write = report.write_json

    def spy(result, path):
        snapshots.append((len(result["cases"]), result["complete"]))
        return real_write(result, path)
    monkeypatch.setattr(report, "write_json", spy)
    res, text = _run(tmp_path, TinySuite(), monkeypatch=monkeypatch, load=0.0)
    assert not res["stopped"] and not res["errors"]
    # the default run times the default shapes only; JSON rewritten after each case, then marked complete
    assert [c["label"] for c in res["results"][0]["cases"]] == ["N=6", "N=10"]
    assert snapshots == [(1, False), (2, False), (2, True)]
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["complete"] is True and saved["config"]["mode"] == "default" and len(saved["cases"]) == 2
    assert saved["machine"]["sgemm"]["gflops"] > 0
    # machine line: CPU, instruction-set level, BLAS kernel set, OPENBLAS_CORETYPE origin, threads
    line = saved["machine"]["line"]
    assert "ISA " in line and "kernels " in line and "OPENBLAS_CORETYPE" in line and "1 threads" in line
    # progress and the summary table
    assert "## suite 1 of 1: tiny (2 cases" in text and "ETA" in text
    summary = text[text.index("== Summary"):]
    assert f"Machine: {line}" in summary
    assert "speed-up" in summary and "x floor" in summary and "targets" in summary
    rows = [ln for ln in summary.splitlines() if "N=" in ln and not ln.startswith("target")]
    assert len(rows) == 2
    assert "0/1 MISSED" in rows[1] and "1/1 met" in rows[0]
    assert report.LEGEND in summary
    assert "(N x floor)" in report.LEGEND and '"target ... MISSED"' in report.LEGEND
    assert any(ln.startswith("target numpy: speed-up vs baseline >= 1e+09x") and ln.endswith("MISSED")
               for ln in summary.splitlines())
    assert "Large SGEMM in this run:" in summary and "GFLOP/s" in summary
    assert "WARNING" not in summary and "*" not in summary  # a quiet machine (the load meter is faked)


def test_summary_warns_about_disturbed_cases(tmp_path, monkeypatch):
    _, text = _run(tmp_path, TinySuite(), monkeypatch=monkeypatch, load=0.35)
    summary = text[text.index("== Summary"):]
    assert "WARNING: other processes used more than 10% of the CPUs during 2 of 2 cases" in summary
    assert "up to 35%" in summary
    assert "DISTURBED" in text  # the case lines say so too


def test_quiet_cases_give_no_warning(tmp_path, monkeypatch):
    _, text = _run(tmp_path, TinySuite(), monkeypatch=monkeypatch, load=0.02)
    assert "WARNING" not in text


def test_modes_pick_their_shapes(tmp_path):
    full, _ = _run(tmp_path, TinySuite(), mode="full")
    quick, _ = _run(tmp_path, TinySuite(), mode="quick")
    assert [c["label"] for c in full["results"][0]["cases"]] == ["N=4", "N=6", "N=8", "N=10"]
    assert [c["label"] for c in quick["results"][0]["cases"]] == ["N=4"]

    class NoDefault(TinySuite):
        default_shapes = None
    assert NoDefault().shapes_for("default") == [(4,), (6,)]  # the first two of the full list


def test_stopped_run_keeps_its_cases(tmp_path):
    s = TinySuite()
    s.stop_at = (10,)
    res, text = _run(tmp_path, s)
    assert res["stopped"]
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["complete"] is False and [c["label"] for c in saved["cases"]] == ["N=6"]
    assert [r["met"] for r in saved["targets"]] == [True]  # the targets of the cases done
    summary = text[text.index("== Summary"):]
    assert "run stopped early" in summary and "N=6" in summary and "1/1 met" in summary  # targets of the cases done


def test_live_progress_bar_and_eta():
    out = io.StringIO()
    p = Progress([("a", 2, 1.0), ("b", 3, 1.0), ("c", 1, 1.0)], out, live=True)
    p.start_suite(1)
    p.update(0.5)
    p.case_done()
    text = p.text()
    assert text.startswith("[suite 2 of 3: b] |") and "1/3 cases" in text and "ETA" in text
    assert "\r" in out.getvalue()
    assert p.eta() > 0


def test_unloadable_suite_is_reported(tmp_path):
    def load(name):
        raise ModuleNotFoundError("No module named 'rnnfast.bench.suites.nothing'")
    opts = Options(threads=1, mode="quick", backends=["numpy"], budget=0.0, settle=0.0, repeats=1)
    out = io.StringIO()
    res = runner.run(["nothing"], opts, load, out=out, sgemm_n=64)
    assert "suite nothing" in res["unavailable"]
    assert "NOT RUN: suite nothing" in out.getvalue()


# ------------------------------------------------------------------------------ without torch
def test_bench_without_torch_says_how_to_install_it(tmp_path):
    """torch hidden (sys.modules block) in a subprocess: the bench says the baseline is unavailable
    and how to install it, and still times rnnfast's backends."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from rnnfast.bench.__main__ import main\n"
            "sys.exit(main(['ctc', '--quick', '--threads', '1', '--backends', 'numpy', '--json', sys.argv[1]]))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    path = tmp_path / "ctc.json"
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert "PyTorch baseline unavailable" in r.stdout
    assert 'pip install "rnnfast[bench]"' in r.stdout
    assert "NOT RUN: PyTorch baseline" in r.stdout
    saved = json.loads(path.read_text())
    assert "torch" in saved["unavailable"] and saved["machine"]["versions"]["torch"] is None
    assert saved["cases"] and all("numpy" in c["results"] and "torch" not in c["results"] for c in saved["cases"])


def test_options_take_the_mode_settings():
    """The full protocol keeps its settings; the default run is shorter; explicit values win."""
    full, default, quick = Options(), Options(mode="default"), Options(quick=True)
    assert (full.mode, full.rounds(), full.budget, full.settle, full.warmup) == ("full", 5, 1.5, 0.15, 2)
    assert (default.rounds(), default.budget, default.settle, default.warmup) == (3, 0.3, 0.15, 2)
    assert (quick.mode, quick.rounds(), quick.budget, quick.settle) == ("quick", 2, 0.0, 0.0)
    assert Options(mode="default", budget=2.0, repeats=7).budget == 2.0
    assert Options(mode="default", repeats=7).rounds() == 7
    with pytest.raises(ValueError, match="mode"):
        Options(mode="fast")
    assert report.default_json_path("gru", mode="default").name.endswith("gru-default.json")
    assert report.default_json_path("gru").name.endswith("gru.json")
    assert report.default_json_path("gru", quick=True).name.endswith("gru-quick.json")
