"""Real filesystems for fault tests: a folder nobody may write, root included.

Root ignores permission bits, so a chmod-ed folder proves nothing under CI (which runs as
root). A read-only tmpfs refuses root too (EROFS). Without root the permission bits do it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from tooling import need


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
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                         capture_output=True, text=True) if shutil.which("mount") else None
    need(res is not None and res.returncode == 0,
         f"cannot mount a read-only tmpfs on {folder}: {res.stderr.strip() if res else 'no mount'}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
