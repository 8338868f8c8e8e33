"""Real filesystems for fault tests: small tmpfs mounts (a disk that fills, a folder nobody
may write, root included).

Root ignores permission bits, so a chmod-ed folder proves nothing under CI (which runs as
root). A read-only tmpfs refuses root too (EROFS). Without root the permission bits do it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from .tooling import need


def mount_tmpfs(folder: Path, options: str = "size=512k") -> bool:
    """A tmpfs on `folder` (an existing directory); False where this process may not mount."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                         capture_output=True)
    return res.returncode == 0


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextlib.contextmanager
def read_only_folder(folder: Path):
    """`folder` (an existing, empty directory) cannot be written inside this block."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield folder
        finally:
            folder.chmod(0o700)
        return
    need(mount_tmpfs(folder, "ro,size=64k"), f"cannot mount a read-only tmpfs on {folder}")
    try:
        yield folder
    finally:
        unmount(folder)
