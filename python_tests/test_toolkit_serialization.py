"""rnnfast.save / rnnfast.load: round trip, dtypes, refusing to overwrite, backups."""
import os

import numpy as np
import pytest

import rnnfast
from rnnfast.serialization import load, save


def _sd(seed=0):
    rng = np.random.default_rng(seed)
    return {"gru.weight_ih_l0": rng.standard_normal((12, 3)).astype(np.float32),
            "fc.bias": rng.standard_normal(5),
            "file": np.arange(4),          # names that are also np.savez's argument names are fine
            "scalar": np.float64(2.5)}


def test_round_trip(tmp_path):
    sd = _sd()
    p = tmp_path / "m.npz"
    assert save(sd, p) == str(p)
    back = load(p)
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == np.asarray(sd[k]).dtype
        np.testing.assert_array_equal(back[k], sd[k])
    # plain NumPy reads it too
    with np.load(p) as z:
        np.testing.assert_array_equal(z["fc.bias"], sd["fc.bias"])


def test_top_level_names_and_modules(tmp_path):
    class M:
        def state_dict(self):
            return {"w": np.ones((2, 2))}

    p = tmp_path / "m.npz"
    rnnfast.save(M(), p)
    np.testing.assert_array_equal(rnnfast.load(p)["w"], np.ones((2, 2)))


def test_never_overwrites_without_flag(tmp_path):
    p = tmp_path / "user.npz"
    p.write_bytes(b"precious user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save(_sd(), p)
    assert p.read_bytes() == b"precious user data"
    save(_sd(1), p, overwrite=True, backup=True)
    assert (tmp_path / "user.npz.bak").read_bytes() == b"precious user data"
    np.testing.assert_array_equal(load(p)["fc.bias"], _sd(1)["fc.bias"])
    with pytest.raises(FileExistsError, match="backup"):  # an existing backup is not clobbered either
        save(_sd(2), p, overwrite=True, backup=True)
    np.testing.assert_array_equal(load(p)["fc.bias"], _sd(1)["fc.bias"])
    save(_sd(2), p, overwrite=True)
    np.testing.assert_array_equal(load(p)["fc.bias"], _sd(2)["fc.bias"])
    assert sorted(os.listdir(tmp_path)) == ["user.npz", "user.npz.bak"]  # no temporary files left


def test_bad_inputs(tmp_path):
    with pytest.raises(TypeError, match="dict of arrays"):
        save([1, 2], tmp_path / "a.npz")
    with pytest.raises(TypeError, match="object"):
        save({"a": np.array([None, 1], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(IsADirectoryError):
        save(_sd(), tmp_path)
    with pytest.raises(TypeError, match="strings"):
        save({3: np.ones(2)}, tmp_path / "a.npz")
    assert not (tmp_path / "a.npz").exists()
