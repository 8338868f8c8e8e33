"""The daemon's YAML config: parsed once, every problem reported at once, nothing ignored.

A typo in a key must never silently fall back to a default (a misspelt `max_size` would let
a 10k-pixel render through), so unknown keys are errors, and every message names the file,
the key path, what is wrong and what is allowed. Relative paths resolve against the config
file's directory, so the same config works whatever the daemon's working directory is.

Loading checks shape and values only; it does not require inbox, outbox or state_dir to
exist (a network share may be mounted later). `check_config` (the `validate` command) also
checks that styles_dir, the manifest and a weights file exist.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .engine.params import RenderParams
from .errors import ConfigError

__all__ = [
    "Config", "WatchConfig", "LimitsConfig", "OutputConfig", "LoggingConfig", "MetricsConfig",
    "load_config", "check_config", "check_params", "param_names", "read_yaml", "read_file",
    "raise_problems", "is_number",
]

POLLING = ("auto", "always", "never")
ON_OOM = ("smaller", "cpu", "fail")
OUTPUT_FORMATS = ("jpg", "png", "webp")
# Mirrors images.INPUT_FORMATS (lower case); aliases accepted for convenience.
INPUT_FORMATS = ("jpeg", "png", "webp", "tiff", "bmp", "gif")
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
TEMPLATE_FIELDS = ("stem", "style", "ext", "campaign")
DEFAULT_IGNORE = ("*.part", "*.tmp", "*.crdownload", "~$*", ".*", ".DS_Store", "Thumbs.db",
                  "*.json")
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- YAML reading shared with the manifest


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (the second would silently win)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float)) and seen.setdefault(key, key_node) is not key_node:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line "
                f"{seen[key].start_mark.line + 1})", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(label: str, text: str | bytes) -> tuple[Any, list[str]]:
    """Parse YAML text; syntax errors become one message with the line number."""
    try:
        return yaml.load(text, Loader=_Loader), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}; {problem}" if context and problem != context else problem
        if "alias" in detail:        # `match: **` unquoted reads as a YAML alias
            detail += "; quote values that start with '*', as in match: \"**\""
        return None, [f"{label}: {where}invalid YAML: {detail}"]


def raise_problems(problems: list[str]) -> None:
    """One ConfigError for all problems; `.errors` keeps them as a list."""
    err = ConfigError("\n".join(problems))
    err.errors = list(problems)  # type: ignore[attr-defined]
    raise err


def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _choices(options) -> str:
    options = list(options)
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


# --- value parsers: (value, config folder) -> parsed value, or _Bad("what is wrong; allowed")


class _Bad(Exception):
    pass


def _rule(test: Callable, want: str, convert: Callable = lambda v, base: v) -> Callable:
    def parse(v, base):
        if not test(v):
            raise _Bad(f"{v!r} is not allowed; use {want}")
        return convert(v, base)
    return parse


def _int(lo: int, hi: int | None = None) -> Callable:
    return _rule(lambda v: isinstance(v, int) and is_number(v) and lo <= v <= (hi or math.inf),
                 f"an integer between {lo} and {hi}" if hi else f"an integer >= {lo}")


def _seconds(positive: bool = True) -> Callable:
    return _rule(lambda v: is_number(v) and (v > 0 if positive else v >= 0),
                 f"a number of seconds {'> 0' if positive else '>= 0'}", lambda v, _: float(v))


def _choice(options) -> Callable:
    return _rule(lambda v: v in options, _choices(options))


def _nonempty(v) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _abspath(v: str, base: Path) -> Path:
    return Path(os.path.abspath(base / os.path.expanduser(v)))


def _optional(parse: Callable) -> Callable:
    return lambda v, base: None if v is None else parse(v, base)


_path = _rule(_nonempty, "a path (relative paths start at the config file's folder)", _abspath)
_text = _rule(_nonempty, "a non-empty string")
_str_or_int = _rule(lambda v: _nonempty(v) or isinstance(v, int) and is_number(v),
                    "a string like '50 MB' or an integer")
_globs = _rule(lambda v: isinstance(v, list) and all(map(_nonempty, v)),
               "a list of file-name patterns like '*.part'", lambda v, _: list(v))
_level = _rule(lambda v: isinstance(v, str) and v.upper() in LOG_LEVELS, _choices(LOG_LEVELS),
               lambda v, _: v.upper())
_weights = _rule(_nonempty, "bundled, torchvision or the path of a VGG19 state dict",
                 lambda v, base: v if v in ("bundled", "torchvision") else str(_abspath(v, base)))


def _bytes(v, _base) -> int:
    m = _SIZE.fullmatch(v) if isinstance(v, str) else None
    if isinstance(v, int) and is_number(v) and v > 0:
        return v
    if not m or float(m.group(1)) <= 0:
        raise _Bad(f"{v!r} is not allowed; use a byte count or a size like '200 MB' "
                   f"(B, kB, MB, GB, KiB, MiB, GiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def _formats(v, _base) -> list[str]:
    if not isinstance(v, list) or not v:
        raise _Bad(f"{v!r} is not allowed; use a non-empty list of {_choices(INPUT_FORMATS)}")
    out = []
    for item in v:
        name = FORMAT_ALIASES.get(str(item).lower(), str(item).lower())
        if name not in INPUT_FORMATS:
            raise _Bad(f"format {item!r} is not allowed; use {_choices(INPUT_FORMATS)}")
        out += [name] if name not in out else []
    return out


def _devices(v, _base):
    if v == "auto":
        return "auto"
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise _Bad(f"{v!r} is not allowed; use auto or a list like [cuda:0, cuda:1, cpu]")
    for item in items:
        if not isinstance(item, str) or not _DEVICE.fullmatch(item):
            raise _Bad(f"device {item!r} is not allowed; use cpu, cuda or cuda:N")
    return list(items)  # a device listed twice gets two workers, like jobs_per_device: 2


def _template(v, _base) -> str:
    allowed = _choices("{" + n + "}" for n in TEMPLATE_FIELDS)
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        bad = [n for n in names if n not in TEMPLATE_FIELDS]
        if bad:
            raise _Bad(f"field {{{bad[0]}}} is not allowed; use {allowed}")
        sample = v.format(stem="a", style="b", ext="jpg", campaign="c")
    except (ValueError, TypeError, AttributeError) as exc:
        raise _Bad(f"{v!r} is not a valid template ({exc}); use fields {allowed}") from None
    if "stem" not in names or "style" not in names:
        raise _Bad(f"{v!r} lacks {{stem}} or {{style}}; it needs both, or outputs would "
                   f"overwrite each other")
    if sample.startswith("/") or ".." in sample.split("/") or "\\" in sample:
        raise _Bad(f"{v!r} must stay inside the outbox: no leading '/', '..' or '\\'")
    return v


# --- the config: each field carries its YAML parser; one without a default is required


def _key(parse: Callable, default: Any = MISSING, factory: Any = MISSING) -> Any:
    return field(default=default, default_factory=factory, metadata={"parse": parse})


@dataclass
class WatchConfig:
    polling: str = _key(_choice(POLLING), "auto")    # auto: poll on network filesystems
    settle_seconds: float = _key(_seconds(positive=False), 5.0)  # unchanged this long first
    rescan_seconds: float = _key(_seconds(), 60.0)   # full rescan: shares drop events
    poll_interval: float = _key(_seconds(), 2.0)
    ignore: list[str] = _key(_globs, factory=lambda: list(DEFAULT_IGNORE))


@dataclass
class LimitsConfig:
    max_size: int = _key(_int(16), 2048)
    max_steps: int = _key(_int(1), 2000)
    max_input_pixels: int = _key(_int(1), 50_000_000)
    formats: list[str] = _key(_formats, factory=lambda: ["jpeg", "png", "webp", "tiff"])
    max_file_bytes: int = _key(_bytes, 200 * 10**6)


@dataclass
class OutputConfig:
    format: str = _key(_choice(OUTPUT_FORMATS), "jpg")
    quality: int = _key(_int(1, 100), 92)
    name_template: str = _key(_template, "{stem}.{style}.{ext}")


@dataclass
class LoggingConfig:
    level: str = _key(_level, "INFO")
    json_file: Path | None = _key(_optional(_path), None)
    rotation: str | int = _key(_str_or_int, "50 MB")
    retention: str | int = _key(_str_or_int, 5)


@dataclass
class MetricsConfig:
    textfile: Path | None = _key(_optional(_path), None)
    http_port: int | None = _key(_optional(_int(0, 65535)), None)
    http_host: str = _key(_text, "127.0.0.1")
    interval_seconds: float = _key(_seconds(), 15.0)


@dataclass
class Config:
    source: Path                     # the config file, absolute
    inbox: Path = _key(_path)
    outbox: Path = _key(_path)
    state_dir: Path = _key(_path)
    styles_dir: Path = _key(_path)
    manifest: Path = _key(_path)
    weights: str = _key(_weights, "bundled")           # or the absolute path of a state dict
    devices: str | list[str] = _key(_devices, "auto")  # "auto" or like ["cuda:0", "cpu"]
    jobs_per_device: int = _key(_int(1), 1)
    job_timeout: float = _key(_seconds(), 3600.0)
    max_attempts: int = _key(_int(1), 3)
    on_oom: str = _key(_choice(ON_OOM), "smaller")
    drain_seconds: float = _key(_seconds(positive=False), 300.0)
    defaults: dict[str, Any] = field(default_factory=dict)  # raw render params, validated
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def render_params(self, overrides: dict | None = None) -> RenderParams:
        """defaults + overrides, validated and held to `limits`; ConfigError names the key."""
        params, problems = check_params({**self.defaults, **(overrides or {})}, self.limits)
        if problems:
            raise_problems([f"render parameter {k}: {m}" if k else m for k, m in problems])
        assert params is not None
        return params


_SECTIONS = {f.name: f.default_factory for f in fields(Config) if is_dataclass(f.default_factory)}


# --- render parameters


def param_names() -> list[str]:
    """RenderParams fields, read at call time: the engine may grow new ones."""
    return [f.name for f in fields(RenderParams)]


def _param_default(f) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else (
        None if f.default is MISSING else f.default)


# (kind of a field's default, test for a given value, what to ask for); bool before int
_KINDS = ((bool, lambda v: isinstance(v, bool), "true or false"),
          (int, lambda v: isinstance(v, int) and is_number(v), "an integer"),
          (float, is_number, "a number"),
          (str, lambda v: isinstance(v, str), "a string"),
          ((tuple, list), lambda v: isinstance(v, (tuple, list)), "a list"),
          (dict, lambda v: isinstance(v, dict), "a mapping"))


def _type_problem(value: Any, default: Any) -> str | None:
    """Check a value against the kind of its field's default (annotations are strings)."""
    if default is None:
        return None                  # optional field (learning_rate): RenderParams decides
    if value is None:
        return "must not be empty; leave the key out to use the default"
    for kind, test, want in _KINDS:
        if isinstance(default, kind):
            return None if test(value) else f"{value!r} is not allowed; use {want}"
    return None


def check_params(merged: dict, limits: LimitsConfig | None = None
                 ) -> tuple[RenderParams | None, list[tuple[str | None, str]]]:
    """Validate merged render params; return (validated params or None, [(key, problem)]).

    The key lets callers point at the layer (config defaults, manifest style, output) the
    bad value came from; it is None when a problem involves no single key.
    """
    specs = {f.name: f for f in fields(RenderParams)}
    problems: list[tuple[str | None, str]] = []
    values: dict[str, Any] = {}
    for key, value in merged.items():
        if key not in specs:
            problems.append((key, f"unknown render parameter{_suggest(key, specs)}; "
                                  f"allowed: {', '.join(specs)}"))
            continue
        default = _param_default(specs[key])
        problem = _type_problem(value, default)
        if problem:
            problems.append((key, problem))
        elif isinstance(default, tuple) and isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    if limits is not None:
        for key, limit_name in (("size", "max_size"), ("steps", "max_steps")):
            value, limit = values.get(key), getattr(limits, limit_name)
            if isinstance(value, int) and value > limit:
                problems.append((key, f"{value} exceeds limits.{limit_name}; use at most "
                                      f"{limit}"))
    if problems:
        return None, problems
    try:
        params = RenderParams(**values).validated()
    except Exception as exc:  # ParamsError, or TypeError/ValueError from odd element types
        return None, [(_blame(str(exc), values), str(exc))]
    return params, []


def _blame(message: str, values: dict) -> str | None:
    """Which key a RenderParams error is about: its leading word, or the layer it names."""
    head, quoted = re.match(r"\w+", message), re.search(r"'([^']*)'", message)
    if head and head.group() in values:
        return head.group()
    return next((k for k in ("content_layers", "style_layers", "layer_weights") if quoted
                 and quoted.group(1) in [str(v).strip().lower() for v in values.get(k, ())]),
                None)


# --- reading


class _Reader:
    """Collects problems as `file: key.path: message` instead of stopping at the first."""

    def __init__(self, label: str, base: Path):
        self.label, self.base, self.problems = label, base, []

    def error(self, key: str, message: str) -> None:
        self.problems.append(f"{self.label}: {key}: {message}" if key else
                             f"{self.label}: {message}")

    def section(self, data: Any, cls: type, name: str = "", extra: tuple = ()) -> dict:
        """Parse one mapping into `cls` keyword arguments; record unknown and bad keys."""
        specs = {f.name: f for f in fields(cls) if "parse" in f.metadata}
        if data is not None and not isinstance(data, dict):
            self.error(name, f"expected a mapping of {', '.join(specs)}, got {data!r}")
        data = data if isinstance(data, dict) else {}
        allowed = [*specs, *extra]
        for key in data:
            if key not in allowed:
                self.error(f"{name}.{key}" if name else str(key),
                           f"unknown key{_suggest(key, allowed)}; allowed: {', '.join(allowed)}")
        out = {}
        for key, f in specs.items():
            path = f"{name}.{key}" if name else key
            if data.get(key) is None:
                if f.default is MISSING and f.default_factory is MISSING:
                    self.error(path, "is required; give a path")
                continue
            try:
                out[key] = f.metadata["parse"](data[key], self.base)
            except _Bad as exc:
                self.error(path, str(exc))
        return out


def _parse(label: str, source: Path, data: Any) -> tuple[Config | None, list[str]]:
    reader = _Reader(label, source.parent)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        reader.error("", f"expected a mapping with inbox, outbox, state_dir, styles_dir and "
                         f"manifest at the top level, got {got}")
        return None, reader.problems
    top = reader.section(data, Config, extra=(*_SECTIONS, "defaults"))
    parts = {n: cls(**reader.section(data.get(n), cls, n)) for n, cls in _SECTIONS.items()}
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        reader.error("defaults", f"expected a mapping of render parameters, got {defaults!r}; "
                                 f"allowed keys: {', '.join(param_names())}")
        defaults = {}
    for key, problem in check_params(defaults, parts["limits"])[1]:
        reader.error(f"defaults.{key}" if key else "defaults", problem)
    _check_overlaps(reader, top)
    if reader.problems:
        return None, reader.problems
    return Config(source=source, defaults=dict(defaults), **top, **parts), []


def _check_overlaps(reader: _Reader, top: dict) -> None:
    """Outputs or state inside the inbox would be picked up and restyled again, forever."""
    inbox = Path(os.path.realpath(top.get("inbox") or "/"))
    for key in ("outbox", "state_dir"):
        other = top.get(key)
        real = Path(os.path.realpath(other)) if other and "inbox" in top else None
        if real is not None and (real == inbox or inbox in real.parents):
            reader.error(key, f"{other} is inside the inbox {top['inbox']}; use a folder outside "
                              f"it, or the daemon would pick up its own files")


def read_file(path: Path, hint: str) -> tuple[bytes | None, list[str]]:
    """The file's bytes, or None and one problem saying what to do."""
    try:
        return path.read_bytes(), []
    except FileNotFoundError:
        return None, [f"{path}: file not found; {hint}"]
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror or exc}"]


def _load(path: Path) -> tuple[Config | None, list[str]]:
    text, problems = read_file(path, "give the path of a YAML config (see config.example.yaml)")
    if text is None:
        return None, problems
    data, problems = read_yaml(str(path), text)
    return (None, problems) if problems else _parse(str(path), Path(os.path.abspath(path)), data)


def check_config(path: str | os.PathLike) -> tuple[Config | None, list[str]]:
    """For `validate`: load, then also check that styles_dir, manifest and weights exist."""
    config, problems = _load(Path(path))
    if config is None:
        return None, problems
    if not config.styles_dir.is_dir():
        problems.append(f"{path}: styles_dir: {config.styles_dir} is not a directory; "
                        f"create it or point styles_dir at the folder of painting images")
    if not config.manifest.is_file():
        problems.append(f"{path}: manifest: {config.manifest} does not exist; create it "
                        f"(see examples/demo/manifest.yaml)")
    if config.weights not in ("bundled", "torchvision") and not Path(config.weights).is_file():
        problems.append(f"{path}: weights: {config.weights} does not exist; use bundled, "
                        f"torchvision or the path of a VGG19 state dict")
    return config, problems


def load_config(path: str | os.PathLike) -> Config:
    """Parse and validate the config; ConfigError lists every problem, one per line."""
    config, problems = _load(Path(path))
    if config is None:
        raise_problems(problems)
    return config  # type: ignore[return-value]
