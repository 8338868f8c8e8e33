"""Thumbnails in a campaign's hidden `.gallery/` folder, made once per source version.

The name hashes the source's identity as the open file says it (device, inode, size,
mtime): a rebuild finds existing thumbnails without decoding any image or resolving any
path, a photo archived from work/ to done/ (renamed, the same inode) keeps its thumbnail,
and a replaced source gets a fresh one. A painting, shown on every photo it styles, is
looked up once per build.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..paths import UnsafePathError, atomic_write_bytes, open_own_file, open_regular_file

THUMB_SIDE = 320      # shown at 160 CSS px: sharp on high-density screens
PREVIEW_SIDE = 1600   # originals are not in the outbox: their thumbnails link to this copy


class Thumbnails:
    def __init__(self, folder: Path, max_pixels: int = 50_000_000):
        self.folder = Path(folder)
        self.max_pixels = max_pixels
        self.used: set[str] = set()
        self._paintings: dict[tuple[str, int], Path | None] = {}

    def get(self, source: Path | None, side: int = THUMB_SIDE,
            checked_links: bool = False) -> Path | None:
        """The thumbnail of `source` (made now if missing); None if it cannot be read, or is
        a link: nothing a link points at is ever shown in the outbox. `checked_links` is for
        styles, whose links the manifest has already confined to styles_dir."""
        if source is None:
            return None
        if checked_links:
            key = (str(source), side)
            if key not in self._paintings:
                self._paintings[key] = self._make(source, side, checked_links)
            return self._paintings[key]
        return self._make(source, side, checked_links)

    def _make(self, source: Path, side: int, checked_links: bool) -> Path | None:
        try:
            fh = open_regular_file(os.path.realpath(source)) if checked_links \
                else open_own_file(source)
        except (OSError, UnsafePathError):
            return None
        with fh:
            st = os.fstat(fh.fileno())
            key = f"{st.st_dev}:{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{side}"
            name = hashlib.sha256(key.encode()).hexdigest()[:20] + ".jpg"
            target = self.folder / name
            self.used.add(name)
            if target.exists():
                return target
            try:
                data = _shrink(fh, side, self.max_pixels)
            except Exception:   # unreadable, too large, not an image: show the name only
                self.used.discard(name)
                return None
        atomic_write_bytes(target, data)
        return target

    def outline(self, mask: Path | None, over: Path | None) -> Path | None:
        """The region edges of `mask` (a claimed copy in state_dir/masks/) at the size of
        the thumbnail `over`, on a transparent PNG laid over it; None if either cannot be
        read."""
        if mask is None or over is None:
            return None
        try:
            st = os.stat(mask)
            with Image.open(over) as im:
                size = im.size
        except OSError:
            return None
        key = f"{os.path.realpath(mask)}|{st.st_size}|{st.st_mtime_ns}|{size}|outline"
        name = hashlib.sha256(key.encode()).hexdigest()[:20] + ".png"
        target = self.folder / name
        self.used.add(name)
        if target.exists():
            return target
        try:
            data = _outline(mask, size, self.max_pixels)
        except Exception:   # not ours to show: the render's report says what it used
            self.used.discard(name)
            return None
        atomic_write_bytes(target, data)
        return target

    def prune(self) -> int:
        """Remove thumbnails no page refers to any more (after a full page build)."""
        removed = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            if name.endswith((".jpg", ".png")) and name not in self.used:
                try:
                    (self.folder / name).unlink()
                    removed += 1
                except OSError:
                    pass
        return removed


def _shrink(source, side: int, max_pixels: int) -> bytes:
    with Image.open(source) as im:
        if im.width * im.height > max_pixels:
            raise ValueError(f"{im.width}x{im.height} is over the pixel limit")
        im.draft("RGB", (side, side))   # JPEG: decode at a fraction of full size
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            flat = Image.new("RGB", im.size, "white")
            flat.paste(im, mask=im.getchannel("A"))
            im = flat
        im = im.convert("RGB")
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85, optimize=True)
        return buf.getvalue()


def _outline(mask: Path, size: tuple[int, int], max_pixels: int) -> bytes:
    """Where neighbouring pixels of the mask differ, 2 px wide, in yellow on transparent."""
    with Image.open(mask) as im:
        if im.width * im.height > max_pixels:
            raise ValueError(f"{im.width}x{im.height} is over the pixel limit")
        im = ImageOps.exif_transpose(im).convert("RGB").resize(size, Image.Resampling.NEAREST)
    labels = np.asarray(im, dtype=np.int32)
    labels = (labels[..., 0] << 16) | (labels[..., 1] << 8) | labels[..., 2]
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:, :-1] |= edge[:, 1:]
    edge[:-1, :] |= edge[1:, :]
    rgba = np.zeros((*labels.shape, 4), dtype=np.uint8)
    rgba[edge] = (255, 214, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", optimize=True)
    return buf.getvalue()
