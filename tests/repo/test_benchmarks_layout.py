"""Benchmarks run as `python -m benchmarks.<name>` from the repository root: none edits
sys.path, and every import of another benchmark module or of the tests' support resolves to a
file that exists (an ast scan; nothing is run)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "benchmarks").rglob("*.py"))


def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return base if base.is_dir() else None   # a namespace package (tests/)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_imports_without_editing_sys_path(script):
    tree = ast.parse(script.read_text(), str(script))
    edits = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute)
             and node.attr == "path" and isinstance(node.value, ast.Name)
             and node.value.id == "sys"]
    assert not edits, f"{script.name} touches sys.path on lines {edits}"
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] in ("benchmarks", "tests"):
            found = _module_file(node.module)
            if found is None:
                missing.append(node.module)
            elif found.is_dir() or found.name == "__init__.py":   # a package: its modules
                missing += [f"{node.module}.{a.name}" for a in node.names
                            if _module_file(f"{node.module}.{a.name}") is None]
    assert not missing, f"{script.name} imports what does not exist: {missing}"


def test_make_bench_runs_a_benchmark_module_that_exists():
    recipe = re.search(r"^bench:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    module = re.search(r"-m (benchmarks\.[\w.]+)", recipe).group(1)
    assert _module_file(module) is not None, recipe
