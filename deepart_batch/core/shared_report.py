"""A render report read back from the share: the one parser of the JSON beside an output.

The report is written by the box (report.RenderReport) but lives on the share, where anyone
may edit it; so it is untrusted when read back (an approval reads the preview's report).
`SharedReport.from_dict` checks every field's type and refuses unknown ones, raising
ReportFieldError with one line naming the field: "params.seed: expected an integer, got
null". Torch-free (the daemon's parent reads reports).
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from typing import Mapping


class ReportFieldError(ValueError):
    """A report field that is unknown or of the wrong type; the message names the field."""


_JSON = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
         str: "a text", list: "a list", dict: "an object"}
_WORDS = {"int": "an integer", "float": "a number", "str": "a text", "bool": "a boolean",
          "dict": "an object", "list": "a list", "None": "null"}


def _shown(value) -> str:
    """The wrong value as JSON names it: null, a list, "text" (short)."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:37] + "...")
    return _JSON.get(type(value), type(value).__name__)


def _fits(value, kind: str) -> bool:
    """Whether a JSON value fits a field annotation as written (a string, e.g.
    "int", "float | None", "tuple[str, ...]", "dict[str, float]")."""
    parts, outer, item = _shape(kind)
    if len(parts) > 1:
        return any(_fits(value, p) for p in parts)
    if outer in ("None", "NoneType"):
        return value is None
    if outer == "bool":
        return isinstance(value, bool)
    if outer == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if outer == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if outer == "str":
        return isinstance(value, str)
    if outer in ("tuple", "list"):
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if outer == "dict":
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(v, item)
                                               for k, v in value.items())
    return True   # "object", or a type this checker does not know: anything JSON holds


@lru_cache(maxsize=None)
def _shape(kind: str) -> tuple[tuple[str, ...], str, str]:
    """An annotation taken apart once (a report's trace checks it thousands of times):
    its alternatives, its outer type and the kind of its items (a list's first argument,
    a dict's last; "object" when it names none)."""
    kind = kind.strip()
    outer, _, inner = kind.partition("[")
    inner = inner[:-1] if inner.endswith("]") else inner
    item = "object"
    if inner:
        args = _split(inner, ",")
        item = args[-1] if outer == "dict" else args[0]
    return tuple(_split(kind, "|")), outer, item


def _split(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def _expected(kind: str) -> str:
    """An annotation in words: "float | None" -> "a number or null"."""
    words = []
    for part in _split(kind, "|"):
        outer = part.split("[")[0]
        words.append({"tuple": "a list", "list": "a list"}.get(outer, _WORDS.get(outer, part)))
    return " or ".join(words)


def _wrong(where: str, value, kind: str) -> str:
    """The line naming the innermost wrong part of `value`: "params.scales[1]: ..."."""
    outer, _, inner = kind.partition("[")
    inner = inner[:-1] if inner.endswith("]") else inner
    if len(_split(kind, "|")) == 1 and inner:
        if outer in ("tuple", "list") and isinstance(value, list):
            item = _split(inner, ",")[0]
            bad = next(n for n, v in enumerate(value) if not _fits(v, item))
            return _wrong(f"{where}[{bad}]", value[bad], item)
        if outer == "dict" and isinstance(value, dict):
            item = _split(inner, ",")[-1]
            bad = next(k for k, v in value.items() if not (isinstance(k, str) and _fits(v, item)))
            return _wrong(f"{where}.{bad}", value[bad], item)
    return f"{where}: expected {_expected(kind)}, got {_shown(value)}"


def check_fields(data, kinds: Mapping[str, str], where: str, required=()) -> dict:
    """`data` (a JSON object) with every key known to `kinds` (name -> annotation) and of
    its type; else ReportFieldError naming `where.key`."""
    if not isinstance(data, dict):
        raise ReportFieldError(f"{where or 'the report'}: expected an object, "
                               f"got {_shown(data)}")
    prefix = f"{where}." if where else ""
    for key, value in data.items():
        if key not in kinds:
            raise ReportFieldError(f"{prefix}{key}: not a field of a render report")
        if not _fits(value, kinds[key]):
            raise ReportFieldError(_wrong(f"{prefix}{key}", value, kinds[key]))
    for key in required:
        if key not in data:
            raise ReportFieldError(f"{prefix}{key}: missing")
    return data


def _kinds(cls) -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(cls)}


def _required(cls) -> list[str]:
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]


@dataclass(frozen=True)
class ReportFile:
    """One file a report names: the photo, or one style with its name and weight."""
    path: str
    sha256: str
    name: str | None = None
    weight: float | None = None

    @classmethod
    def from_dict(cls, d, where: str) -> "ReportFile":
        return cls(**check_fields(d, _kinds(cls), where, _required(cls)))


@dataclass(frozen=True)
class ReportOutput:
    """What a report says of its output image."""
    path: str = ""
    width: int = 0
    height: int = 0
    format: str | None = None
    sha256: str | None = None         # approval.stamp: the published image's hash
    look_size: int | None = None
    photo_long_side: int | None = None
    photo_upsampled: float | None = None
    warning: str | None = None
    approved_from: dict | None = None

    @classmethod
    def from_dict(cls, d, where: str = "output") -> "ReportOutput":
        return cls(**check_fields(d, _kinds(cls), where))

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)


@dataclass(frozen=True)
class SharedReport:
    """A render report as read from the share (the fields report.RenderReport writes)."""
    status: str
    params: dict
    seed: int
    input: ReportFile | None = None
    styles: tuple[ReportFile, ...] = ()
    output: ReportOutput | None = None
    weights: dict = field(default_factory=dict)
    device: str = ""
    precision: str = ""
    memory: dict = field(default_factory=dict)
    loop: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    trace: list = field(default_factory=list)
    final: dict | None = None
    final_measured_on: str = ""
    error: str | None = None
    job: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    schema: str = ""
    summary: str | None = None
    regions: dict | None = None      # a masked render: the mask and its regions

    @classmethod
    def from_dict(cls, d, params_kinds: Mapping[str, str] | None = None) -> "SharedReport":
        """The report `d` (parsed JSON), every field checked; `params_kinds` (name ->
        annotation, e.g. from RenderParams' fields) checks `params` too. Raises
        ReportFieldError naming the first wrong field."""
        kinds = {**_kinds(cls), "input": "dict | None", "styles": "list",
                 "output": "dict | None"}
        d = dict(check_fields(d, kinds, "", _required(cls)))
        if params_kinds is not None:
            check_fields(d["params"], params_kinds, "params")
        if d.get("input") is not None:
            d["input"] = ReportFile.from_dict(d["input"], "input")
        d["styles"] = tuple(ReportFile.from_dict(s, f"styles[{n}]")
                            for n, s in enumerate(d.get("styles") or ()))
        if d.get("output") is not None:
            d["output"] = ReportOutput.from_dict(d["output"])
        return cls(**d)


def annotation_kinds(cls) -> dict[str, str]:
    """name -> annotation string of a dataclass's fields (what `params_kinds` takes)."""
    return {f.name: re.sub(r"\s+", " ", str(f.type)) for f in fields(cls)}
