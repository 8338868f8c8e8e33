"""Strict YAML reading that reports every problem at once, shared by the config and manifest.

Both files are hand-edited, so nothing may be silently ignored: duplicate keys are refused
(the second would win), syntax errors name the line, and values are checked by small
parsers that say what is wrong and what is allowed. `Reader` parses a mapping into a
dataclass whose fields carry their parser (see `setting`), collecting problems as
`file: key.path: message` instead of stopping at the first.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from ..core.timefmt import parse_duration
from ..errors import ConfigError

__all__ = [
    "MAX_YAML_BYTES", "MAX_YAML_VALUES", "clip", "bounded",
    "is_number", "read_yaml", "read_file", "raise_problems", "suggest", "choices", "BadValue",
    "rule", "integer", "seconds", "choice", "nonempty", "abspath", "optional", "byte_size",
    "setting", "Reader", "parse_duration", "duration",
]

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?\s*", re.IGNORECASE)
# Hand-written config and manifest files are a few kB; these bounds stop an alias bomb (a
# 600-byte file whose aliases expand to millions of values) or a huge paste from stalling
# the daemon or writing megabytes into error files and logs.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_VALUES = 100_000         # scalars, lists and mappings, counting each alias use
MAX_PROBLEM_CHARS = 600           # one problem line
MAX_PROBLEMS = 50                 # problems reported per file
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- reading files and YAML


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


def clip(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    """One bounded line: long values are cut in the middle, saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = (limit - 40) // 2
    return f"{text[:keep]} ...[{len(text) - 2 * keep} characters cut]... {text[-keep:]}"


def bounded(problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS clipped lines, and a last line saying how many were left out."""
    out = [clip(p) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        out.append(f"... and {len(problems) - MAX_PROBLEMS} more problems; fix these first")
    return out


def _expanded_size(node, memo: dict) -> int:
    """Values the document holds once every alias is expanded (shared nodes count each use)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1                       # a recursive alias counts once
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    memo[id(node)] = 1 + sum(_expanded_size(c, memo) for c in children)
    return memo[id(node)]


def _not_text(label: str, exc) -> str:
    where = f" at byte {exc.position}" if getattr(exc, "position", None) is not None else ""
    return clip(f"{label}: is not UTF-8 text (unreadable byte{where}); is this the right "
                f"file? Save it as UTF-8 text")


def read_yaml(label: str, text: str | bytes) -> tuple[Any, list[str]]:
    """Parse YAML text; syntax errors become one message with the line number.

    Refuses documents over MAX_YAML_BYTES, and aliases that expand to more than
    MAX_YAML_VALUES values, before building any Python object from them."""
    if len(text) > MAX_YAML_BYTES:
        return None, [f"{label}: the file is too large (over {MAX_YAML_BYTES:,} bytes); "
                      f"is this the right file?"]
    try:
        loader = _Loader(text)       # reads the encoding: bytes that are not text fail here
    except yaml.reader.ReaderError as exc:
        return None, [_not_text(label, exc)]
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_VALUES:
            return None, [f"{label}: YAML aliases (*name) expand to more than "
                          f"{MAX_YAML_VALUES:,} values; write the values out, or use fewer "
                          f"aliases"]
        return (None if node is None else loader.construct_document(node)), []
    except RecursionError:
        return None, [f"{label}: nested too deeply to read; flatten the lists and mappings"]
    except yaml.reader.ReaderError as exc:   # a bad byte further into the file
        return None, [_not_text(label, exc)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}; {problem}" if context and problem != context else problem
        if "alias" in detail:        # `match: **` unquoted reads as a YAML alias
            detail += "; quote values that start with '*', as in match: \"**\""
        return None, [clip(f"{label}: {where}invalid YAML: {detail}")]
    finally:
        loader.dispose()


def read_file(path: Path, hint: str) -> tuple[bytes | None, list[str]]:
    """The file's bytes, or None and one problem saying what to do.

    Reads at most MAX_YAML_BYTES + 1 bytes (read_yaml refuses more) and never opens a
    FIFO or device, whose open or read could block forever."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None, [f"{path}: not a regular file; {hint}"]
        with open(path, "rb") as fh:
            return fh.read(MAX_YAML_BYTES + 1), []
    except FileNotFoundError:
        return None, [f"{path}: file not found; {hint}"]
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror or exc}"]


def raise_problems(problems: list[str]) -> None:
    """One ConfigError for all problems; `.errors` keeps them as a list."""
    err = ConfigError("\n".join(problems))
    err.errors = list(problems)  # type: ignore[attr-defined]
    raise err


def suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def choices(options) -> str:
    options = list(options)
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


# --- value parsers: (value, config folder) -> parsed value, or BadValue("what; allowed")


class BadValue(Exception):
    pass


def rule(test: Callable, want: str, convert: Callable = lambda v, base: v) -> Callable:
    def parse(v, base):
        if not test(v):
            raise BadValue(f"{v!r} is not allowed; use {want}")
        return convert(v, base)
    return parse


def integer(lo: int, hi: int | None = None) -> Callable:
    return rule(lambda v: isinstance(v, int) and is_number(v) and lo <= v <= (hi or math.inf),
                f"an integer between {lo} and {hi}" if hi else f"an integer >= {lo}")


def seconds(positive: bool = True) -> Callable:
    return rule(lambda v: is_number(v) and (v > 0 if positive else v >= 0),
                f"a number of seconds {'> 0' if positive else '>= 0'}", lambda v, _: float(v))


def choice(options) -> Callable:
    return rule(lambda v: v in options, choices(options))


def nonempty(v) -> bool:
    return isinstance(v, str) and bool(v.strip())


def abspath(v: str, base: Path) -> Path:
    return Path(os.path.abspath(base / os.path.expanduser(v)))


def optional(parse: Callable) -> Callable:
    return lambda v, base: None if v is None else parse(v, base)


def byte_size(v, _base) -> int:
    m = _SIZE.fullmatch(v) if isinstance(v, str) else None
    if isinstance(v, int) and is_number(v) and v > 0:
        return v
    if not m or float(m.group(1)) <= 0:
        raise BadValue(f"{v!r} is not allowed; use a byte count or a size like '200 MB' "
                       f"(B, kB, MB, GB, KiB, MiB, GiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def duration(v, _base) -> float:
    try:
        return parse_duration(v)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


# --- mappings into dataclasses


def setting(parse: Callable, default: Any = MISSING, factory: Any = MISSING,
            help: str | None = None) -> Any:
    """A dataclass field read from YAML by `parse`; one without a default is required.
    `help`: what the commands say about the same value when they take it as an option."""
    return field(default=default, default_factory=factory,
                 metadata={"parse": parse, "help": help})


class Reader:
    """Collects problems as `file: key.path: message` instead of stopping at the first."""

    def __init__(self, label: str, base: Path):
        self.label, self.base, self.problems = label, base, []

    def error(self, key: str, message: str) -> None:
        self.problems.append(clip(f"{self.label}: {key}: {message}" if key else
                                  f"{self.label}: {message}"))

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
                           f"unknown key{suggest(key, allowed)}; allowed: {', '.join(allowed)}")
        out = {}
        for key, f in specs.items():
            path = f"{name}.{key}" if name else key
            if data.get(key) is None:
                if f.default is MISSING and f.default_factory is MISSING:
                    self.error(path, "is required; give a path")
                continue
            try:
                out[key] = f.metadata["parse"](data[key], self.base)
            except BadValue as exc:
                self.error(path, str(exc))
        return out
