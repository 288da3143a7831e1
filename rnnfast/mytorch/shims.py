"""``rnnfast mytorch install DIR``: thin shim files in a MyTorch handout tree so its own scripts
and tests run on rnnfast. Every file it replaces is backed up (``<file>.rnnfast-orig``); a file
it did not write is never overwritten without ``force``; ``uninstall`` restores the originals."""
from __future__ import annotations

import os
import shutil

MARK = "# rnnfast-mytorch-shim"
BACKUP = ".rnnfast-orig"

# handout path -> module whose public names the shim re-exports
SHIMS = {
    "mytorch/rnn_cell.py": "rnnfast.mytorch.rnn_cell",
    "mytorch/gru_cell.py": "rnnfast.mytorch.gru_cell",
    "mytorch/nn/linear.py": "rnnfast.mytorch.nn.linear",
    "mytorch/nn/activation.py": "rnnfast.mytorch.nn.activation",
    "mytorch/nn/loss.py": "rnnfast.mytorch.nn.loss",
    "models/rnn_classifier.py": "rnnfast.mytorch.models.rnn_classifier",
    "models/char_predictor.py": "rnnfast.mytorch.models.char_predictor",
    "models/GRU.py": "rnnfast.mytorch.models.GRU",
    "CTC/CTC.py": "rnnfast.mytorch.CTC.CTC",
    "CTC/CTCDecoding.py": "rnnfast.mytorch.CTC.CTCDecoding",
    "train_end2end.py": "rnnfast.mytorch.train_end2end",
}


def shim_text(module: str) -> str:
    return (f"{MARK}: written by `rnnfast mytorch install`; `rnnfast mytorch uninstall` restores the original.\n"
            f"import {module} as _impl\n"
            f"from {module} import *  # noqa: F401,F403\n"
            f"globals().update({{k: v for k, v in vars(_impl).items() if not k.startswith('__')}})\n"
            f"if __name__ == '__main__' and hasattr(_impl, 'train'):\n"
            f"    _impl.train()\n")


def _is_shim(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(MARK)
    except (OSError, UnicodeDecodeError):
        return False


def plan_install(root: str, force: bool = False) -> list:
    """[(action, path)]: "write" (new), "backup+write", "refresh" (our own shim), or "refuse"."""
    actions = []
    for rel in SHIMS:
        p = os.path.join(root, rel)
        if not os.path.exists(p):
            actions.append(("write", p))
        elif _is_shim(p):
            actions.append(("refresh", p))
        elif os.path.exists(p + BACKUP):
            actions.append(("refuse", p))  # a backup already exists: never overwrite it
        else:
            actions.append(("backup+write", p) if force else ("refuse", p))
    return actions


def install(root: str, force: bool = False, dry_run: bool = False, log=print) -> int:
    if not os.path.isdir(root):
        log(f"rnnfast mytorch install: {root} is not a directory")
        return 2
    actions = plan_install(root, force)
    refused = [p for a, p in actions if a == "refuse"]
    if refused:
        for p in refused:
            why = "a backup already exists" if os.path.exists(p + BACKUP) else "it was not written by rnnfast"
            log(f"refusing to replace {p}: {why} (use --force to back it up and replace it)")
        return 1
    for action, p in actions:
        rel = os.path.relpath(p, root)
        log(f"{'would ' if dry_run else ''}{action} {p}" + (f" (original kept as {p + BACKUP})"
                                                           if action == "backup+write" else ""))
        if dry_run:
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if action == "backup+write":
            shutil.copy2(p, p + BACKUP)
        tmp = p + ".rnnfast-tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(shim_text(SHIMS[rel.replace(os.sep, "/")]))
        os.replace(tmp, p)
    return 0


def uninstall(root: str, dry_run: bool = False, log=print) -> int:
    for rel in SHIMS:
        p = os.path.join(root, rel)
        if os.path.exists(p + BACKUP):
            if os.path.exists(p) and not _is_shim(p):
                log(f"leaving {p} alone: it was changed after install (the original is still in {p + BACKUP})")
                continue
            log(f"{'would restore' if dry_run else 'restore'} {p}")
            if not dry_run:
                os.replace(p + BACKUP, p)
        elif _is_shim(p):
            log(f"{'would remove' if dry_run else 'remove'} {p}")
            if not dry_run:
                os.remove(p)
    return 0
