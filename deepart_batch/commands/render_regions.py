"""`render --mask MASK [--region VALUE=STYLE ...]`: try regions (spatial control) on one photo.

Without --region, white is styled with the STYLE images (blended as --blend says) and black
is kept. `--region '#ff0000=scream.jpg'` paints red in that style image (named as given, or
by its file name without extension), `--region 128=keep` keeps mid grey; `,style_weight=N`
or `,content_weight=N` after the style weigh that region's losses differently.
"""

from __future__ import annotations

from pathlib import PurePath

from ..core.regions import (KEEP, REGION_PARAMS, RegionSpec, RegionValueError,
                            describe_regions, effective_regions, parse_value)
from ..errors import ParamsError

def add_region_options(parser) -> None:
    parser.add_argument("--mask", metavar="MASK",
                        help="region mask (grayscale or palette image framed like the photo): "
                             "white is styled, black is kept as the photo; see --region and "
                             "docs/regions.md")
    parser.add_argument("--region", action="append", default=[], metavar="VALUE=STYLE",
                        help="what a mask value (white, black, 0-255, '#rrggbb') becomes: one "
                             "of the STYLE images (as given or by file name without "
                             "extension) or keep; add ',style_weight=N' or "
                             "',content_weight=N'. Repeat for each value")


def style_names(styles: list[str]) -> list[str]:
    """A name per style image: its file name without extension, or the path if two share
    one."""
    stems = [PurePath(s).stem for s in styles]
    return [stem if stems.count(stem) == 1 else s for s, stem in zip(styles, stems)]


def parse_regions(args) -> tuple[RegionSpec, ...]:
    """The regions --region maps (over the white/black defaults); ParamsError names the
    bad option."""
    if args.region and not args.mask:
        raise ParamsError("--region needs --mask MASK")
    names = style_names(args.styles)
    out: dict[tuple, RegionSpec] = {}
    for text in args.region:
        value_text, sep, rest = text.partition("=")
        if not sep or not rest:
            raise ParamsError(f"--region {text!r}: expected VALUE=STYLE or VALUE=keep")
        try:
            value = parse_value(value_text)
        except RegionValueError as exc:
            raise ParamsError(f"--region {text!r}: {exc}") from None
        target, *extras = [t.strip() for t in rest.split(",")]
        overrides = dict(_override(text, e) for e in extras)
        if target == KEEP:
            if overrides:
                raise ParamsError(f"--region {text!r}: keep takes no weights")
            out[value] = RegionSpec(value, keep=True)
            continue
        name = _style_name(text, target, args.styles, names)
        out[value] = RegionSpec(value, styles={name: 1.0}, overrides=overrides)
    return tuple(out.values())


def _override(text: str, extra: str) -> tuple[str, float]:
    key, sep, value = extra.partition("=")
    if key not in REGION_PARAMS or not sep:
        raise ParamsError(f"--region {text!r}: {extra!r} is not allowed; use "
                          f"{' or '.join(k + '=N' for k in REGION_PARAMS)}")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise ParamsError(f"--region {text!r}: {key} must be a number >= 0, got {value!r}")
    return key, number


def _style_name(text: str, target: str, styles: list[str], names: list[str]) -> str:
    for path, name in zip(styles, names):
        if target in (path, name, PurePath(path).name):
            return name
    raise ParamsError(f"--region {text!r}: {target!r} is not one of the STYLE images "
                      f"({', '.join(names)}) nor keep")


def check_mask_early(args, regions: tuple[RegionSpec, ...], max_pixels: int) -> str:
    """Refuse a bad mask before torch loads: not an image, too large, framed unlike the
    photo, or a colour no region maps. Returns the regions in words."""
    from .. import masks
    specs = effective_regions(regions)
    masks.check_for_photo(args.mask, args.content, specs, max_pixels)
    return describe_regions(specs)
