"""rnnfast.mytorch: the MyTorch classes of CMU 11-785 HW3P1 (and its bonus) on rnnfast's kernels,
so homework-style code runs unchanged (spec: MyTorch API, see docs).

Two ways to drop it in:

* ``rnnfast.mytorch.install_import_aliases()`` registers every module name a handout imports,
  as packages (``mytorch.gru_cell``, ``models.GRU``, ``CTC.CTC``) and as the top-level names its
  tests use after extending ``sys.path`` (``gru_cell``, ``nn.linear``, ``CTCDecoding``, ...).
* ``rnnfast mytorch install DIR`` writes thin shim files into a handout tree (backing up every
  file it replaces; ``rnnfast mytorch uninstall DIR`` restores them).
"""
import importlib
import sys

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


def install_import_aliases(overwrite: bool = False) -> list:
    """Register the handout module names in ``sys.modules`` so that ``import mytorch.gru_cell``,
    ``from nn.loss import SoftmaxCrossEntropy``, ``import CTC.CTC`` ... give rnnfast's classes.

    A name already imported from elsewhere is left alone (with the names under it: ``nn.linear``
    is not grafted onto someone else's ``nn``) unless ``overwrite``. Returns the names registered.
    """
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
