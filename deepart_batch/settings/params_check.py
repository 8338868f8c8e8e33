"""Render parameters from YAML (config defaults, manifest styles and outputs): each value
checked against its RenderParams field, with a problem per key instead of the first error.

The fields, their defaults and their choices come from core.params, read at call time;
the checks here only say, in the config's words, what YAML gave that the field cannot take.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from typing import Any

from ..core.params import RenderParams, param_choices
from .yamlcheck import choices, is_number, suggest

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


# Render parameters that take one of a few words: a wrong value names them all.
PARAM_CHOICES = param_choices()


def _choice_problem(key: str, value: Any) -> str | None:
    allowed = PARAM_CHOICES.get(key)
    if allowed is None or isinstance(value, str):   # a wrong word: RenderParams says so
        return None
    hint = (" (YAML reads unquoted yes/no/on/off as true/false: write the word you mean, "
            "quoted if needed)" if isinstance(value, bool) else "")
    return f"{value!r} is not allowed; use {choices(allowed)}{hint}"


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


def check_params(merged: dict, limits=None
                 ) -> tuple[RenderParams | None, list[tuple[str | None, str]]]:
    """Validate merged render params; return (validated params or None, [(key, problem)]).

    The key lets callers point at the layer (config defaults, manifest style, output) the
    bad value came from; it is None when a problem involves no single key. `limits`: a
    config.LimitsConfig whose max_size and max_steps bound size and steps.
    """
    specs = {f.name: f for f in fields(RenderParams)}
    problems: list[tuple[str | None, str]] = []
    values: dict[str, Any] = {}
    for key, value in merged.items():
        if key not in specs:
            problems.append((key, f"unknown render parameter{suggest(key, specs)}; "
                                  f"allowed: {', '.join(specs)}"))
            continue
        default = _param_default(specs[key])
        problem = _choice_problem(key, value) or _type_problem(value, default)
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
    return _validated(values)


def _validated(values: dict) -> tuple[RenderParams | None, list[tuple[str | None, str]]]:
    """RenderParams stops at its first error: leave the blamed key out and ask again, so
    every bad key is reported at once (and no good key is blamed for another's value)."""
    problems: list[tuple[str | None, str]] = []
    values = dict(values)
    while True:
        try:
            params = RenderParams(**values).validated()
        except Exception as exc:  # ParamsError, or TypeError/ValueError from odd elements
            key = _blame(str(exc), values)
            problems.append((key, str(exc)))
            if key is None or key not in values:
                return None, problems
            del values[key]
            continue
        return (None, problems) if problems else (params, [])


def _blame(message: str, values: dict) -> str | None:
    """Which key a RenderParams error is about: its leading word, or the layer it names."""
    head, quoted = re.match(r"\w+", message), re.search(r"'([^']*)'", message)
    if head and head.group() in values:
        return head.group()
    return next((k for k in ("content_layers", "style_layers", "layer_weights") if quoted
                 and quoted.group(1) in [str(v).strip().lower() for v in values.get(k, ())]),
                None)
