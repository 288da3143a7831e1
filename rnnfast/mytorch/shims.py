"""``rnnfast mytorch install DIR``: thin shim files in a MyTorch handout tree so its own scripts
and tests run on rnnfast. Every file it replaces is backed up (``<file>.rnnfast-orig``); a file
it did not write is never overwritten without ``force``; ``uninstall`` restores the originals."""
from __future__ import annotations

import hashlib
import os
import shutil

MARK = "# rnnfast-mytorch-shim"
BACKUP = ".rnnfast-orig"

HANDOUT_DIRS = ("mytorch", "models", "CTC")

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
    """The shim for a handout file: re-exports ``module`` (every name, so that module-level helpers
    resolve too) and runs its ``train()`` as a script. The first line carries a hash of the rest, so
    a shim edited by hand is recognised as the user's file (never overwritten or removed)."""
    body = (f"import {module} as _impl\n"
            f"from {module} import *  # noqa: F401,F403\n"
            f"globals().update({{k: v for k, v in vars(_impl).items() if not k.startswith('__')}})\n"
            f"if __name__ == '__main__' and hasattr(_impl, 'train'):\n"
            f"    _impl.train()\n")
    return (f"{MARK} sha256={_digest(body)}: written by `rnnfast mytorch install`; "
            f"`rnnfast mytorch uninstall` restores the original.\n{body}")


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def _is_shim(path: str) -> bool:
    """True only for an unmodified shim written by install (of any rnnfast version)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first, body = f.readline(), f.read()
    except (OSError, UnicodeDecodeError):
        return False
    head = f"{MARK} sha256="
    return first.startswith(head) and first[len(head):len(head) + 16] == _digest(body)


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


def looks_like_handout(root: str) -> bool:
    """True if ``root`` has at least one of the handout's folders (mytorch/, models/, CTC/)."""
    return any(os.path.isdir(os.path.join(root, d)) for d in HANDOUT_DIRS)


def install(root: str, force: bool = False, dry_run: bool = False, log=print) -> int:
    """Write the shims into the handout tree ``root``; returns the exit code (0 done, 1 refused,
    2 bad folder). Nothing is written if anything is refused."""
    if not os.path.isdir(root):
        log(f"rnnfast mytorch install: {root} is not a directory")
        return 2
    if not looks_like_handout(root) and not force:
        log(f"rnnfast mytorch install: {root} has none of the handout folders {', '.join(HANDOUT_DIRS)} "
            "(give the handout's root folder, or --force to create them)")
        return 2
    actions = plan_install(root, force)
    refused = [p for a, p in actions if a == "refuse"]
    if refused:
        for p in refused:
            if os.path.exists(p + BACKUP):
                log(f"refusing to replace {p}: it is not rnnfast's shim and a backup {p + BACKUP} already exists "
                    "(move one of them away first; nothing is ever overwritten)")
            else:
                log(f"refusing to replace {p}: it was not written by rnnfast (use --force to back it up as "
                    f"{p + BACKUP} and replace it)")
        log("nothing was changed")
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
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(shim_text(SHIMS[rel.replace(os.sep, "/")]))
        os.replace(tmp, p)
    return 0


def uninstall(root: str, dry_run: bool = False, log=print) -> int:
    """Remove the shims, restoring every backed-up original; a file changed since install is left
    alone (with its backup). Returns 0, or 1 if something was left alone."""
    if not os.path.isdir(root):
        log(f"rnnfast mytorch uninstall: {root} is not a directory")
        return 2
    rc = 0
    for rel in SHIMS:
        p = os.path.join(root, rel)
        if os.path.exists(p + BACKUP):
            if os.path.exists(p) and not _is_shim(p):
                log(f"leaving {p} alone: it was changed after install (the original is still in {p + BACKUP})")
                rc = 1
                continue
            log(f"{'would restore' if dry_run else 'restore'} {p}")
            if not dry_run:
                os.replace(p + BACKUP, p)
        elif _is_shim(p):
            log(f"{'would remove' if dry_run else 'remove'} {p}")
            if not dry_run:
                os.remove(p)
    return rc
