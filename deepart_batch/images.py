"""All image I/O: decode safely to sRGB RGB, encode PNG/JPEG/WebP tagged sRGB.

Alpha policy: transparent pixels are composited onto white before rendering, and the
output is opaque. Style transfer repaints every pixel, so restoring a mask onto the
painting would cut holes in brush strokes; white matches how the photo looks in a viewer.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from .core import formats
from .errors import ImageError
from .paths import UnsafePathError, open_regular_file

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_PIXELS = 50_000_000
INPUT_FORMATS = tuple(formats.INPUT_FORMATS)   # Pillow's names, from the one table (core/formats.py)

ImageFile.LOAD_TRUNCATED_IMAGES = False
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB_BYTES = _SRGB.tobytes()


# VGG's deepest layer (relu5_1) sees 1/16 of the input: a render's long side needs 16 px.
# A thinner short side is padded by the engine (pad_thin); a smaller long side is refused.
MIN_PHOTO_SIDE = 16


def probe(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
          min_side: int = 0) -> tuple[int, int, str]:
    """Read only the header: (width, height, format). Cheap enough for intake checks. A
    photo to restyle passes min_side=MIN_PHOTO_SIDE (styles may be smaller: they are
    padded)."""
    path = Path(path)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below names limits.max_input_pixels
    try:
        with open_regular_file(path) as fh, Image.open(fh) as im:
            width, height, fmt = im.width, im.height, im.format or "?"
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except UnsafePathError as exc:
        raise ImageError(f"{exc}; put a JPEG or PNG file there") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: {_unidentified(path)}") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if fmt not in INPUT_FORMATS:
        raise ImageError(f"{path}: format {fmt} is not supported; save it as JPEG or PNG")
    if max(width, height) < min_side:
        raise ImageError(
            f"{path}: {width}x{height} px is too small to restyle (its longest side needs at "
            f"least {min_side} px); drop the original, larger photo")
    if width * height > max_pixels:
        raise ImageError(
            f"{path}: {width}x{height} is {width * height / 1e6:.1f} MP, over the limit of "
            f"{max_pixels / 1e6:.1f} MP (a guard against decompression bombs); downscale "
            "the image or raise limits.max_input_pixels")
    return width, height, fmt


# The first bytes of each format: a file that starts like one but does not open is damaged.
_MAGIC = {b"\xff\xd8": "JPEG", b"\x89PNG": "PNG", b"RIFF": "WEBP", b"II*\x00": "TIFF",
          b"MM\x00*": "TIFF", b"BM": "BMP", b"GIF8": "GIF"}


def _unidentified(path: Path) -> str:
    """Why Pillow knew no format: a damaged copy of an image (named like one, or starting
    like one), or something that is not an image at all."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    fmt = next((f for magic, f in _MAGIC.items() if head.startswith(magic)), None) \
        or formats.SUFFIX_FORMATS.get(path.suffix.lower()) \
        or formats.pil_format(path.suffix.lower().lstrip("."))
    if fmt:
        return f"not a readable {fmt} image: the file is damaged or incomplete; copy it again"
    return "not a recognised image; save it as JPEG or PNG"


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int | None = None) -> Image.Image:
    """Decode to an upright 8-bit sRGB RGB image, optionally shrunk to `max_side`."""
    path = Path(path)
    probe(path, max_pixels)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # probe() already enforced our own limit
    try:
        with open_regular_file(path) as fh, Image.open(fh) as im:
            if max_side and im.format == "JPEG":
                im.draft("RGB", (max_side, max_side))  # decode at a reduced scale: faster
            im.load()
            icc = im.info.get("icc_profile")
            im = ImageOps.exif_transpose(im)
            rgb = _to_srgb(im, icc)
    except UnsafePathError as exc:
        raise ImageError(f"{exc}; put a JPEG or PNG file there") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: image data is damaged or truncated ({exc}); "
                         "export it again and re-drop it") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGB" if im.mode != "L" else "L"
            if mode == "L":
                im = im.convert("RGB")
            im = ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: fall back to treating the pixels as sRGB
    return im.convert("RGB")


def to_tensor(image: Image.Image) -> "torch.Tensor":
    """PIL RGB -> 1x3xHxW float tensor in [0, 1]."""
    import torch   # here, not at the top: validate and intake read images without torch
    arr = np.array(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous().div_(255.0)


def to_pil(tensor: "torch.Tensor") -> Image.Image:
    arr = tensor.detach().float().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8), "RGB")


def output_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in formats.SUFFIX_FORMATS:
        raise ImageError(f"{path}: output extension {suffix or '(none)'} is not supported; "
                         "use .png, .jpg or .webp")
    return formats.SUFFIX_FORMATS[suffix]


def encode_image(image: Image.Image, fmt: str, quality: int = 92) -> bytes:
    """Encode with an embedded sRGB profile, so viewers show the colours we rendered."""
    buf = io.BytesIO()
    options = {"icc_profile": _SRGB_BYTES}
    if fmt == "JPEG":
        options.update(quality=quality, optimize=True, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        options.update(quality=quality, method=4)
    elif fmt == "PNG":
        options.update(optimize=False, compress_level=6)
    image.convert("RGB").save(buf, format=fmt, **options)
    return buf.getvalue()
