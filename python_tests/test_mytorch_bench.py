"""Smoke test of the mytorch benchmark suite (`rnnfast bench mytorch --quick`): every case runs,
and rnnfast's classes and the suite's plain-NumPy implementations agree. Never speed (the machine
is shared)."""
import json

import numpy as np
import pytest

from rnnfast import cli
from rnnfast.bench.suites import get_suite
from rnnfast.bench.suites.mytorch import MODELS

pytest.importorskip("threadpoolctl")


def test_mytorch_suite_quick(tmp_path):
    path = tmp_path / "mytorch.json"
    rc = cli.main(["bench", "mytorch", "--quick", "--repeats", "1", "--threads", "1", "--json", str(path)])
    assert rc == 0
    res = json.loads(path.read_text())
    suite = get_suite("mytorch")
    assert [c["label"].split()[0] for c in res["cases"]] == [f"model={MODELS[s[0]]}" for s in suite.quick_shapes]
    for case in res["cases"]:
        assert "numpy-plain" in case["results"]
        for name, st in case["results"].items():
            assert st["median_ms"] > 0
            if name != "numpy-plain":  # same numbers as the plain-NumPy classes
                assert st["max_rel_err"] < 1e-8, (case["label"], name, st.get("worst_result"))


def test_mytorch_suite_rejects_unknown_model_code():
    with pytest.raises(ValueError, match="model code 9"):
        get_suite("mytorch").setup((9, 1, 1, 2, 3, 1), None, np.random.default_rng(0))
