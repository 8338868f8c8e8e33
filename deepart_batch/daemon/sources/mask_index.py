"""The masks the daemon knows: each settled mask of the masks folder, by the photo it belongs
to, with its claimed copy in state_dir/masks/ (or why it cannot be used).

The mask source (masks.py) fills it; the inbox's planning reads it (a rule with `mask:`).
It is kept on disk (state_dir/masks/index.json), so a restart knows every mask before the
masks folder is scanned again: a photo planned at start-up recovery gets its mask, and a
mask that did not change is not news.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger

from ...core.layout import photo_stem
from ...paths import atomic_write_json

INDEX_FILE = "index.json"


@dataclass(frozen=True)
class MaskEntry:
    """One mask file of the masks folder."""
    relpath: str          # in the masks folder: spring/shoe.png
    copy: str = ""        # the claimed copy in state_dir/masks/ ("" when refused)
    sha256: str = ""
    problem: str = ""     # why it cannot be used, in words for the team ("" when usable)
    seen: tuple[int, int] = (0, 0)   # the share file's (size, mtime_ns) when it was taken

    def same_file(self, st) -> bool:
        """Whether the share's file is still the one taken (a rescan finds every mask)."""
        return self.seen == (st.st_size, st.st_mtime_ns)

    def to_dict(self) -> dict:
        return {**asdict(self), "seen": list(self.seen)}

    @classmethod
    def from_dict(cls, d: dict) -> "MaskEntry":
        seen = d.get("seen") or (0, 0)
        return cls(str(d["relpath"]), str(d.get("copy") or ""), str(d.get("sha256") or ""),
                   str(d.get("problem") or ""), (int(seen[0]), int(seen[1])))


class MaskIndex:
    """Mask entries by the stem they share with their photo (spring/shoe)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder            # state_dir/masks; None: kept in memory only
        self._by_stem: dict[str, dict[str, MaskEntry]] = {}
        if folder is not None:
            self._load()

    def put(self, entry: MaskEntry) -> MaskEntry | None:
        """Record `entry`; returns the entry it replaces (None: a new mask)."""
        entries = self._by_stem.setdefault(photo_stem(entry.relpath), {})
        before = entries.get(entry.relpath)
        entries[entry.relpath] = entry
        self._save()
        return before

    def remove(self, relpath: str) -> MaskEntry | None:
        stem = photo_stem(relpath)
        entry = self._by_stem.get(stem, {}).pop(relpath, None)
        if stem in self._by_stem and not self._by_stem[stem]:
            del self._by_stem[stem]
        if entry is not None:
            self._save()
        return entry

    def entry(self, relpath: str) -> MaskEntry | None:
        return self._by_stem.get(photo_stem(relpath), {}).get(relpath)

    def entries(self) -> list[MaskEntry]:
        return [e for entries in self._by_stem.values() for e in entries.values()]

    def for_photo(self, photo_relpath: str) -> MaskEntry | None:
        """The mask of an inbox photo, or None. Two masks for one photo (shoe.png and
        shoe.jpg) are one refused mask: which one was meant is not ours to guess."""
        entries = self._by_stem.get(photo_stem(photo_relpath))
        if not entries:
            return None
        if len(entries) > 1:
            names = sorted(entries)
            return MaskEntry(names[0], problem=f"there are {len(names)} masks for it "
                                               f"({', '.join(names)}); keep one")
        return next(iter(entries.values()))

    def _load(self) -> None:
        path = self.folder / INDEX_FILE
        try:
            data = json.loads(path.read_text())
            entries = [MaskEntry.from_dict(d) for d in data["masks"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("{}: cannot be read ({}); masks are read again from the masks "
                           "folder", path, exc)
            return
        for entry in entries:   # a copy removed by hand: that mask is read again
            if not entry.copy or Path(entry.copy).is_file():
                self._by_stem.setdefault(photo_stem(entry.relpath), {})[entry.relpath] = entry

    def _save(self) -> None:
        if self.folder is None:
            return
        atomic_write_json(self.folder / INDEX_FILE,
                          {"masks": [e.to_dict() for e in self.entries()]})
