"""OpenBLAS kernel-set selection at import (rnnfast/_blas_arch.py)."""
import json
import os
import subprocess
import sys

import pytest

from rnnfast import _blas_arch

AVX512 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma"}


def test_auto_rule():
    assert _blas_arch.auto_coretype("AuthenticAMD", AVX512) == "SkylakeX"
    assert _blas_arch.auto_coretype("AuthenticAMD", AVX512 - {"avx512bw"}) is None  # e.g. no BW: keep
    assert _blas_arch.auto_coretype("AuthenticAMD", {"avx2", "fma"}) is None        # Zen 3
    assert _blas_arch.auto_coretype("GenuineIntel", AVX512) is None                 # OpenBLAS knows Intel


def test_cpuinfo_parse(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f\n\n"
                 "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu\n")
    assert _blas_arch._cpuinfo(str(p)) == ("AuthenticAMD", {"fpu", "avx2", "avx512f"})
    assert _blas_arch._cpuinfo(str(tmp_path / "missing")) == ("", set())


@pytest.mark.parametrize("env, expect, value", [
    ({"OPENBLAS_CORETYPE": "Haswell"}, "user", "Haswell"),
    ({"OPENBLAS_CORETYPE": "Haswell", "RNNFAST_OPENBLAS_CORETYPE": "SkylakeX"}, "user", "Haswell"),
    ({"RNNFAST_OPENBLAS_CORETYPE": "off"}, "off", None),
    ({"RNNFAST_OPENBLAS_CORETYPE": ""}, "off", None),
])
def test_precedence(env, expect, value):
    env = dict(env)
    assert _blas_arch.select_openblas_coretype(env) == expect
    assert env.get("OPENBLAS_CORETYPE") == value


def test_too_late_changes_nothing():
    import scipy.linalg  # noqa: F401  (loaded: OpenBLAS has made its choice)

    env = {"RNNFAST_OPENBLAS_CORETYPE": "SkylakeX"}
    assert _blas_arch.select_openblas_coretype(env) == "late"
    assert "OPENBLAS_CORETYPE" not in env


_PROBE = ("import json, rnnfast, threadpoolctl; rnnfast.set_num_threads(1); "
          "arch = [d.get('architecture') for d in threadpoolctl.threadpool_info() "
          "if 'libscipy_openblas-' in d['filepath'] or 'libscipy_openblas.' in d['filepath']]; "
          "import os; print(json.dumps([rnnfast._blas_arch.decision, arch])); "
          "print(json.dumps([rnnfast._blas_arch.timeout_decision, os.environ.get('OPENBLAS_THREAD_TIMEOUT')]))")


def _probe(**env):
    e = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "RNNFAST_OPENBLAS_CORETYPE",
                                                          "OPENBLAS_THREAD_TIMEOUT", "RNNFAST_OPENBLAS_THREAD_TIMEOUT")}
    e.update(env)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=e, capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    _probe.timeout = json.loads(lines[-1])
    return json.loads(lines[-2])


def test_import_applies_choice_in_fresh_process():
    """A fresh ``import rnnfast`` loads SciPy's OpenBLAS with the chosen kernel set."""
    want = _blas_arch.auto_coretype(*_blas_arch._cpuinfo())
    decision, arch = _probe()
    if want is None:
        assert decision == "auto:none"
    else:
        assert decision == f"auto:{want}"
        assert arch and all(a == want for a in arch), arch
    decision, arch = _probe(OPENBLAS_CORETYPE="Haswell")  # the user's setting wins
    assert decision == "user" and arch and all(a == "Haswell" for a in arch)


@pytest.mark.parametrize("env, expect, value", [
    ({}, "set:16", "16"),
    ({"OPENBLAS_THREAD_TIMEOUT": "28"}, "user", "28"),
    ({"OPENBLAS_THREAD_TIMEOUT": "28", "RNNFAST_OPENBLAS_THREAD_TIMEOUT": "12"}, "user", "28"),
    ({"RNNFAST_OPENBLAS_THREAD_TIMEOUT": "12"}, "set:12", "12"),
    ({"RNNFAST_OPENBLAS_THREAD_TIMEOUT": "off"}, "off", None),
])
def test_thread_timeout_precedence(env, expect, value, monkeypatch):
    monkeypatch.delitem(sys.modules, "scipy.linalg", raising=False)  # as in a process that has not loaded it
    env = dict(env)
    assert _blas_arch.select_openblas_thread_timeout(env) == expect
    assert env.get("OPENBLAS_THREAD_TIMEOUT") == value


def test_thread_timeout_in_fresh_process():
    """A fresh ``import rnnfast`` asks SciPy's OpenBLAS to stop spinning idle workers after 2^16 cycles
    (they would share a core with a thread team's helper); the user's own setting wins."""
    _probe()
    assert _probe.timeout == ["set:16", "16"]
    _probe(OPENBLAS_THREAD_TIMEOUT="20")
    assert _probe.timeout == ["user", "20"]
