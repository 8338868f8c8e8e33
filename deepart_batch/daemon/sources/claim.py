"""Intake: decide whether a settled inbox file may be rendered, then claim or refuse it.

A file is claimed by moving it into state_dir/work/ (rename, or copy+fsync+unlink across
filesystems); the journal records the intent first, so a crash in between is recoverable.
Refused files are archived to failed/ with a reason - nothing is left behind or deleted.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...core.states import FailureReason
from ...core.formats import pil_format
from ...core.hashing import sha256_file
from ...core.outbox_names import reserved_folder
from ...errors import ImageError
from ...paths import (UnsafePathError, atomic_write_json, fit_name, fsync_dir, make_parents,
                      open_own_file)


@dataclass
class Refusal:
    reason: str    # short class: symlink, hardlink, not_regular, too_big, format, pixels, unreadable
    message: str   # what is wrong and what to do


def inspect(path: Path, relpath: str, max_file_bytes: int, max_pixels: int,
            formats: list[str]) -> Refusal | None:
    """Check a candidate without following links or opening non-regular files."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # vanished: the caller skips it
    if stat.S_ISLNK(st.st_mode):
        return Refusal(FailureReason.SYMLINK,
                       f"{relpath}: is a symbolic link; copy the file itself "
                       "into the inbox")
    if not stat.S_ISREG(st.st_mode):
        return Refusal(FailureReason.NOT_REGULAR,
                       f"{relpath}: is not a regular file")
    if st.st_size == 0:
        return Refusal(FailureReason.EMPTY,
                       f"{relpath}: is an empty file (0 bytes); the upload did "
                       "not finish - copy the photo again")
    if st.st_nlink > 1:
        return Refusal(FailureReason.HARDLINK,
                       f"{relpath}: has {st.st_nlink} hard links; copy the file "
                       "into the inbox instead of linking it")
    if st.st_size > max_file_bytes:
        return Refusal(FailureReason.TOO_BIG,
                       f"{relpath}: {st.st_size / 1e6:.1f} MB is over the "
                       f"{max_file_bytes / 1e6:.0f} MB limit (limits.max_file_bytes)")
    from ... import images  # here, not at the top: `retry` and `status` need no torch
    allowed = {pil_format(f) or f.upper() for f in formats}
    try:
        _, _, fmt = images.probe(path, max_pixels, images.MIN_PHOTO_SIDE)
    except ImageError as exc:
        reason = FailureReason.TOO_MANY_PIXELS if "max_input_pixels" in str(exc) else \
            FailureReason.TOO_SMALL if "too small to restyle" in str(exc) else \
            FailureReason.UNREADABLE
        return Refusal(reason, f"{relpath}: {str(exc).split(': ', 1)[-1]}")
    if fmt not in allowed:
        return Refusal(FailureReason.FORMAT,
                       f"{relpath}: {fmt} images are not accepted here; allowed: "
                       f"{', '.join(sorted(allowed))} (limits.formats)")
    return None


def reserved_name(relpath: str, problems_folder: str,
                  approve_folder: str = "") -> Refusal | None:
    """A folder named like one of the outbox's own entries (index.html, .gallery, _reports,
    the problems folder, the approve folder) is refused at intake: its outputs would land on the gallery's or
    the problems folder's files and be held as outbox_unwritable at every backoff. Refusing
    says so at once, in plain words, and the renamed folder renders like any other; mapping
    it to another name would put renders where nobody looks for them."""
    clash = reserved_folder(relpath, problems_folder, approve_folder)
    if clash is None:
        return None
    folder, instead = clash
    return Refusal(FailureReason.RESERVED_NAME,
                   f'{relpath}: the inbox folder "{folder}" is named like one of the '
                   f'outbox\'s own entries; rename the folder (for example to "{instead}") '
                   "and drop the photo into it again")


def move_file(src: Path, dst: Path) -> None:
    """rename(); across filesystems copy, fsync, then unlink the original."""
    make_parents(dst.parent)   # never the state_dir itself, if it vanished
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            tmp = dst.with_name(f".{fit_name(dst.name, 64)}.part")
            try:
                shutil.copy2(src, tmp)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, dst)
            except BaseException:  # e.g. state_dir full: no half copy stays in work/
                tmp.unlink(missing_ok=True)
                raise
        os.unlink(src)
    fsync_dir(dst.parent)


def claim_file(src: Path, dst: Path) -> None:
    """Claim an inbox file into work/ so that a writer that kept it open across the claim
    cannot change what is rendered, hashed and archived in done/.

    When the kernel grants a read lease on it (nobody has it open for writing, the daemon
    may take leases on it and the filesystem keeps them), it is renamed while the lease
    holds: a writer that opens it meanwhile waits, and none had it open. Else (an uploader
    still writing, a network share, another owner without CAP_LEASE) its bytes are copied
    from an O_NOFOLLOW fd into a fresh inode in work/ and the inbox name is unlinked. The
    rename costs a directory sync; the copy a file and two directory syncs, about seven
    times longer (measured: 2.5 against 18.8 ms a photo), which a 5,000-photo drop feels. A link or special file (refused
    anyway, never read) is moved by name, as before."""
    try:
        source = open_own_file(src)
    except UnsafePathError:
        move_file(src, dst)
        return
    with source:
        if _renamed_under_lease(source.fileno(), src, dst):
            return
        st = os.fstat(source.fileno())
        make_parents(dst.parent)   # never the state_dir itself, if it vanished
        tmp = dst.with_name(f".{fit_name(dst.name, 64)}.part")
        try:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dst)
        except BaseException:  # e.g. state_dir full: no half copy stays in work/
            tmp.unlink(missing_ok=True)
            raise
    fsync_dir(dst.parent)
    try:
        now = os.lstat(src)
    except FileNotFoundError:
        return
    if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):  # not replaced meanwhile
        os.unlink(src)
        fsync_dir(src.parent)


def lease_breaks_are_ignored() -> bool:
    """A lease's break is signalled with SIGIO, which ends a process by default: the
    daemon ignores it (Service.run), and only then does the claim take leases."""
    return signal.getsignal(signal.SIGIO) is signal.SIG_IGN


def _renamed_under_lease(fd: int, src: Path, dst: Path) -> bool:
    """rename(src, dst) while a read lease on `fd` shows nobody has it open for writing;
    False (nothing moved) when no lease is granted or the rename crosses filesystems."""
    if not lease_breaks_are_ignored():
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError:   # EAGAIN: open for writing; EACCES, EINVAL: no lease here
        return False
    try:
        make_parents(dst.parent)   # never the state_dir itself, if it vanished
        try:
            os.rename(src, dst)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return False
            raise
    finally:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    fsync_dir(dst.parent)   # as move_file: a name the crash brings back in the inbox goes
    return True             # at recovery (drop_claimed_original)


def claim_into_work(journal, layout, path: Path, relpath: str, campaign: str,
                    mover=claim_file) -> tuple[int, Path] | None:
    """Record the claim, leave its note, move the file into work/ with `mover`; a file
    that could not be moved stays where it was, with no row and no note. Returns the
    input's id and its work path, or None when the file vanished meanwhile."""
    work = layout.work / work_name(relpath, f"{time.time_ns():x}")
    input_id = journal.begin_claim(relpath, campaign, str(work))
    try:
        write_claim_note(layout.claims, work, relpath)
        mover(path, work)
    except BaseException as exc:
        journal.drop_input(input_id)
        remove_claim_note(layout.claims, work)
        if isinstance(exc, FileNotFoundError):
            return None
        raise
    return input_id, work


def drop_claimed_original(inbox_path: Path, sha: str) -> None:
    """After a crash between claim_file's copy and its unlink: the inbox file whose bytes
    are already in work/ goes, so it is not taken twice. Different bytes stay: a new drop."""
    try:
        if os.path.isfile(inbox_path) and not os.path.islink(inbox_path) and \
                sha256_file(inbox_path) == sha:
            os.unlink(inbox_path)
    except OSError:
        pass


def work_name(relpath: str, token: str) -> str:
    """The internal name in work/: a token plus a short, plain extension; never the user's
    name, so its length or bytes cannot break the claim."""
    suffix = PurePosixPath(relpath).suffix.lower()
    ok = 1 < len(suffix) <= 6 and suffix[1:].isascii() and suffix[1:].isalnum()
    return token + (suffix if ok else "")


def claim_note(claims_dir: Path, work_path: Path) -> Path:
    """Every claim leaves a note naming the inbox path of the file it moved into work/,
    so a lost journal can be rebuilt (recovery.rebuild)."""
    return claims_dir / (work_path.name + ".json")


def write_claim_note(claims_dir: Path, work_path: Path, relpath: str) -> None:
    atomic_write_json(claim_note(claims_dir, work_path),
                      {"relpath": relpath, "work": work_path.name, "time": time.time()})


def remove_claim_note(claims_dir: Path, work_path: str | Path) -> None:
    try:
        claim_note(claims_dir, Path(work_path)).unlink()
    except FileNotFoundError:
        pass
