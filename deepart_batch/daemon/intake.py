"""Intake: decide whether a settled inbox file may be rendered, then claim or refuse it.

A file is claimed by moving it into state_dir/work/ (rename, or copy+fsync+unlink across
filesystems); the journal records the intent first, so a crash in between is recoverable.
Refused files are archived to failed/ with a reason - nothing is left behind or deleted.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ImageError
from ..paths import atomic_write_json, fsync_dir

FORMAT_ALIASES = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tiff": "TIFF",
                  "tif": "TIFF", "bmp": "BMP", "gif": "GIF", "mpo": "MPO"}


@dataclass
class Refusal:
    reason: str    # short class: symlink, hardlink, not_regular, too_big, format, pixels, unreadable
    message: str   # what is wrong and what to do


def campaign_of(relpath: str) -> str:
    """Top-level inbox folder; files dropped at the top level form the '' campaign."""
    parts = PurePosixPath(relpath).parts
    return parts[0] if len(parts) > 1 else ""


def inspect(path: Path, relpath: str, max_file_bytes: int, max_pixels: int,
            formats: list[str]) -> Refusal | None:
    """Check a candidate without following links or opening non-regular files."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # vanished: the caller skips it
    if stat.S_ISLNK(st.st_mode):
        return Refusal("symlink", f"{relpath}: is a symbolic link; copy the file itself "
                                  "into the inbox")
    if not stat.S_ISREG(st.st_mode):
        return Refusal("not_regular", f"{relpath}: is not a regular file")
    if st.st_nlink > 1:
        return Refusal("hardlink", f"{relpath}: has {st.st_nlink} hard links; copy the file "
                                   "into the inbox instead of linking it")
    if st.st_size > max_file_bytes:
        return Refusal("too_big", f"{relpath}: {st.st_size / 1e6:.1f} MB is over the "
                                  f"{max_file_bytes / 1e6:.0f} MB limit (limits.max_file_bytes)")
    from .. import images  # here, not at the top: `retry` and `status` need no torch
    allowed = {FORMAT_ALIASES.get(f.lower(), f.upper()) for f in formats}
    try:
        _, _, fmt = images.probe(path, max_pixels)
    except ImageError as exc:
        reason = "pixels" if "max_input_pixels" in str(exc) else "unreadable"
        return Refusal(reason, f"{relpath}: {str(exc).split(': ', 1)[-1]}")
    if fmt not in allowed:
        return Refusal("format", f"{relpath}: {fmt} images are not accepted here; allowed: "
                                 f"{', '.join(sorted(allowed))} (limits.formats)")
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def move_file(src: Path, dst: Path) -> None:
    """rename(); across filesystems copy, fsync, then unlink the original."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            tmp = dst.with_name(f".{dst.name}.part")
            shutil.copy2(src, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dst)
        os.unlink(src)
    fsync_dir(dst.parent)


def free_name(directory: Path, name: str, tag: str) -> Path:
    """`name`, or `stem.tag.ext` when an earlier archive already used it."""
    target = directory / name
    if not os.path.lexists(target):
        return target
    p = PurePosixPath(name)
    return directory / f"{p.stem}.{tag}{p.suffix}"


def archive(work_file: Path, archive_root: Path, relpath: str, tag: str,
            error: dict | None = None) -> Path:
    """Move a claimed (or refused) file to done/ or failed/, mirroring its inbox folder."""
    rel = PurePosixPath(relpath)
    target = free_name(archive_root / rel.parent, rel.name, tag)
    move_file(work_file, target)
    if error is not None:
        atomic_write_json(target.with_name(target.name + ".error.json"), error)
    return target
