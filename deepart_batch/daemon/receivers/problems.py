"""The problems folder: where the team sees, from the share, which photos need them.

outbox/<folder>/<campaign path>/photo.jpg is a copy of the photo and photo.jpg.txt beside it
says in plain words what went wrong and what to do, with no server paths. A held photo's
note says it waits and renders by itself; a failed one's says how to get it back. Both go
away, with the photo's stale outbox `.error.json`, once the photo renders or is retried.
Writing here is a courtesy: it never raises, so a full or read-only outbox cannot stop
the daemon.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from loguru import logger

from ...paths import (NAME_MAX, UnsafePathError, atomic_write_bytes, fit_name, fsync_dir,
                      make_parents, open_own_file, resolve_inside)
from ...core.state_texts import message
from ...core.states import Category, FailureReason
from ...core.terminal import escape_controls

TEXT_SUFFIX = ".txt"


# What a note is about, by the way in it came (the reason says which): its label in the
# note, and what to do with the file itself when the cause is in the file.
_APPROVAL = ("Approval", "Not printed. Fix what is said below, then copy the preview into "
                         "the approve folder again.")
_PAINTING = ("Painting", "No style card. Fix or replace the painting in the styles folder "
                         "(see below); its card is made by itself.")
_PHOTO = ("Photo", "Not rendered. Drop a good copy of the photo into the inbox (see below).")
_MASKED = ("Photo", "Not rendered: its mask cannot be used. Fix the mask in the masks folder "
                    "(see below); the photo renders again by itself.")


def problem_text(relpath: str, reason, detail: str, held: bool, when: float | None = None,
                 reference: str = "") -> str:
    """The note as the team reads it: about a photo, an approval in the approve folder or
    a painting, in words for that one."""
    reason = FailureReason.parse(reason)
    relpath, detail = escape_controls(relpath), escape_controls(detail)   # shown as ls does
    label, file_status = {FailureReason.APPROVAL_INVALID: _APPROVAL,
                          FailureReason.STYLE_UNREADABLE: _PAINTING,
                          FailureReason.MASK_INVALID: _MASKED}.get(reason, _PHOTO)
    advice = ""
    if reason is FailureReason.APPROVAL_INVALID and "; " in detail:
        detail, advice = detail.rsplit("; ", 1)   # the approval's own advice: what to do
    what, todo = message(reason, PurePosixPath(relpath).name, detail)
    if advice:
        todo = advice[0].upper() + advice[1:] + "."
    stamp = datetime.fromtimestamp(when if when is not None else datetime.now().timestamp(),
                                   timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if held:
        status = "Waiting - not the photo's fault. It is tried again by itself."
    elif reason.category is Category.PHOTO:   # the same bytes would fail again: no retry
        status = file_status
    else:
        status = ("Not rendered. To try again, drop the photo into the inbox again, or ask "
                  "for it to be retried (deepart-batch retry --photo NAME).")
    kind = label.lower() if label != "Photo" else reason.category.value
    lines = [f"{label + ':':<8} {relpath}", f"Status:  {status}", f"When:    {stamp}", "",
             "What went wrong:", f"  {what}", "", "What to do:", f"  {todo}", "",
             f"Reference: {reason.value} ({kind})"
             + (f", {reference}" if reference else "")]
    return "\n".join(lines) + "\n"


def entry_paths(outbox: Path, folder: str, relpath: str) -> tuple[Path, Path]:
    """(photo copy, note) for `relpath`; raises UnsafePathError if it would leave the outbox."""
    rel = PurePosixPath(relpath)
    name = fit_name(rel.name, NAME_MAX - len(TEXT_SUFFIX))   # the note's name fits too
    photo = resolve_inside(outbox, PurePosixPath(folder) / rel.parent / name)
    return photo, photo.with_name(photo.name + TEXT_SUFFIX)


def write_problem(outbox: Path, folder: str, relpath: str, photo: Path | None,
                  text: str, quiet: bool = False) -> Path | None:
    """Put (or refresh) the photo's entry; returns the note's path, or None if it failed
    (logged unless `quiet`: a write tried again)."""
    try:
        copy, note = entry_paths(Path(outbox), folder, relpath)
        if photo is not None:
            _copy_own_file(Path(photo), copy, relpath)
        atomic_write_bytes(note, text.encode("utf-8", "surrogateescape"))
        return note
    except (OSError, UnsafePathError) as exc:
        if not quiet:
            logger.warning("{}: could not write its problem note: {}", relpath, exc)
        return None


def clear_problem(outbox: Path, folder: str, relpath: str, error_json: Path | None = None) -> bool:
    """Remove the photo's entry and stale outbox error report; True if anything went."""
    removed = False
    try:
        copy, note = entry_paths(Path(outbox), folder, relpath)
        targets = [copy, note] + ([error_json] if error_json is not None else [])
    except UnsafePathError:
        targets = [error_json] if error_json is not None else []
    for path in targets:
        try:
            path.unlink()
            removed = True
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("{}: could not remove {}: {}", relpath, path.name, exc)
    if removed:
        _prune_empty(Path(outbox) / folder, PurePosixPath(relpath).parent)
    return removed


def list_problems(outbox: Path, folder: str) -> list[str]:
    """Relative paths (as dropped) of the photos that have a note."""
    root = Path(outbox) / folder
    return sorted(p.relative_to(root).as_posix()[:-len(TEXT_SUFFIX)]
                  for p in root.rglob("*" + TEXT_SUFFIX)) if root.is_dir() else []


def _copy_own_file(src: Path, dst: Path, relpath: str) -> None:
    """Copy the photo beside its note, unless it is a link (or gone): then the note only."""
    try:
        source = open_own_file(src)
    except FileNotFoundError:
        return
    except UnsafePathError as exc:
        logger.info("{}: its note goes without a copy of the photo ({})", relpath, exc)
        return
    with source:
        _atomic_copy(source, dst)


def _atomic_copy(source, dst: Path) -> None:
    make_parents(dst.parent)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{fit_name(dst.name, 64)}.",
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        os.chmod(tmp, 0o664 & ~_umask())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dst.parent)


def _prune_empty(root: Path, rel_dir: PurePosixPath) -> None:
    """Campaign folders in the problems folder go when their last note goes."""
    current = root / rel_dir
    while current != root and root in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
