"""The installed package: the compiled extension is the one being tested, and CI's required backends exist."""
import os

import pytest

import rnnfast


def test_required_backends_present():
    required = [b for b in os.environ.get("RNNFAST_REQUIRE_BACKENDS", "").split(",") if b]
    if not required:
        pytest.skip("RNNFAST_REQUIRE_BACKENDS not set (CI sets it)")
    missing = [b for b in required if b not in rnnfast.available_backends()]
    assert not missing, f"backends {missing} unavailable: {rnnfast._backend._errors}"


def test_cpp_extension_ready():
    if "cpp" not in rnnfast.available_backends():
        pytest.skip(f"cpp backend unavailable: {rnnfast._backend._errors.get('cpp')}")
    from rnnfast import _core

    assert _core.blas_ready()
    assert rnnfast._backend.kernels("cpp").gru_forward is _core.gru_forward
