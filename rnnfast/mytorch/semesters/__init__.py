"""The HW3P1 handouts of four semesters (Spring 2021, Fall 2022, Spring 2024, Spring 2026): which files
are the student's (the only ones ``rnnfast mytorch install`` replaces), what each must export, the
module names their tests import, and how a handout tree is recognised.

A shim file written into a handout calls :func:`fill` with its semester and path: it registers the
handout root (so the models construct the handout's own course ``Linear``) and defines exactly the
names the student's file would (``__all__`` set, so ``import *`` brings nothing else).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["SEMESTERS", "DetectionError", "Semester", "detect", "exports", "fill"]


@dataclass(frozen=True)
class Semester:
    key: str
    title: str
    root_hint: str  # where the handout root sits in the course's archive
    student_files: tuple  # paths (relative to the root) the installer replaces
    modules: dict = field(default_factory=dict)  # module name the tests import -> student file
    handin: str = ""  # folders the hand-in tarball packs
    optional_files: tuple = ()  # student files replaced only when the handout has them (the bonus)


SEMESTERS = {
    "s21": Semester(
        "s21", "Spring 2021", "HW3/HW3P1",
        ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "mytorch/ctc.py", "mytorch/ctc_loss.py", "mytorch/search.py",
         "hw3/rnn_classifier.py", "hw3/hw3.py"),
        {"rnn_cell": "mytorch/rnn_cell.py", "gru_cell": "mytorch/gru_cell.py", "ctc": "mytorch/ctc.py",
         "ctc_loss": "mytorch/ctc_loss.py", "search": "mytorch/search.py", "rnn_classifier": "hw3/rnn_classifier.py",
         "hw3": "hw3/hw3.py"},
        "hw3 mytorch"),
    "f22": Semester(
        "f22", "Fall 2022", "hw3/p1/handout",
        ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "mytorch/CTC.py", "mytorch/CTCDecoding.py",
         "hw3/rnn_classifier.py", "hw3/hw3.py"),
        {"rnn_cell": "mytorch/rnn_cell.py", "gru_cell": "mytorch/gru_cell.py", "CTC": "mytorch/CTC.py",
         "CTCDecoding": "mytorch/CTCDecoding.py", "rnn_classifier": "hw3/rnn_classifier.py", "hw3": "hw3/hw3.py"},
        "hw3 mytorch"),
    "s24": Semester(
        "s24", "Spring 2024", "HW3P1",
        ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "models/rnn_classifier.py", "models/char_predictor.py",
         "CTC/CTC.py", "CTC/CTCDecoding.py"),
        {"rnn_cell": "mytorch/rnn_cell.py", "gru_cell": "mytorch/gru_cell.py",
         "rnn_classifier": "models/rnn_classifier.py",
         "char_predictor": "models/char_predictor.py", "CTC": "CTC/CTC.py", "CTCDecoding": "CTC/CTCDecoding.py"},
        "models MCQ mytorch CTC"),
    "s26": Semester(
        "s26", "Spring 2026", "/",
        ("mytorch/rnn_cell.py", "mytorch/gru_cell.py", "models/rnn_classifier.py", "models/char_predictor.py",
         "CTC/CTC.py", "CTC/CTCDecoding.py"),
        {"mytorch.rnn_cell": "mytorch/rnn_cell.py", "mytorch.gru_cell": "mytorch/gru_cell.py",
         "models.rnn_classifier": "models/rnn_classifier.py", "models.char_predictor": "models/char_predictor.py",
         "CTC.CTC": "CTC/CTC.py", "CTC.CTCDecoding": "CTC/CTCDecoding.py",
         "rnn_cell": "mytorch/rnn_cell.py", "gru_cell": "mytorch/gru_cell.py",
         "rnn_classifier": "models/rnn_classifier.py",
         "char_predictor": "models/char_predictor.py", "CTCDecoding": "CTC/CTCDecoding.py"},
        "models MCQ mytorch CTC", ("models/GRU.py", "train_end2end.py")),
}


def exports(semester: str, rel: str) -> dict:
    """{name: object} the student file ``rel`` of ``semester`` defines (what its tests import)."""
    from ..CTC import CTC as ctc_mod
    from ..CTC import CTCDecoding as dec_mod
    from ..gru_cell import GRUCell
    from ..rnn_cell import RNNCell
    from . import _models, _variants

    sem = SEMESTERS[semester]
    if rel == "models/GRU.py" and rel in sem.optional_files:
        from ..models.GRU import GRU
        return {"GRU": GRU}
    if rel == "train_end2end.py" and rel in sem.optional_files:
        from .. import train_end2end as te
        return {"GRU_CTC": te.GRU_CTC, "make_data": te.make_data, "train": te.train}
    if rel not in sem.student_files:
        raise KeyError(f"{rel} is not a student file of {sem.title} (those are {', '.join(sem.student_files)})")
    name = os.path.splitext(os.path.basename(rel))[0]
    if name == "rnn_cell":
        return {"RNNCell": RNNCell}
    if name == "gru_cell":
        return {"GRUCell": {"s21": _variants.GRUCellS21, "f22": _variants.GRUCellF22}.get(semester, GRUCell)}
    if name == "rnn_classifier":
        cls = _models.classifier(semester)
        out = {"RNNPhonemeClassifier": cls}
        if semester in ("s21", "f22"):
            out["RNN_Phoneme_Classifier"] = cls  # the class's name in earlier handouts
        return out
    if name in ("hw3", "char_predictor"):
        cell = exports(semester, "mytorch/gru_cell.py")["GRUCell"]
        return {"CharacterPredictor": _models.predictor(semester, cell), "inference": _models.inference}
    if semester == "s21":
        return {"ctc": {"CTC": _variants.CTCS21}, "ctc_loss": {"CTCLoss": _variants.CTCLossS21},
                "search": {"GreedySearch": _variants.GreedySearch, "BeamSearch": _variants.BeamSearch}}[name]
    if name == "CTC":
        return {"CTC": ctc_mod.CTC, "CTCLoss": ctc_mod.CTCLoss}
    if name == "CTCDecoding":
        return {"GreedySearchDecoder": dec_mod.GreedySearchDecoder, "BeamSearchDecoder": dec_mod.BeamSearchDecoder}
    raise KeyError(rel)  # pragma: no cover (every student file is covered above)


_made: dict = {}


def exports_cached(semester: str, rel: str) -> dict:
    """:func:`exports`, one set of classes per (semester, file): a module loaded twice (Spring 2026
    imports ``mytorch.rnn_cell`` and ``rnn_cell``) shares its classes."""
    key = (semester, rel)
    if key not in _made:
        _made[key] = exports(semester, rel)
    return _made[key]


def fill(namespace: dict, semester: str, rel: str) -> None:
    """Called by a shim file: define the student file's names in ``namespace`` (its globals) and
    register the handout root (the shim's path minus ``rel``) for the course layers."""
    from . import _course

    here = os.path.abspath(namespace["__file__"])
    root = here
    for _ in rel.split("/"):
        root = os.path.dirname(root)
    _course.register_root(semester, root)
    names = exports_cached(semester, rel)
    namespace.update(names)
    namespace["__all__"] = list(names)


class DetectionError(ValueError):
    """The folder is not a handout of any known semester."""


def _exists(root, rel):
    return os.path.exists(os.path.join(root, *rel.split("/")))


def _read(root, rel):
    try:
        with open(os.path.join(root, *rel.split("/")), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def detect(root: str):
    """(semester key, reasons): which semester's handout ``root`` is, from its files. Raises
    DetectionError listing what was looked for when none fits."""
    found = {k: [r for r in s.student_files if _exists(root, r)] for k, s in SEMESTERS.items()}
    if _exists(root, "mytorch/ctc_loss.py") or _exists(root, "mytorch/search.py"):
        return "s21", [(f"found {', '.join(found['s21'])} (Spring 2021's student files: ctc_loss.py / search.py in "
                        "mytorch/, models in hw3/)")]
    if _exists(root, "mytorch/CTC.py") or _exists(root, "mytorch/CTCDecoding.py"):
        return "f22", [(f"found {', '.join(found['f22'])} (Fall 2022's student files: CTC.py / CTCDecoding.py in "
                        "mytorch/, models in hw3/)")]
    if _exists(root, "CTC/CTC.py") or _exists(root, "CTC/CTCDecoding.py") or _exists(root, "models/char_predictor.py"):
        why = [f"found {', '.join(found['s24'])} (the student files of Spring 2024 and Spring 2026: CTC/, models/)"]
        runner = _read(root, "autograder/runner.py")
        tests = "".join(_read(root, f"autograder/{t}") for t in ("test_rnn.py", "test_ctc.py", "test_gru.py"))
        if "HOMEWORK_APPROACH" in runner or "STANDARD_VERSION" in runner:
            return "s26", why + ["autograder/runner.py selects HOMEWORK_APPROACH (Spring 2026's runner)"]
        if _exists(root, "mytorch/utils.py"):
            return "s26", why + ["mytorch/utils.py exists (Spring 2026)"]
        if "from CTC.CTC import" in tests or "mytorch.rnn_cell" in tests:
            return "s26", why + [("the autograder imports the student files as packages (CTC.CTC, mytorch.rnn_cell): "
                                  "Spring 2026")]
        return "s24", why + [("no Spring 2026 marker (HOMEWORK_APPROACH in autograder/runner.py, mytorch/utils.py, "
                              "package imports in the tests): Spring 2024")]
    looked = ["mytorch/ctc_loss.py or mytorch/search.py (Spring 2021)",
              "mytorch/CTC.py or mytorch/CTCDecoding.py (Fall 2022)",
              "CTC/CTC.py, CTC/CTCDecoding.py or models/char_predictor.py (Spring 2024 / Spring 2026)"]
    raise DetectionError(f"{root} is not a HW3P1 handout root that rnnfast recognises; looked for "
                         + "; ".join(looked) + ". Give the handout's root folder (the one its autograder is run "
                         "from), or choose with --semester {s21,f22,s24,s26}")
