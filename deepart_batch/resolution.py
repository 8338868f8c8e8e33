"""Photo resolution against the requested output size: one home for the upsampling warning
(render, validate and the render report use it). No torch here: `validate` imports it."""

from __future__ import annotations

import os
from pathlib import Path

# Warn when the output's long side is more than this many times the photo's.
UPSAMPLE_WARN_FACTOR = 2.0


def upsample_factor(size: int, photo_long_side: int) -> float | None:
    """How many times the photo is enlarged to reach `size`, or None when it is not."""
    if photo_long_side <= 0 or size <= photo_long_side:
        return None
    return round(size / photo_long_side, 2)


def upsample_warning(size: int, photo_long_side: int, source: str = "the photo") -> str | None:
    """A warning when an output is far beyond its photo's resolution, else None."""
    factor = upsample_factor(size, photo_long_side)
    if factor is None or factor <= UPSAMPLE_WARN_FACTOR:
        return None
    return (f"{source} is {photo_long_side} px on its long side but {size} px is asked for "
            f"({size / photo_long_side:.1f}x): the photo is upsampled, so the print gains "
            f"painted detail but no photo detail; use a larger photo or a smaller size")


def inbox_warnings(config, manifest) -> list[str]:
    """For `validate`: every photo now in the inbox whose rule asks for an output far
    beyond its resolution (the rule's size, else the config default, else the engine's)."""
    from . import images
    from .core.params import RenderParams
    inbox = Path(config.inbox)
    if not inbox.is_dir():
        return []
    default = config.defaults.get("size", RenderParams.size)
    found = []
    for root, _, files in os.walk(inbox):
        for name in sorted(files):
            path = Path(root, name)
            rule = manifest.match(path.relative_to(inbox))
            if rule is None:
                continue
            try:
                width, height, _ = images.probe(path, config.limits.max_input_pixels)
            except Exception:  # noqa: BLE001 - intake reports unreadable files itself
                continue
            for out in rule.outputs:
                size = out.params.get("size", default)
                msg = upsample_warning(size, max(width, height),
                                       f"{path} (rule {rule.match!r}, output {out.slug})")
                if msg:
                    found.append(msg)
    return found
