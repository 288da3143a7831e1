"""rnnfast.mytorch: the MyTorch classes of CMU 11-785 HW3P1 (and its bonus) on rnnfast's kernels,
so homework-style code runs unchanged (spec: MyTorch API, see docs).

Two ways to drop it in:

* ``rnnfast.mytorch.install_import_aliases()`` registers every module name a handout imports,
  as packages (``mytorch.gru_cell``, ``models.GRU``, ``CTC.CTC``) and as the top-level names its
  tests use after extending ``sys.path`` (``gru_cell``, ``nn.linear``, ``CTCDecoding``, ...).
* ``rnnfast mytorch install DIR`` detects the handout's semester (Spring 2021, Fall 2022, Spring 2024,
  Spring 2026) and replaces that semester's student files with thin shims (backing up every file it
  replaces; ``rnnfast mytorch uninstall DIR`` restores them). ``install_import_aliases(semester=...)``
  registers the same per-semester module names without touching files.
"""
import importlib
import sys
import types

__all__ = ["MODULES", "install_import_aliases"]

# handout module name -> rnnfast module
MODULES = {
    "mytorch": "rnnfast.mytorch",
    "mytorch.rnn_cell": "rnnfast.mytorch.rnn_cell",
    "mytorch.gru_cell": "rnnfast.mytorch.gru_cell",
    "mytorch.nn": "rnnfast.mytorch.nn",
    "mytorch.nn.linear": "rnnfast.mytorch.nn.linear",
    "mytorch.nn.activation": "rnnfast.mytorch.nn.activation",
    "mytorch.nn.loss": "rnnfast.mytorch.nn.loss",
    "models": "rnnfast.mytorch.models",
    "models.rnn_classifier": "rnnfast.mytorch.models.rnn_classifier",
    "models.char_predictor": "rnnfast.mytorch.models.char_predictor",
    "models.GRU": "rnnfast.mytorch.models.GRU",
    "CTC": "rnnfast.mytorch.CTC",
    "CTC.CTC": "rnnfast.mytorch.CTC.CTC",
    "CTC.CTCDecoding": "rnnfast.mytorch.CTC.CTCDecoding",
    "train_end2end": "rnnfast.mytorch.train_end2end",
    # top-level names used after sys.path.append("mytorch"), ("models"), ("CTC")
    "rnn_cell": "rnnfast.mytorch.rnn_cell",
    "gru_cell": "rnnfast.mytorch.gru_cell",
    "nn": "rnnfast.mytorch.nn",
    "nn.linear": "rnnfast.mytorch.nn.linear",
    "nn.activation": "rnnfast.mytorch.nn.activation",
    "nn.loss": "rnnfast.mytorch.nn.loss",
    "rnn_classifier": "rnnfast.mytorch.models.rnn_classifier",
    "char_predictor": "rnnfast.mytorch.models.char_predictor",
    "CTCDecoding": "rnnfast.mytorch.CTC.CTCDecoding",
}


def install_import_aliases(overwrite: bool = False, semester=None) -> list:
    """Register handout module names in ``sys.modules``.

    Without ``semester``: rnnfast's own complete set, so that ``import mytorch.gru_cell``,
    ``from nn.loss import SoftmaxCrossEntropy``, ``import CTC.CTC`` ... give rnnfast's classes.
    With ``semester`` ("s21", "f22", "s24", "s26"): that semester's student modules, as its tests import
    them (``ctc_loss``, ``search``, ``hw3`` for Spring 2021; ``CTC``, ``CTCDecoding`` for Fall 2022 ...),
    the same classes ``rnnfast mytorch install`` puts into a handout. Course modules (``linear``, ``loss``
    ...) are not registered: the models use the course ``Linear`` found on ``sys.path``, else a
    transcription of that semester's.

    A name already imported from elsewhere is left alone (with the names under it: ``nn.linear``
    is not grafted onto someone else's ``nn``) unless ``overwrite``. Returns the names registered.
    """
    if semester is not None:
        return _semester_aliases(str(semester).lower(), overwrite)
    done = []
    for name, target in MODULES.items():
        parent, _, child = name.rpartition(".")
        if parent and sys.modules.get(parent) is not importlib.import_module(MODULES[parent]):
            continue  # the parent is another package (left alone above): keep out of it
        if name in sys.modules and not overwrite:
            continue
        sys.modules[name] = importlib.import_module(target)
        if parent:  # so that `import mytorch.nn.linear; mytorch.nn.linear` works
            setattr(sys.modules[parent], child, sys.modules[name])
        done.append(name)
    return done


def _semester_aliases(semester, overwrite):
    from .semesters import SEMESTERS, exports_cached

    if semester not in SEMESTERS:
        raise ValueError(f"semester: expected one of {', '.join(SEMESTERS)}, got {semester!r}")
    done = []
    for name, rel in SEMESTERS[semester].modules.items():
        if name in sys.modules and not overwrite:
            continue
        parent, _, child = name.rpartition(".")
        if parent and parent not in sys.modules:
            try:
                importlib.import_module(parent)  # the handout's own package, when it is on sys.path
            except ImportError:
                pkg = types.ModuleType(parent, f"namespace for {semester} aliases")
                pkg.__path__ = []
                sys.modules[parent] = pkg
        mod = types.ModuleType(name, f"{SEMESTERS[semester].title} {rel} on rnnfast")
        names = exports_cached(semester, rel)
        mod.__dict__.update(names)
        mod.__all__ = list(names)
        sys.modules[name] = mod
        if parent:
            setattr(sys.modules[parent], child, mod)
        done.append(name)
    return done
