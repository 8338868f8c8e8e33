"""Archive: a finished input leaves work/ for done/ or failed/, under its inbox folder and
name (shortened to fit), a failed one with its error report beside it. Idempotent, so
recovery finishes an archive a crash interrupted. A style card's input is a copy of a
painting that stays in styles_dir: it is removed when done, never archived (`discard`),
so a painting changed again and again piles no copies in done/. done/ keeps one copy per
distinct file: a photo or approval that comes again under its name with the same bytes
shares the copy already there (`kept_copy`); other bytes get their own numbered copy."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from typing import Iterable

from ...core.hashing import sha256_file
from ...paths import NAME_MAX, atomic_write_json, fit_name, make_parents
from ..faultpoints import crash_point
from ..sources.claim import move_file

ERROR_SUFFIX = ".error.json"   # beside an input archived to failed/: why


def archive_target(archive_root: Path, relpath: str, tag: str) -> Path:
    """Where archive() would put this input now: its inbox folder and name, shortened to
    leave room for the tag and the error report beside it."""
    rel = PurePosixPath(relpath)
    name = fit_name(rel.name, NAME_MAX - len(ERROR_SUFFIX) - len(tag) - 1)
    return free_name(archive_root / rel.parent, name, tag)


def free_name(directory: Path, name: str, tag: str) -> Path:
    """`name`, or `stem.tag.ext` when an earlier archive already used it."""
    target = directory / name
    if not os.path.lexists(target):
        return target
    p = PurePosixPath(name)
    return directory / f"{p.stem}.{tag}{p.suffix}"


def kept_copy(earlier: Iterable[str], sha256: str | None) -> Path | None:
    """The first of these earlier archived copies still there with these bytes, or None."""
    if not sha256:
        return None
    for path in earlier:
        try:
            if os.path.isfile(path) and sha256_file(path) == sha256:
                return Path(path)
        except OSError:
            continue    # gone or unreadable meanwhile: not a copy to keep
    return None


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return os.path.isfile(b) and sha256_file(a) == sha256_file(b)
    except OSError:
        return False


def archive(work_file: Path, target: Path, error: dict | None = None) -> Path:
    """Move a claimed (or refused) file to its place in done/ or failed/ (archive_target);
    when the file is already there (a crash after the move), only the error report is
    written. Idempotent, so recovery can call it again. When the work file is gone and
    was never archived (removed by hand), only the error report is written. When the
    target already holds these very bytes (a shared copy), the work file is removed."""
    if error is not None:  # first: a crash after the move finds the reason beside it
        make_parents(target.parent)
        atomic_write_json(target.with_name(target.name + ERROR_SUFFIX), error)
    if os.path.lexists(work_file):  # else: moved before a crash, or gone
        if _same_bytes(Path(work_file), target):
            Path(work_file).unlink()   # that copy is kept (kept_copy): one per distinct file
        else:
            move_file(work_file, target)
        crash_point("after_archive_rename")
    return target


def discard(work_file: Path) -> None:
    """Remove a finished work copy whose original stays where it is (a style card's
    painting). Idempotent, like archive(), so recovery can call it again."""
    Path(work_file).unlink(missing_ok=True)
