"""Reading a region mask (torch-free): which region each pixel of the photo belongs to.

A mask is untrusted input like a photo: its header is checked first (images.probe: format,
decompression-bomb limit), then its frame against the photo's, then its colours against the
regions the manifest maps. It is scaled to the photo with nearest-neighbour sampling (labels
must not blend), after EXIF orientation like the photo. Each pixel takes the region whose
value is nearest; a soft or anti-aliased edge is fine, but a colour that covers part of the
mask and is near no mapped value is refused, naming it, rather than guessed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import images
from .core.hashing import sha256_file
from .core.regions import RegionSpec, describe_regions, value_name
from .errors import ImageError, MaskError

# How far (largest channel difference) a pixel may be from a mapped value and still be
# that value (JPEG noise, a slightly off palette)...
VALUE_TOLERANCE = 48
# ...and how much of the mask one unmapped colour may cover before the mask is refused
# (anti-aliased edges spread over many colours, each a sliver; a region is larger).
UNMAPPED_SHARE = 0.02
# A mask's aspect ratio may differ from the photo's by this much (rounding, a 1 px crop).
ASPECT_TOLERANCE = 0.02

# A mask's colours are checked at most at this size before a render (a quick answer); the
# render reads it again at the photo's size.
CHECK_SIDE = 256

_ORIENTATION = 0x0112
_SWAPPING = (5, 6, 7, 8)     # EXIF orientations that turn the picture a quarter


@dataclass
class RegionMap:
    """Per pixel (at the size asked for), the index of its region in `regions`."""
    labels: np.ndarray                 # (height, width) uint8
    regions: tuple[RegionSpec, ...]
    path: str
    sha256: str
    mask_size: tuple[int, int]         # (width, height) of the mask file, upright

    def areas(self) -> list[float]:
        """Each region's share of the picture (0-1)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.regions))
        return [float(c) / self.labels.size for c in counts[:len(self.regions)]]

    def summary(self) -> list[dict]:
        """Each region as the report records it: what it becomes and how much it covers."""
        return [{**r.to_dict(), "area": round(a, 4)} for r, a in zip(self.regions,
                                                                      self.areas())]


def upright_size(path: str | os.PathLike, max_pixels: int = images.DEFAULT_MAX_PIXELS
                 ) -> tuple[int, int]:
    """(width, height) of an image as it is shown (EXIF orientation applied), from its
    header: what a mask must fit."""
    width, height, _ = images.probe(path, max_pixels)
    try:
        with Image.open(path) as im:
            turned = im.getexif().get(_ORIENTATION) in _SWAPPING
    except (OSError, SyntaxError, ValueError):
        turned = False
    return (height, width) if turned else (width, height)


def check_mask(path: str | os.PathLike, photo: str | os.PathLike,
               photo_size: tuple[int, int], max_pixels: int = images.DEFAULT_MAX_PIXELS
               ) -> tuple[int, int]:
    """Refuse a mask that is not an image, too large, or not framed like the photo
    (`photo_size`: its upright width, height). Returns the mask's upright size. Reads
    headers only: cheap enough for the daemon's intake and `render` before torch."""
    _require_regular(path)
    try:
        mw, mh = upright_size(path, max_pixels)
    except ImageError as exc:
        raise MaskError(f"{exc}; a mask must be a grayscale or palette PNG the size of its "
                        f"photo") from None
    pw, ph = photo_size
    off = (mw / mh) / (pw / ph) - 1
    if abs(off) > ASPECT_TOLERANCE:
        raise MaskError(
            f"{path}: the mask is {mw}x{mh} px, which does not fit the photo {photo} "
            f"({pw}x{ph} px): its aspect ratio is {abs(off):.0%} off; export the mask at the "
            f"photo's size, or crop it to the photo's frame")
    return mw, mh


def check_for_photo(path: str | os.PathLike, photo: str | os.PathLike,
                    regions: tuple[RegionSpec, ...], max_pixels: int = images.DEFAULT_MAX_PIXELS,
                    photo_name: str | None = None) -> RegionMap:
    """Refuse a mask before its photo is rendered: not an image, too large, framed unlike
    the photo, or a colour no region maps (read at CHECK_SIDE at most). `photo_name`: the
    photo as people name it, in the message (default: `photo`)."""
    photo_w, photo_h = upright_size(photo, max_pixels)
    scale = min(1.0, CHECK_SIDE / max(photo_w, photo_h))
    size = (max(1, round(photo_w * scale)), max(1, round(photo_h * scale)))
    return read_mask(path, photo_name or photo, size, regions, photo_size=(photo_w, photo_h),
                     max_pixels=max_pixels)


def problem_for_photo(path: str | os.PathLike, shown: str, photo: str | os.PathLike,
                      photo_name: str, regions: tuple[RegionSpec, ...],
                      max_pixels: int = images.DEFAULT_MAX_PIXELS) -> str:
    """Why the mask at `path` (named `shown` to people: its copy's name means nothing to
    them) cannot be used for `photo`, or ""."""
    try:
        check_for_photo(path, photo, regions, max_pixels, photo_name)
    except MaskError as exc:
        return str(exc).replace(str(path), shown)
    return ""


def _require_regular(path) -> None:
    """A FIFO or device named as a mask would block the read forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return                        # images.probe() says what is wrong, with the hint
    if not stat.S_ISREG(mode):
        raise MaskError(f"{path}: not a regular file; a mask must be a grayscale or palette "
                        f"PNG the size of its photo")


def read_mask(path: str | os.PathLike, photo: str | os.PathLike, size: tuple[int, int],
              regions: tuple[RegionSpec, ...] | list[RegionSpec],
              photo_size: tuple[int, int] | None = None,
              max_pixels: int = images.DEFAULT_MAX_PIXELS) -> RegionMap:
    """The mask's regions at `size` (width, height: the photo as the render decodes it).
    `photo_size`: the photo file's upright size, for the frame check (default: `size`)."""
    path = Path(path)
    regions = tuple(regions)
    check_mask(path, photo, photo_size or size, max_pixels)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None       # check_mask() enforced our own limit
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            upright = im.size
            rgb = _colours(im).resize(size, Image.Resampling.NEAREST)
    except (OSError, SyntaxError, ValueError) as exc:
        raise MaskError(f"{path}: mask data is damaged or truncated ({exc}); export it "
                        f"again") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    labels = assign(np.asarray(rgb, dtype=np.uint8), regions, str(path))
    return RegionMap(labels, regions, str(path), sha256_file(path), upright)


def _colours(im: Image.Image) -> Image.Image:
    """RGB of any mask mode; transparency counts as black (kept)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else (1.0 if im.mode == "F" else 255.0)
        im = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    return im.convert("RGB")


def assign(rgb: np.ndarray, regions: tuple[RegionSpec, ...], path: str = "mask"
           ) -> np.ndarray:
    """Label each pixel (H x W x 3 uint8) with its nearest region's index; refuse a colour
    that covers more than UNMAPPED_SHARE of the mask and is near no region's value."""
    if not regions:
        raise MaskError(f"{path}: no regions are mapped; map at least one mask value")
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) \
        | rgb[..., 2].astype(np.int32)
    colours, inverse, counts = np.unique(packed.ravel(), return_inverse=True,
                                         return_counts=True)
    channels = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], 1)
    values = np.array([r.value for r in regions], dtype=np.int32)
    diff = np.abs(channels[:, None, :] - values[None, :, :])          # colours x regions x 3
    nearest = (diff.astype(np.int64) ** 2).sum(-1).argmin(1)
    far = diff.max(-1).min(1) > VALUE_TOLERANCE
    share = counts / packed.size
    bad = np.flatnonzero(far & (share > UNMAPPED_SHARE))
    if bad.size:
        worst = bad[np.argmax(share[bad])]
        rgb_worst = tuple(int(c) for c in channels[worst])
        name = value_name(rgb_worst)
        key = str(rgb_worst[0]) if name.startswith("grey") else f'"{name}"'
        raise MaskError(
            f"{path}: {share[worst]:.1%} of the mask is {name}, which no region maps "
            f"(mapped: {describe_regions(regions)}); map it under the rule's `regions:` "
            f"(e.g. {key}: keep) or repaint it with a mapped value")
    return nearest[inverse].reshape(packed.shape).astype(np.uint8)
