"""What a valid manifest is: its dataclasses and the parser that builds them from YAML.

Rules are tried in file order and the first whose glob matches the photo's path inside the
inbox wins; a rule's `priority` orders its jobs in the render queue (higher first), not
the matching. The parser records every problem as `file: key.path: problem` and blames the
layer (style, output or config defaults) that set a bad render parameter.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePath

from .config import Config, check_params, param_names
from .globs import glob_to_regex
from .manifest_regions import mask_note, parse_mask_rule
from ..core.regions import RegionSpec
from ..paths import UnsafePathError, resolve_inside
from .yamlcheck import clip, is_number, suggest

__all__ = ["StyleDef", "OutputSpec", "Rule", "Manifest", "ManifestParser"]

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass
class StyleDef:
    name: str
    image: Path                      # real path, inside styles_dir
    params: dict = field(default_factory=dict)

    @cached_property
    def sha256(self) -> str:
        """Read on first use only: validation should not hash every painting."""
        h = hashlib.sha256()
        with open(self.image, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


@dataclass
class OutputSpec:
    styles: dict[str, float]         # style name -> weight; weights sum to 1
    params: dict                     # style params then output overrides (not config.defaults)
    slug: str                        # `name:`, or 'starry', or 'starry-70_scream-30'


@dataclass
class Rule:
    match: str
    priority: int
    outputs: list[OutputSpec]
    pattern: re.Pattern = field(repr=False, compare=False, default=None)  # type: ignore
    mask: str = "none"               # none | optional | required (core/regions.py)
    regions: tuple[RegionSpec, ...] = ()   # mask values mapped (over white/black defaults)


@dataclass
class Manifest:
    styles: dict[str, StyleDef]
    rules: list[Rule]
    source: Path

    def match(self, relpath: str | PurePath) -> Rule | None:
        """The first rule, in file order, whose glob matches this path inside the inbox."""
        rel = PurePath(relpath).as_posix()      # also drops a leading './'
        return next((r for r in self.rules if r.pattern.fullmatch(rel)), None)


class ManifestParser:
    """Walks the YAML, recording `file: key.path: problem` for everything wrong."""

    def __init__(self, label: str, styles_dir: Path, config: Config,
                 allow_missing: bool = False):
        self.label, self.styles_dir, self.config = label, Path(styles_dir), config
        # The daemon loads a manifest whose paintings are not all there yet: the photos that
        # need a missing one are held (style_missing), the others render. `validate` does not.
        self.allow_missing = allow_missing
        self.missing: list[Path] = []
        self.problems: list[str] = []
        self.notes: list[str] = []       # not errors, but worth saying (validate prints them)
        self.defined: set[str] = set()   # style names given, even ones with a broken entry

    def error(self, key: str, message: str) -> None:
        line = clip(f"{self.label}: {key}: {message}" if key else f"{self.label}: {message}")
        if line not in self.problems:
            self.problems.append(line)

    def keys(self, data: dict, where: str, allowed: list[str]) -> None:
        for key in data:
            if key not in allowed:
                self.error(f"{where}.{key}" if where else str(key),
                           f"unknown key{suggest(key, allowed)}; allowed: {', '.join(allowed)}")

    def manifest(self, data, source: Path) -> Manifest | None:
        if not isinstance(data, dict):
            got = "an empty file" if data is None else type(data).__name__
            self.error("", f"expected a mapping with 'styles' and 'rules', got {got}")
            return None
        self.keys(data, "", ["styles", "rules"])
        styles = self.styles(data.get("styles"))
        rules_data = data.get("rules")
        if not isinstance(rules_data, list) or not rules_data:
            self.error("rules", f"expected a non-empty list of rules "
                                f"({{match: GLOB, outputs: [...]}}), got {rules_data!r}")
            rules_data = []
        rules = [self.rule(r, f"rules[{i}]", styles) for i, r in enumerate(rules_data)]
        if self.problems:
            return None
        return Manifest(styles=styles, rules=[r for r in rules if r], source=source)

    def styles(self, data) -> dict[str, StyleDef]:
        if not isinstance(data, dict) or not data:
            self.error("styles", f"expected a mapping of style names to "
                                 f"{{image: FILE, ...params}}, got {data!r}")
            return {}
        out = {}
        self.defined = {n for n in data if isinstance(n, str)}
        for name, entry in data.items():
            where = f"styles.{name}"
            if not isinstance(name, str) or not _SLUG.fullmatch(name):
                self.error(where, "style names may use only a-z, 0-9, '_' and '-' (at most "
                                  "64, starting with a letter or digit)")
                continue
            if not isinstance(entry, dict) or "image" not in entry:
                self.error(where, f"expected {{image: FILE, ...params}}, got {entry!r}")
                continue
            self.keys(entry, where, ["image", *param_names()])
            image = self.image(entry["image"], f"{where}.image")
            params = {k: v for k, v in entry.items() if k in param_names()}
            self.params([(params, where)])
            if image is not None:
                out[name] = StyleDef(name=name, image=image, params=params)
        return out

    def image(self, value, where: str) -> Path | None:
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"{value!r} is not allowed; use a file name inside styles_dir")
            return None
        if os.path.isabs(os.path.expanduser(value)):
            self.error(where, f"{value!r} is an absolute path, outside styles_dir "
                              f"{self.styles_dir}; use a path relative to styles_dir")
            return None
        try:
            path = resolve_inside(self.styles_dir, value)
        except UnsafePathError:
            self.error(where, f"{value!r} resolves outside styles_dir {self.styles_dir}; use "
                              f"a file inside it (symlinks must point inside too)")
            return None
        try:
            exists = path.is_file()
        except OSError as exc:           # e.g. a name longer than the filesystem allows
            self.error(where, f"{value!r} cannot be read in styles_dir {self.styles_dir}: "
                              f"{exc.strerror or exc}")
            return None
        if not exists and self.allow_missing:
            self.missing.append(path)
        elif not exists:
            self.error(where, f"{value!r} does not exist in styles_dir {self.styles_dir}")
            return None
        return path

    def params(self, layers: list[tuple[dict, str]]) -> None:
        """Check config.defaults < each layer; blame the last layer that set a bad key."""
        merged = {k: v for values, _ in layers for k, v in values.items()}
        _, problems = check_params({**self.config.defaults, **merged}, self.config.limits)
        for key, message in problems:
            owner = next((w for values, w in reversed(layers) if key in values), None)
            if owner is not None:
                self.error(f"{owner}.{key}", message)
            elif key is None:
                self.error(layers[-1][1], message)
            else:
                self.error(layers[-1][1], f"{key}: {message} (from defaults in "
                                          f"{self.config.source})")

    def rule(self, data, where: str, styles: dict[str, StyleDef]) -> Rule | None:
        if not isinstance(data, dict):
            self.error(where, f"expected {{match: GLOB, outputs: [...]}}, got {data!r}")
            return None
        self.keys(data, where, ["match", "priority", "outputs", "mask", "regions"])
        pattern = None
        try:
            pattern = glob_to_regex(data.get("match"))
        except ValueError as exc:
            self.error(f"{where}.match", f"{data.get('match')!r} is not a valid glob: {exc}")
        priority = data.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            self.error(f"{where}.priority", f"{priority!r} is not allowed; use an integer "
                                            f"(higher renders first; default 0)")
        outputs_data = data.get("outputs")
        if not isinstance(outputs_data, list) or not outputs_data:
            self.error(f"{where}.outputs", f"expected a non-empty list of outputs like "
                                           f"{{styles: [NAME]}}, got {outputs_data!r}")
            outputs_data = []
        outputs, slugs = [], {}
        for j, out in enumerate(outputs_data):
            spec = self.output(out, f"{where}.outputs[{j}]", styles)
            if spec is None:
                continue
            if spec.slug in slugs:
                self.error(f"{where}.outputs[{j}]",
                           f"output name {spec.slug!r} is already used by {slugs[spec.slug]}; "
                           f"give one of them a different `name:`")
            slugs.setdefault(spec.slug, f"{where}.outputs[{j}]")
            outputs.append(spec)
        mask, regions = parse_mask_rule(self, data, where, styles)
        if pattern is None:
            return None
        if mask != "none":
            self.notes.append(mask_note(self.label, where, data["match"], mask, regions))
        return Rule(match=data["match"], priority=priority, outputs=outputs, pattern=pattern,
                    mask=mask, regions=regions)

    def output(self, data, where: str, styles: dict[str, StyleDef]) -> OutputSpec | None:
        if not isinstance(data, dict):
            self.error(where, f"expected {{styles: [NAME, ...]}} or {{style: NAME}}, "
                              f"got {data!r}")
            return None
        self.keys(data, where, ["styles", "style", "name", *param_names()])
        weights = self.blend(data, where, styles)
        overrides = {k: v for k, v in data.items() if k in param_names()}
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not _SLUG.fullmatch(name)):
            self.error(f"{where}.name", f"{name!r} is not allowed; use a-z, 0-9, '_' and '-' "
                                        f"(at most 64, starting with a letter or digit)")
        if weights is None:
            return None
        layers = [(styles[s].params, f"styles.{s}") for s in weights] + [(overrides, where)]
        self.params(layers)
        params = {k: v for values, _ in layers for k, v in values.items()}
        slug = name if isinstance(name, str) else _blend_slug(weights)
        return OutputSpec(styles=weights, params=params, slug=slug)

    def blend(self, data: dict, where: str, styles: dict) -> dict[str, float] | None:
        """`style: a`, `styles: [a, b]` (equal) or `styles: {a: 0.7, b: 0.3}`; sums to 1."""
        if ("style" in data) == ("styles" in data):
            self.error(where, "give exactly one of `style: NAME` or `styles: [NAME, ...]` / "
                              "`styles: {NAME: WEIGHT, ...}`")
            return None
        key = "style" if "style" in data else "styles"
        value = data[key]
        if key == "style" or isinstance(value, list):
            names = [value] if key == "style" else value
            raw = {n: 1.0 for n in names if isinstance(n, str)}
            paths = [f"{where}.style"] if key == "style" else [
                f"{where}.styles[{i}]" for i in range(len(names))]
        elif isinstance(value, dict):
            names, raw, paths = list(value), dict(value), [f"{where}.styles.{n}" for n in value]
        else:
            self.error(f"{where}.{key}", f"{value!r} is not allowed; use a list of style names "
                                         f"or a mapping of style name to weight")
            return None
        ok = bool(names)
        if not names:
            self.error(f"{where}.styles", "empty; name at least one style")
        for n, path in zip(names, paths):
            if not isinstance(n, str) or n not in self.defined:
                known = ", ".join(sorted(self.defined)) or "none defined"
                self.error(path, f"unknown style {n!r}; defined styles: {known}")
                ok = False
            elif n not in styles:
                ok = False               # its own entry is broken and already reported
            elif names.count(n) > 1:
                self.error(path, f"style {n!r} is listed twice; list each style once")
                ok = False
            elif not (is_number(raw[n]) and raw[n] >= 0):
                self.error(path, f"weight {raw[n]!r} is not allowed; use a number >= 0")
                ok = False
        if not ok:
            return None
        total = sum(raw.values())
        if total <= 0:
            self.error(f"{where}.styles", "all blend weights are zero; give at least one "
                                          "style a weight > 0")
            return None
        weights = {n: w / total for n, w in raw.items() if w > 0}
        if isinstance(value, dict) and abs(total - 1) > 1e-6:
            scaled = ", ".join(f"{n}: {w:.3g}" for n, w in weights.items())
            self.notes.append(f"{self.label}: {where}.styles: blend weights sum to {total:g}, "
                              f"not 1; they are scaled to {{{scaled}}}")
        return weights


def _blend_slug(weights: dict[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return "_".join(f"{n}-{round(w * 100)}" for n, w in weights.items())
