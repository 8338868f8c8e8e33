"""The shape of the package, checked: imports point one way, no cycles, no private names
taken across modules, modules stay short, the job spec is read as attributes, and test
switches are read in one place. A scan of the source (ast), no imports run."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "deepart_batch"
MAX_LINES = 450

# Lower numbers sit lower. A module may import its own package and anything lower.
LAYERS = {
    "core": 0, "errors": 0, "paths": 0, "testing": 0, "report": 1,
    "journal": 2, "engine": 2,
    "settings": 3, "images": 3, "masks": 3, "weights": 3, "progress": 3, "resolution": 3,
    "approved_preview": 3,
    "pipeline": 4,
    "pool": 5, "ops": 5, "gallery": 6, "notifications": 6,
    "daemon": 7,
    "commands": 8, "cli": 9, "__init__": 0, "__main__": 9,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports():
    """(importer, imported module, names) for every import inside the package."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("deepart_batch"):
                        yield module, alias.name, []
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, is_package, node)
                if not target.startswith("deepart_batch"):
                    continue
                names = [a.name for a in node.names]
                submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
                if submodules:
                    for sub in submodules:
                        yield module, sub, []
                    rest = [n for n in names if f"{target}.{n}" not in MODULES]
                    if rest:
                        yield module, target, rest
                else:
                    yield module, target, names


IMPORTS = list(_imports())


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_part_has_a_layer():
    assert {_top(m) for m in MODULES} <= set(LAYERS), set(map(_top, MODULES)) - set(LAYERS)


def test_imports_point_down_the_layers():
    upward = sorted({f"{a} -> {b}" for a, b, _ in IMPORTS
                     if _top(a) != _top(b) and LAYERS[_top(b)] > LAYERS[_top(a)]})
    assert upward == []


def test_no_import_cycles_between_modules():
    graph = defaultdict(set)
    for a, b, _ in IMPORTS:
        if b in MODULES and a != b and not a.startswith(b + "."):
            graph[a].add(b)
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_no_private_names_taken_from_another_module():
    taken = sorted(f"{a} takes {b}.{n}" for a, b, names in IMPORTS for n in names
                   if n.startswith("_") and not n.startswith("__") and a != b)
    assert taken == []


def test_modules_stay_short():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_job_spec_is_read_as_attributes_outside_its_module():
    pattern = re.compile(r"\bspec\s*(\[\s*['\"]|\.get\(\s*['\"])")
    reads = [f"{m}:{i}" for m, p in MODULES.items() if m != "deepart_batch.core.jobspec"
             for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert reads == []


def test_test_switches_are_read_in_one_module():
    readers = sorted(m for m, p in MODULES.items()
                     if re.search(r"environ(?:\.get)?\(?\[?\s*['\"]DEEPART_", p.read_text())
                     or re.search(r"getenv\(\s*['\"]DEEPART_", p.read_text()))
    assert set(readers) <= {"deepart_batch.testing", "deepart_batch.core.environment"}
