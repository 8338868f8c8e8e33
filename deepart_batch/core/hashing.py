"""sha256, the one way: of a file (read in blocks) and of bytes. Photos, styles, weights
and approved previews are all identified by it."""

from __future__ import annotations

import hashlib
import os

from ..paths import open_regular_file


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """A named pipe or folder is refused (UnsafePathError), never waited on."""
    digest = hashlib.sha256()
    with open_regular_file(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
