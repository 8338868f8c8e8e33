"""Where things live in a box: the state folder's parts, and the campaign of a photo.

One home for these names, so the daemon, `status`, `retry`, `prune`, the gallery and the
tests agree on them without spelling them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = "daemon.lock"
STATUS_FILE = "status.json"


def campaign_of(relpath: str) -> str:
    """The photo's top-level inbox folder; photos dropped at the top level form the ''
    campaign."""
    parts = PurePosixPath(relpath).parts
    return parts[0] if len(parts) > 1 else ""


def photo_stem(relpath: str) -> str:
    """A photo's or a mask's path without its extension: what pairs a mask in the masks
    folder with its photo in the inbox (masks/spring/shoe.png <- inbox/spring/shoe.jpg)."""
    path = PurePosixPath(relpath)
    return (path.parent / path.stem).as_posix() if path.suffix else path.as_posix()


@dataclass(frozen=True)
class StateLayout:
    """The daemon's own folders under `state_dir` (local disk, never the share)."""

    root: Path

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def status_file(self) -> Path:
        return self.root / STATUS_FILE

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def masks(self) -> Path:
        """The claimed copies of region masks (content-addressed) and their index."""
        return self.root / "masks"

    @property
    def claims(self) -> Path:
        return self.root / "claims"

    def make(self) -> "StateLayout":
        for folder in (self.work, self.done, self.failed, self.claims):
            folder.mkdir(parents=True, exist_ok=True)
        return self
