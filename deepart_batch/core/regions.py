"""Regions of a photo (spatial control): the words a manifest, a mask and a report share.

A mask is a grayscale or palette image beside the photo: white is styled, black is kept as
it is, and further grey levels or palette colours name more regions, each painted in its own
style (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017).
This module names mask values and what each region becomes; no torch, no PIL: settings/,
the daemon and `validate` read it. Reading a mask file is masks.py; the guided losses are
engine/regions.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A rule's `mask:` policy. "none": masks are not read; "optional": a mask is used when there
# is one; "required": the photo waits for its mask.
MASK_POLICIES = ("none", "optional", "required")
KEEP = "keep"
# Per-region overrides: loss weights only (everything else is one render's, not a region's).
REGION_PARAMS = ("style_weight", "content_weight")

_HEX = re.compile(r"#([0-9a-fA-F]{6})")
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0)}
VALUE_HELP = "white, black, a grey level 0-255 or a colour '#rrggbb'"


class RegionValueError(ValueError):
    """A mask value that is not white, black, a grey level or a '#rrggbb' colour."""


def parse_value(key) -> tuple[int, int, int]:
    """The RGB colour a manifest's or the command line's mask value names."""
    if isinstance(key, bool):
        raise RegionValueError(f"{key!r} is not a mask value; use {VALUE_HELP}")
    if isinstance(key, int):
        if 0 <= key <= 255:
            return (key, key, key)
        raise RegionValueError(f"grey level {key} is outside 0-255")
    if isinstance(key, str):
        text = key.strip().lower()
        if text in _NAMED:
            return _NAMED[text]
        if text.isdigit():
            return parse_value(int(text))
        if _HEX.fullmatch(text):
            v = int(text[1:], 16)
            return ((v >> 16) & 255, (v >> 8) & 255, v & 255)
    raise RegionValueError(f"{key!r} is not a mask value; use {VALUE_HELP}")


def value_name(rgb: tuple[int, int, int]) -> str:
    """The canonical name of a mask value: white, black, a grey level, or #rrggbb."""
    rgb = tuple(int(c) for c in rgb)
    for name, value in _NAMED.items():
        if rgb == value:
            return name
    if rgb[0] == rgb[1] == rgb[2]:
        return f"grey {rgb[0]}"
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class RegionSpec:
    """What one mask value becomes: painted in `styles` (name -> blend weight) with the
    given loss-weight overrides, or kept as the photo (`keep`)."""
    value: tuple[int, int, int]
    styles: dict = field(default_factory=dict)     # empty: the output's own styles
    keep: bool = False
    overrides: dict = field(default_factory=dict)  # style_weight / content_weight

    @property
    def name(self) -> str:
        return value_name(self.value)

    def describe(self) -> str:
        """'white -> starry', 'black -> keep', '#ff0000 -> scream (style_weight 2e+06)'."""
        if self.keep:
            target = KEEP
        elif not self.styles:
            target = "the output's style"
        else:
            target = " + ".join(n if abs(w - 1) < 1e-9 else f"{n} {w:.2g}"
                                for n, w in self.styles.items())
        extra = ", ".join(f"{k} {v:g}" for k, v in self.overrides.items())
        return f"{self.name} -> {target}" + (f" ({extra})" if extra else "")

    def to_dict(self) -> dict:
        return {"value": list(self.value), "name": self.name, "styles": dict(self.styles),
                "keep": self.keep, "overrides": dict(self.overrides)}

    @classmethod
    def from_dict(cls, d: dict) -> "RegionSpec":
        value = d["value"]
        return cls(value=(int(value[0]), int(value[1]), int(value[2])),
                   styles={str(k): float(v) for k, v in (d.get("styles") or {}).items()},
                   keep=bool(d.get("keep", False)),
                   overrides={str(k): float(v) for k, v in (d.get("overrides") or {}).items()
                              if k in REGION_PARAMS})


def default_regions() -> tuple[RegionSpec, ...]:
    """White is styled (the output's styles), black is kept."""
    return (RegionSpec(_NAMED["white"]), RegionSpec(_NAMED["black"], keep=True))


def effective_regions(mapped: tuple[RegionSpec, ...] | list[RegionSpec]
                      ) -> tuple[RegionSpec, ...]:
    """The defaults (white styled, black kept) under what a rule or `--region` mapped."""
    out = {r.value: r for r in default_regions()}
    out.update({r.value: r for r in mapped})
    return tuple(out.values())


def describe_regions(regions) -> str:
    return ", ".join(r.describe() for r in regions)
