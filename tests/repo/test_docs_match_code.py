"""The docs say what the code does: the failure reasons in docs/operations.md are exactly
core.states.FailureReason, each in its own category's row; the configuration reference names
exactly the keys the config dataclasses and RenderParams read, with their defaults; and every
relative link in README.md and docs/ leads to a file and heading that exist."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import pytest
import yaml

from deepart_batch.core.states import Category, FailureReason
from deepart_batch.core.params import RenderParams
from deepart_batch.settings.config import Config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Linked from the README's "More" list ahead of their branches' merge; a missing one is
# allowed only while it is absent altogether.


def _section(text: str, heading: str) -> str:
    """The body of the `## heading` section."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def test_failure_reasons_listed_are_the_enum_by_category():
    table = _section((DOCS / "operations.md").read_text(), "When a photo cannot be rendered")
    listed: dict[str, Category] = {}
    for category in Category:
        row = next((line for line in table.splitlines()
                    if line.startswith("|") and f"(`{category.value}`)" in line), None)
        assert row, f"no row for the {category.value} category"
        reasons_cell = re.sub(r"\([^)]*\)", "", row.split("|")[2])   # not "(after `on_oom`)"
        for name in re.findall(r"`([a-z_]+)`", reasons_cell):
            assert name not in listed, f"{name} listed twice"
            listed[name] = category
    expected = {reason.value: reason.category for reason in FailureReason}
    assert set(listed) == set(expected), (
        f"missing from the docs: {sorted(set(expected) - set(listed))}; "
        f"not in FailureReason: {sorted(set(listed) - set(expected))}")
    wrong = {name: (listed[name].value, expected[name].value) for name in listed
             if listed[name] != expected[name]}
    assert not wrong, f"listed under the wrong category (docs, code): {wrong}"


def _config_defaults(cls, prefix: str = ""):
    """(dotted key, field) for every key the config reads; `defaults` is RenderParams."""
    for f in fields(cls):
        if "parse" in f.metadata:
            yield prefix + f.name, f
        elif f.default_factory is not MISSING and is_dataclass(f.default_factory):
            yield from _config_defaults(f.default_factory, f"{prefix}{f.name}.")


def _documented() -> dict[str, str]:
    text = (DOCS / "configuration.md").read_text()
    rows = re.findall(r"^\| `([a-z_.]+)` \| `([^`]*)` \|", text, re.M)
    keys = [key for key, _ in rows]
    assert len(keys) == len(set(keys)), "a key documented twice"
    return dict(rows)


def test_configuration_reference_names_every_config_key_with_its_default():
    documented = {k: v for k, v in _documented().items() if not k.startswith("defaults.")}
    code = dict(_config_defaults(Config))
    assert set(documented) == set(code), (
        f"missing from docs/configuration.md: {sorted(set(code) - set(documented))}; "
        f"not read by the config: {sorted(set(documented) - set(code))}")
    for key, f in code.items():
        shown = documented[key]
        if f.default is MISSING and f.default_factory is MISSING:
            assert shown == "required", f"{key}: the code requires it, the docs say {shown!r}"
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        value = yaml.safe_load(shown)
        parsed = f.metadata["parse"](value, ROOT) if value is not None else None
        assert parsed == default, f"{key}: the docs say {shown!r}, the code's default is {default!r}"


def test_configuration_reference_names_every_render_parameter_with_its_default():
    documented = {k.removeprefix("defaults."): v for k, v in _documented().items()
                  if k.startswith("defaults.")}
    code = {f.name: f for f in fields(RenderParams)}
    assert set(documented) == set(code), (
        f"missing from docs/configuration.md: {sorted(set(code) - set(documented))}; "
        f"not a render parameter: {sorted(set(documented) - set(code))}")
    for name, f in code.items():
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        value = yaml.safe_load(documented[name])
        if isinstance(default, tuple):
            default = list(default)
        assert value == default, (f"defaults.{name}: the docs say {documented[name]!r}, the "
                                  f"code's default is {default!r}")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings_that_exist(doc):
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue                       # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        rel = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if not file.exists():
            broken.append(f"{target}: no file {rel}")
            continue
        if anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {rel}")
    assert not broken, broken
