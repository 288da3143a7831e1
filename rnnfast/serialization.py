"""Save and load parameters as ``.npz`` files (NumPy's zip of ``.npy`` arrays, no pickle).

    rnnfast.save(model, "model.npz")                 # or a state dict {name: array}
    model.load_state_dict(rnnfast.load("model.npz"))

``save`` never replaces an existing file unless ``overwrite=True``; when it does, it can keep the
old file as ``<path>.bak`` (``backup=True``). Files are written to a temporary file in the same
folder and renamed into place, so an interrupted save never leaves a truncated file behind.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

__all__ = ["save", "load"]

_FORMAT_KEY = "__rnnfast_format__"
_FORMAT = "rnnfast-state-dict-1"


def _state_dict(obj) -> "OrderedDict[str, np.ndarray]":
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"save expects a module (with state_dict()) or a dict of arrays, got {type(obj).__name__}")
    out = OrderedDict()
    for k, v in obj.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"state dict keys must be non-empty strings, got {k!r}")
        if k == _FORMAT_KEY:
            raise ValueError(f"the key {k!r} is reserved")
        a = v if isinstance(v, np.ndarray) else getattr(v, "data", v)  # a Parameter -> its array
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
        if a.dtype == object:
            raise TypeError(f"state dict entry {k!r} is not numeric (dtype object); only arrays can be saved")
        out[k] = a
    return out


def save(module_or_state_dict, path, *, overwrite: bool = False, backup: bool = False) -> str:
    """Write a module's ``state_dict()`` (or a dict of arrays) to ``path`` (an ``.npz`` file).

    Parameters
    ----------
    module_or_state_dict : module with ``state_dict()`` or dict ``{name: array}``
    path : str or os.PathLike
        Written exactly as given (no suffix is added).
    overwrite : bool
        If False (default) and ``path`` exists, raise ``FileExistsError`` and leave it untouched.
    backup : bool
        With ``overwrite=True``, first copy the existing file to ``<path>.bak`` (refusing if
        that backup already exists).

    Returns
    -------
    The path written, as a string.
    """
    arrays = _state_dict(module_or_state_dict)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: {path!r} is a directory; give a file name such as model.npz")
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"save: {path!r} exists; pass overwrite=True to replace it "
                                  "(and backup=True to keep the old file as .bak)")
        if backup:
            bak = path + ".bak"
            if os.path.exists(bak):
                raise FileExistsError(f"save: backup {bak!r} already exists; move it away first")
            with open(path, "rb") as src, open(bak, "xb") as dst:
                dst.write(src.read())
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".rnnfast-save-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            # the same layout as np.savez, written directly so any key (even "file") is allowed
            for k, a in [(_FORMAT_KEY, np.array(_FORMAT)), *arrays.items()]:
                with zf.open(k + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(a), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path) -> "OrderedDict[str, np.ndarray]":
    """Read a file written by :func:`save` (or any ``.npz`` of arrays) into an ordered dict
    ``{name: array}`` with the saved dtypes and shapes. Never unpickles objects."""
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as z:
        if not hasattr(z, "files"):
            raise ValueError(f"load: {path!r} is a single .npy array, not an .npz archive of named arrays")
        return OrderedDict((k, z[k]) for k in z.files if k != _FORMAT_KEY)
