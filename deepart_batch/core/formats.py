"""Image formats in one table: what the inbox accepts, what the outbox writes, and the
names people use for them in the config (`jpg`, `tif`)."""

from __future__ import annotations

# Pillow's format name -> config names for it. The inbox accepts any of these that
# `limits.formats` lists; MPO is how Pillow reads many cameras' JPEGs.
INPUT_FORMATS = {"JPEG": ("jpeg", "jpg"), "PNG": ("png",), "WEBP": ("webp",),
                 "TIFF": ("tiff", "tif"), "BMP": ("bmp",), "GIF": ("gif",), "MPO": ("mpo",)}
INPUT_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")

# Output: config name -> (Pillow format, file suffix)
OUTPUT_FORMATS = {"jpg": ("JPEG", ".jpg"), "png": ("PNG", ".png"), "webp": ("WEBP", ".webp")}
SUFFIX_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}

_ALIASES = {alias: name for name, aliases in INPUT_FORMATS.items() for alias in aliases}


def pil_format(config_name: str) -> str | None:
    """'jpg' -> 'JPEG'; None for a name no format has."""
    return _ALIASES.get(str(config_name).lower())


def config_names() -> tuple[str, ...]:
    """The names `limits.formats` accepts (canonical first name of each format)."""
    return tuple(aliases[0] for aliases in INPUT_FORMATS.values())
