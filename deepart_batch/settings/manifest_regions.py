"""A rule's `mask:` and `regions:` (spatial control), checked like the rest of a manifest.

    - match: "products/**"
      mask: required            # optional: use a mask when there is one; required: wait for it
      regions:
        white: starry           # a style name...
        black: keep             # ...keep (the photo, exactly)...
        "#ff0000": {style: scream, style_weight: 2e6}   # ...or a style with loss overrides

Mask values are white, black, a grey level 0-255 or a colour '#rrggbb'; without `regions:`
white is styled with the output's styles and black is kept (core/regions.py).
"""

from __future__ import annotations

from ..core.regions import (KEEP, MASK_POLICIES, REGION_PARAMS, RegionSpec,
                            RegionValueError, describe_regions, effective_regions, parse_value)
from .yamlcheck import is_number, suggest

_ENTRY_HELP = "a style name, keep, or {style: NAME, style_weight: N, content_weight: N}"


def parse_mask_rule(parser, data: dict, where: str, styles: dict
                    ) -> tuple[str, tuple[RegionSpec, ...]]:
    """(mask policy, mapped regions) of one rule; problems go to parser.error()."""
    policy = data.get("mask")
    regions_data = data.get("regions")
    if policy is None:
        policy = "none" if regions_data is None else "optional"
    elif policy not in MASK_POLICIES:
        parser.error(f"{where}.mask", f"{policy!r} is not allowed; use optional (a mask is "
                                      f"used when there is one) or required (the photo "
                                      f"waits for its mask)")
        return "none", ()
    if regions_data is None:
        return policy, ()
    if policy == "none":
        parser.error(f"{where}.regions", "regions need a mask; set `mask: optional` or "
                                         "`mask: required`, or remove `regions:`")
        return policy, ()
    if not isinstance(regions_data, dict) or not regions_data:
        parser.error(f"{where}.regions", f"expected a mapping of mask values to {_ENTRY_HELP}"
                                         f", got {regions_data!r}")
        return policy, ()
    seen: dict[tuple, str] = {}
    out = []
    for key, entry in regions_data.items():
        path = f"{where}.regions.{key}"
        try:
            value = parse_value(key)
        except RegionValueError as exc:
            parser.error(path, str(exc))
            continue
        if value in seen:
            parser.error(path, f"names the same mask value as {seen[value]!r}; map each "
                               f"value once")
            continue
        seen[value] = str(key)
        region = _entry(parser, entry, path, value, styles)
        if region is not None:
            out.append(region)
    return policy, tuple(out)


def _entry(parser, entry, path: str, value, styles: dict) -> RegionSpec | None:
    if entry == KEEP:
        return RegionSpec(value, keep=True)
    overrides: dict = {}
    if isinstance(entry, dict):
        parser.keys(entry, path, ["style", *REGION_PARAMS])
        for k in REGION_PARAMS:
            if k in entry:
                number = _number(entry[k])
                if number is None or number < 0:
                    parser.error(f"{path}.{k}", f"{entry[k]!r} is not allowed; use a number "
                                                f">= 0")
                    return None
                overrides[k] = number
        if "style" not in entry:
            parser.error(path, f"gives no `style:`; use {_ENTRY_HELP}")
            return None
        name, where = entry["style"], f"{path}.style"
        if name == KEEP:
            parser.error(where, "keep takes no overrides; write `keep` alone")
            return None
    elif isinstance(entry, str):
        name, where = entry, path
    else:
        parser.error(path, f"{entry!r} is not allowed; use {_ENTRY_HELP}")
        return None
    if not isinstance(name, str) or name not in parser.defined:
        known = ", ".join(sorted(parser.defined)) or "none defined"
        parser.error(where, f"unknown style {name!r}{suggest(str(name), [KEEP, *parser.defined])}"
                            f"; use keep or a defined style: {known}")
        return None
    if name not in styles:
        return None                  # its own entry is broken and already reported
    return RegionSpec(value, styles={name: 1.0}, overrides=overrides)


def _number(value) -> float | None:
    """A number, or YAML 1.1's reading of 2e6 (a string: it wants 2.0e+6) as one."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if is_number(value) else None


def mask_note(label: str, where: str, match, policy: str, regions) -> str:
    """What `validate` says about a rule that uses masks: which values are mapped to what."""
    return (f"{label}: {where} (match {match!r}): mask {policy}; mask values: "
            f"{describe_regions(effective_regions(regions))}")
