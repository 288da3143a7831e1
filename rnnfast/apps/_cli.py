"""What the applications share on the command line: user errors reported as one line with exit
code 2, optional packages (a missing one is named with the command that installs it, or the app
works without it), the backend choice checked before any output is written, text files checked
before training."""
from __future__ import annotations

import importlib
import os
import sys

APPS_EXTRA = 'pip install "rnnfast[apps]"'
TORCH_PIN = 'pip install torch==2.13.0 (or pip install "rnnfast[test]")'


# a short public-domain-style text shipped with the package, for demos from a fresh clone
SAMPLE_TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sample.txt")


class UserError(Exception):
    """A mistake in the command line or its input files: reported as one line, exit code 2."""


def report(err: UserError, prog: str = "rnnfast") -> int:
    print(f"{prog}: error: {err}", file=sys.stderr)
    return 2


def call(run, args, prog: str = "rnnfast") -> int:
    """``run(args)``, with a :class:`UserError` turned into its one-line message and exit code 2."""
    try:
        return int(run(args) or 0)
    except UserError as e:
        return report(e, prog)


def need(module: str, what: str):
    """Import ``module`` or raise a UserError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} needs the {module.split('.')[0]} package: {APPS_EXTRA}") from None


def need_torch(flag: str):
    """Import torch for an option that compares with it, before any training starts."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise UserError(f"{flag} needs PyTorch, which is not installed: {TORCH_PIN}") from None


class _NoBar:
    """Stands in for a tqdm bar when tqdm is missing or progress is off."""

    def __init__(self, iterable=None, **kw):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def set_postfix(self, *a, **kw):
        pass

    def set_postfix_str(self, *a, **kw):
        pass

    def set_description(self, *a, **kw):
        pass

    def write(self, s, *a, **kw):
        print(s)

    def close(self):
        pass


def progress_bar(iterable=None, enabled: bool = True, **kw):
    """A tqdm bar, or a silent stand-in when ``enabled`` is false or tqdm is not installed."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return tqdm(iterable, **kw)
    return _NoBar(iterable, **kw)


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed (the caller
    skips its plots and says so once)."""
    try:
        import matplotlib
    except ImportError:
        print(f"plots skipped: matplotlib is not installed ({APPS_EXTRA})", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def select_backend(name=None) -> str:
    """Select ``--backend name`` (or check ``RNNFAST_BACKEND``) before anything is written."""
    import rnnfast

    try:
        if name:
            rnnfast.set_backend(name)
        return rnnfast.get_backend()
    except (ValueError, RuntimeError) as e:
        env = os.environ.get("RNNFAST_BACKEND")
        if not name and env:
            raise UserError(f"environment variable RNNFAST_BACKEND={env!r}: {e}") from None
        raise UserError(f"--backend {name}: {e}") from None


def read_text_file(path: str, flag: str) -> str:
    """The UTF-8 text of ``path``; a UserError naming ``flag`` for a missing, empty or binary file."""
    if not path:
        raise UserError(f"{flag}: give a UTF-8 text file")
    if not os.path.isfile(path):
        raise UserError(f"{flag}: no such file: {path}")
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise UserError(f"{flag}: {path} is empty")
    if b"\0" in data:
        raise UserError(f"{flag}: {path} is a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{flag}: {path} is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r})") from None


def positive(args, names, dash: bool = True):
    """UserError unless every ``args.<name>`` is >= 1 (flags spelt with dashes, or as the names)."""
    for k in names:
        v = getattr(args, k)
        if v is not None and v < 1:
            raise UserError(f"--{k.replace('_', '-') if dash else k} must be >= 1, got {v}")


def text_path(path: str, flag: str) -> str:
    """The path of a text-file option, checked (``sample`` means the bundled sample text)."""
    p = SAMPLE_TEXT if path == "sample" else path
    read_text_file(p, flag)
    return p
