"""Path safety in one place: containment checks and atomic, durable writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class UnsafePathError(ValueError):
    pass


def resolve_inside(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """Resolve `relative` under `root`, following symlinks; refuse anything that escapes."""
    root_real = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(root_real / relative))
    if candidate != root_real and root_real not in candidate.parents:
        raise UnsafePathError(f"{relative!s} resolves to {candidate}, outside {root_real}")
    return candidate


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
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


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
