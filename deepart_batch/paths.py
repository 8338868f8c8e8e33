"""Path safety in one place: containment checks and atomic, durable writes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from . import testing

NAME_MAX = 255  # bytes in one file name on Linux filesystems


class UnsafePathError(ValueError):
    pass


class FolderMissing(FileNotFoundError):
    """A guarded folder (the outbox, the state_dir) is gone or on another device than when it
    was guarded: an unmounted or renamed share. Nothing is written, nothing is created."""


_GUARDED: dict[str, int] = {}   # absolute folder -> its st_dev when guarded


def guard_folder(path: str | os.PathLike) -> None:
    """From now on, no write of this process creates `path` itself (sub-folders inside it
    may still be made) nor writes into it while it sits on another device than now."""
    dev = os.stat(path).st_dev
    for form in {os.path.abspath(path), os.path.realpath(path)}:
        _GUARDED[form] = dev


def folder_problem(path: str | os.PathLike, dev: int | None) -> str | None:
    """Why `path` is not the folder it was (None: it is): gone, not a folder, or moved to
    another device (`dev`: its st_dev then; None: not checked)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path} is gone ({exc.strerror}); renamed, deleted or an unmounted share?"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is no longer a folder"
    if dev is not None and st.st_dev != dev:
        return f"{path} is on another device than at start (was its share unmounted?)"
    return None


def make_parents(folder: str | os.PathLike) -> None:
    """`folder` and the folders above it, but never a guarded folder itself (FolderMissing)."""
    folder = os.path.abspath(folder)
    for root, dev in _GUARDED.items():
        if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
            problem = folder_problem(root, dev)
            if problem:
                raise FolderMissing(errno.ENOENT, problem, root)
            current = Path(root)
            for part in Path(folder).relative_to(root).parts:  # never parents=True: a root
                current = current / part                        # gone meanwhile stays gone
                try:
                    current.mkdir()
                except FileExistsError:
                    pass
                except FileNotFoundError:
                    raise FolderMissing(errno.ENOENT, f"{root} is gone", root) from None
            return
    Path(folder).mkdir(parents=True, exist_ok=True)


def resolve_inside(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """Resolve `relative` under `root`, following symlinks; refuse anything that escapes."""
    root_real = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(root_real / relative))
    if candidate != root_real and root_real not in candidate.parents:
        raise UnsafePathError(f"{relative!s} resolves to {candidate}, outside {root_real}")
    return candidate


def open_own_file(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for reading only if it is a plain file that is nothing but itself: not a
    symbolic link (O_NOFOLLOW, no race with a swap), not a hard link to another name, not a
    FIFO or device. Whatever is copied or shown from the inbox goes through here, so a link
    never puts the bytes of a file the team may not read into the outbox."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(f"{path}: is a symbolic link") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else \
            f"has {st.st_nlink} hard links"
        raise UnsafePathError(f"{path}: {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for reading (links followed) only if it is a regular file. A named pipe
    would wait for a writer forever and a folder or device named like an image fails oddly,
    so both are refused at once (UnsafePathError); paintings and hashes are read through it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else \
            "a named pipe" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise UnsafePathError(f"{path}: is {kind}, not an image file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def safe_text(name: str) -> str:
    """`name` as valid UTF-8 text: bytes that are not UTF-8 (surrogate escapes from the
    filesystem) become U+FFFD, so the journal, reports and logs can hold any name."""
    return os.fsencode(name).decode("utf-8", "replace")


def fit_name(name: str, max_bytes: int = NAME_MAX) -> str:
    """`name` if it fits in `max_bytes` of UTF-8; else its stem cut short plus a hash of the
    whole name (so two long names stay distinct), keeping the extension."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= max_bytes:
        return name
    suffix = PurePosixPath(name).suffix
    if len(suffix.encode("utf-8", "surrogateescape")) > 16:
        suffix = ""
    tag = "~" + hashlib.sha256(raw).hexdigest()[:8]
    room = max(1, max_bytes - len(suffix.encode("utf-8", "surrogateescape")) - len(tag))
    stem = raw[:room].decode("utf-8", "ignore")
    return f"{stem}{tag}{suffix}"


def is_disk_full(exc: BaseException) -> bool:
    """Out of space or quota: the setup's trouble, never the photo's."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "database or disk is full" in str(exc)


def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network filesystems refuse directory fsync
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o664) -> Path:
    """Temp file in the same directory, fsync, os.replace: readers never see half a file."""
    path = Path(path)
    make_parents(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{fit_name(path.name, 64)}.",
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            _inject_disk_full(path)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _inject_disk_full(path: Path) -> None:
    """Test hook for filesystems that cannot be made full (no tmpfs mount): while the file
    named by DEEPART_TEST_DISK_FULL exists, writes under its folder fail with ENOSPC."""
    flag = testing.disk_full_flag()
    if flag and os.path.exists(flag) and \
            str(path).startswith(os.path.dirname(os.path.realpath(flag)) + os.sep):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
