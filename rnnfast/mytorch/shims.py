"""``rnnfast mytorch install|uninstall|status DIR``: run a HW3P1 handout's own autograder on rnnfast.

``install`` detects the semester from the handout's files (or takes ``semester``) and replaces only
that semester's student-implemented files with thin shims (a few lines that define the same names
from rnnfast); course-provided files (Linear, activations, losses, utils, the MCQ file, the
autograder) are never touched. Every replaced file is first copied to ``<file>.rnnfast-orig``
(bytes, mode and times). ``uninstall`` puts the originals back byte for byte. A shim carries a hash
of its own text, so a shim edited by hand is the user's file: it is never overwritten or removed.
"""
from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import stat

from .semesters import SEMESTERS, DetectionError, detect

MARK = "# rnnfast-mytorch-shim"
BACKUP = ".rnnfast-orig"

__all__ = ["BACKUP", "MARK", "install", "plan_install", "shim_text", "status", "uninstall"]


def shim_text(semester: str, rel: str) -> str:
    """The shim for student file ``rel`` of ``semester``. The first line carries a hash of the rest, so
    a shim edited by hand is recognised as the user's file."""
    body = ("from rnnfast.mytorch.semesters import fill as _fill\n"
            f"_fill(globals(), {semester!r}, {rel!r})\n"
            "del _fill\n")
    if rel == "train_end2end.py":  # the bonus script: runs its training when executed
        body += "if __name__ == '__main__':\n    train()\n"
    return (f"{MARK} sha256={_digest(body)}: {SEMESTERS[semester].title} {rel}, written by `rnnfast mytorch install`; "
            f"`rnnfast mytorch uninstall` restores the original (kept as {os.path.basename(rel)}{BACKUP}).\n{body}")


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def _shim_state(path: str) -> str:
    """"shim" (an unmodified shim), "edited" (a shim changed by hand), "file" (anything else),
    "missing"."""
    if not os.path.lexists(path):
        return "missing"
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first, body = f.readline(), f.read()
    except (OSError, UnicodeDecodeError):
        return "file"
    head = f"{MARK} sha256="
    if not first.startswith(head):
        return "file"
    return "shim" if first[len(head):len(head) + 16] == _digest(body) else "edited"


def _all_student_files():
    seen = []
    for s in SEMESTERS.values():
        seen += [r for r in s.student_files + s.optional_files if r not in seen]
    return seen


def _semester(root, semester, log):
    if semester is not None:
        key = semester.lower()
        if key not in SEMESTERS:
            raise DetectionError(f"unknown semester {semester!r}; choose from {', '.join(SEMESTERS)}")
        log(f"semester: {SEMESTERS[key].title} ({key}), as given by --semester")
        return key
    key, why = detect(root)
    log(f"detected {SEMESTERS[key].title} ({key}): " + "; ".join(why))
    return key


def plan_install(root: str, semester: str) -> list:
    """[(action, rel, why)] for ``semester``'s student files: "backup+write", "write" (a missing file, or a
    backup that already holds these bytes), "refresh" (our shim, other text), "keep" (our shim, current),
    or "refuse"."""
    actions = []
    sem = SEMESTERS[semester]
    optional = [r for r in sem.optional_files if os.path.lexists(os.path.join(root, *r.split("/")))]
    for rel in sem.student_files + tuple(optional):
        p = os.path.join(root, *rel.split("/"))
        state = _shim_state(p)
        if state == "missing":
            actions.append(("write", rel, "not in the handout"))
        elif state == "shim":
            with open(p, encoding="utf-8", newline="") as f:
                same = f.read() == shim_text(semester, rel)
            actions.append(("keep", rel, "already installed") if same else ("refresh", rel, "an older rnnfast shim"))
        elif state == "edited":
            why = (f"{p} is an rnnfast shim edited by hand: it is your file now (move it away, or restore the "
                   "original from its backup, and install again)")
            actions.append(("refuse", rel, why))
        elif os.path.lexists(p + BACKUP):
            if os.path.isfile(p + BACKUP) and filecmp.cmp(p, p + BACKUP, shallow=False):
                actions.append(("write", rel, f"the backup {p + BACKUP} already holds this file"))
            else:
                why = (f"a backup {p + BACKUP} already exists with other content than {p} (nothing is ever "
                       "overwritten: move one of them away)")
                actions.append(("refuse", rel, why))
        else:
            actions.append(("backup+write", rel, f"original kept as {os.path.basename(p)}{BACKUP}"))
    return actions


def _handin_note(semester, log):
    log(f"before handing in: run `rnnfast mytorch uninstall` first, then make the tarball "
        f"(it packs {SEMESTERS[semester].handin}: the shims must not be handed in)")


def install(root: str, semester: str | None = None, dry_run: bool = False, log=print) -> int:
    """Replace the detected (or given) semester's student files under ``root`` by shims. Returns the exit
    code: 0 done, 1 refused (nothing changed), 2 not a handout."""
    if not os.path.isdir(root):
        log(f"rnnfast mytorch install: {root} is not a directory")
        return 2
    try:
        sem = _semester(root, semester, log)
    except DetectionError as e:
        log(f"rnnfast mytorch install: {e}")
        return 2
    actions = plan_install(root, sem)
    refused = [(rel, why) for a, rel, why in actions if a == "refuse"]
    if refused:
        for rel, why in refused:
            log(f"refusing to replace {rel}: {why}")
        log("nothing was changed")
        return 1
    for action, rel, why in actions:
        p = os.path.join(root, *rel.split("/"))
        if action == "keep":
            log(f"{rel}: rnnfast's shim is already installed")
            continue
        log(f"{'would ' if dry_run else ''}{action} {rel} ({why})")
        if dry_run:
            continue
        mode = None
        if action == "backup+write":
            shutil.copy2(p, p + BACKUP)
        if os.path.exists(p):
            mode = stat.S_IMODE(os.stat(p).st_mode)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = p + ".rnnfast-tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(shim_text(sem, rel))
        if mode is not None:
            os.chmod(tmp, mode | stat.S_IRUSR | stat.S_IWUSR)
        os.replace(tmp, p)
    if dry_run:
        log("dry run: nothing was changed")
    else:
        log(f"installed: {SEMESTERS[sem].title}'s autograder now runs on rnnfast")
    _handin_note(sem, log)
    return 0


def uninstall(root: str, dry_run: bool = False, log=print) -> int:
    """Remove the shims, restoring every backed-up original (bytes, mode, times); a shim edited since
    install is left alone with its backup. Returns 0, 1 if something was left alone, 2 for a bad folder."""
    if not os.path.isdir(root):
        log(f"rnnfast mytorch uninstall: {root} is not a directory")
        return 2
    rc, done = 0, 0
    for rel in _all_student_files():
        p = os.path.join(root, *rel.split("/"))
        state = _shim_state(p)
        has_backup = os.path.lexists(p + BACKUP)
        if state == "edited":
            log(f"leaving {rel} alone: the shim was edited after install" +
                (f" (the original is still in {rel}{BACKUP})" if has_backup else ""))
            rc = 1
        elif state == "shim":
            done += 1
            if has_backup:
                log(f"{'would restore' if dry_run else 'restore'} {rel}")
                if not dry_run:
                    os.replace(p + BACKUP, p)
            else:
                log(f"{'would remove' if dry_run else 'remove'} {rel} (it was not in the handout)")
                if not dry_run:
                    os.remove(p)
        elif has_backup:
            log(f"leaving {rel} and {rel}{BACKUP} alone: {rel} is not an rnnfast shim (restored by hand?)")
            rc = 1
    if not done and rc == 0:
        log(f"nothing to undo: no rnnfast shims in {root}")
    return rc


def status(root: str, semester: str | None = None, log=print) -> int:
    """Print what is installed under ``root``. Returns 0, or 2 for a bad folder."""
    if not os.path.isdir(root):
        log(f"rnnfast mytorch status: {root} is not a directory")
        return 2
    try:
        sem = _semester(root, semester, log)
    except DetectionError as e:
        log(f"rnnfast mytorch status: {e}")
        return 2
    n = 0
    files = SEMESTERS[sem].student_files + tuple(
        r for r in SEMESTERS[sem].optional_files if os.path.lexists(os.path.join(root, *r.split("/"))))
    for rel in files:
        p = os.path.join(root, *rel.split("/"))
        state = _shim_state(p)
        backup = " (original in " + rel + BACKUP + ")" if os.path.lexists(p + BACKUP) else ""
        text = {"shim": "rnnfast shim", "edited": "rnnfast shim, edited by hand", "file": "the handout's file",
                "missing": "missing"}[state]
        n += state in ("shim", "edited")
        log(f"  {rel}: {text}{backup}")
    log(f"{n} of {len(files)} student files are rnnfast shims")
    _handin_note(sem, log)
    return 0
