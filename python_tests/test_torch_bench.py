"""The torch_bridge benchmark suite runs (quick shapes, minimal timing) and its contenders agree."""
import io

import pytest

pytest.importorskip("torch")


def test_torch_bridge_suite_quick():
    from rnnfast.bench.common import Options, run_suite
    from rnnfast.bench.suites.torch_bridge import SUITE

    out = io.StringIO()
    res = run_suite(SUITE, Options(quick=True, backends=["cpp"], repeats=1, budget=0.01, warmup=1, settle=0.0),
                    out=out)
    cases = {c["label"].split()[0]: c["results"] for c in res["cases"]}
    assert set(cases) == {"gru_ctc", "lstm_lm", "gru_stream", "overhead"}
    for name, r in cases.items():
        assert {"torch", "cpp"} <= set(r), (name, r)
        assert r["cpp"]["median_ms"] > 0
    assert "kernel" in cases["overhead"]
    # outputs that can be compared (streaming state; overhead case's outputs and gradients) agree
    assert cases["gru_stream"]["cpp"]["max_rel_err"] < 1e-4
    assert cases["overhead"]["cpp"]["max_rel_err"] < 1e-4
    assert cases["overhead"]["kernel"]["max_rel_err"] < 1e-4
    assert "WARNING" not in out.getvalue()
