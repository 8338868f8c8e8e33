"""The shape of the package, checked: imports point one way, no cycles, no private names
taken across modules, modules stay short, the job spec is read as attributes, and test
switches are read in one place. A scan of the source (ast), no imports run."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "deepart_batch"
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


def _daemon_module_names(module: str, path: Path) -> dict[str, str]:
    """Local name -> package module, for every import of a package module in `path`."""
    tree = ast.parse(path.read_text(), str(path))
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("deepart_batch") and alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{target}.{alias.name}"
    return bound


def test_no_daemon_module_reaches_into_another_modules_private_names():
    """Neither `from .x import _name` nor `x._name` on an imported module of the package."""
    reaches = []
    for module, path in MODULES.items():
        if not module.startswith("deepart_batch.daemon"):
            continue
        bound = _daemon_module_names(module, path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id in bound and _is_private(node.attr) and \
                    bound[node.value.id] != module:
                reaches.append(f"{module}:{node.lineno} {bound[node.value.id]}.{node.attr}")
    reaches += [f"{a} takes {b}.{n}" for a, b, names in IMPORTS
                if a.startswith("deepart_batch.daemon") and a != b
                for n in names if _is_private(n)]
    assert sorted(reaches) == []


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


# -- the vocabulary: states, failure reasons and daemon events ---------------------------
# Their string values appear in core/states.py only; everywhere else the code names the
# member. A string constant counts as one of them where the code USES it as one: compared
# (`state == "done"`, `in ("held", ...)`), passed to a call or keyword, a key or value of a
# table keyed by them (every key one of them), or assigned or returned. Docstrings, comments
# and log text are not such uses (an f-string's text is no constant of its own). A record's
# field named like a state is not one (status.json's "running" list, a report's "queued"
# time), so other dict keys, subscripts and `.get("x")` do not count; and as reasons and
# daemon events are common words ("error", "image", "started"), a dict's values count
# only where they are job or input state values.
VOCABULARY_MODULE = "deepart_batch.core.states"
# (module, value): strings that equal a member's value but are another thing.
NOT_THE_VOCABULARY = {
    ("deepart_batch.engine.loopcount", "empty"): "torch.empty, an operator's name",
    ("deepart_batch.testing", "oom"): "an injected fault's kind",
    ("deepart_batch.pool.faults", "oom"): "an injected fault's kind (testing.py)",
    ("deepart_batch.pool.worker", "oom"): "an injected fault's kind (testing.py)",
    ("deepart_batch.core.params", "image"): "an init mode: start from an image",
    ("deepart_batch.commands.options", "image"): "an init mode: start from an image",
    ("deepart_batch.settings.manifest", "unreadable"): "the manifest reader's own signature",
    ("deepart_batch.settings.manifest_schema", "image"): "a manifest key: {image: FILE}",
    ("deepart_batch.settings.notify_config", "format"): "an endpoint's key: {format: slack}",
}
FIELD_READS = {"get", "pop", "setdefault", "getattr", "hasattr"}   # name a field


def _vocabulary() -> tuple[set[str], set[str]]:
    """(job and input state values, reason and daemon event values) from core/states.py."""
    from deepart_batch.core.states import DaemonEvent, FailureReason, InputState, JobState
    states = {m.value for enum in (JobState, InputState) for m in enum}
    others = {m.value for enum in (FailureReason, DaemonEvent) for m in enum} - states
    return states, others


def _vocabulary_literals(tree: ast.AST, states: set[str], others: set[str]):
    """(line, value) of each string constant used as a state, reason or event."""
    every = states | others

    def strings(node, values):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value in values:
            yield node
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for element in node.elts:
                yield from strings(element, values)

    for node in ast.walk(tree):
        used: list[tuple[ast.AST, set[str]]] = []
        if isinstance(node, ast.Compare):
            used = [(n, every) for n in (node.left, *node.comparators)]
        elif isinstance(node, ast.Dict) and node.keys and all(
                isinstance(k, ast.Constant) and k.value in every for k in node.keys):
            used = [(n, states) for n in (*node.keys, *node.values)]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            used = [(a, every) for a in node.args] if name not in FIELD_READS else []
            used += [(k.value, every) for k in node.keywords]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Return)) and node.value:
            used = [(node.value, every)]
        for part, values in used:
            for constant in strings(part, values):
                yield constant.lineno, constant.value


def test_states_reasons_and_events_are_named_by_their_members_outside_core_states():
    states, others = _vocabulary()
    found = sorted({f"{path.relative_to(PACKAGE.parent)}:{line} {value!r}"
                    for module, path in MODULES.items() if module != VOCABULARY_MODULE
                    for line, value in _vocabulary_literals(
                        ast.parse(path.read_text(), str(path)), states, others)
                    if (module, value) not in NOT_THE_VOCABULARY})
    assert found == [], f"{len(found)} literal(s):\n" + "\n".join(found)


def _quoted_in_sql(tree: ast.AST, states: set[str]):
    """(line, value) of a job or input state written into SQL text: `state='held'`. The
    journal's queries take them as parameters or through f-strings of the members."""
    quoted = re.compile(r"'(" + "|".join(sorted(states)) + r")'")
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings:
            for match in quoted.finditer(node.value):
                yield node.lineno, match.group(1)


def test_queries_take_states_from_their_members():
    states, _ = _vocabulary()
    found = sorted(f"{path.relative_to(PACKAGE.parent)}:{line} {value!r}"
                   for module, path in MODULES.items() if module != VOCABULARY_MODULE
                   for line, value in _quoted_in_sql(ast.parse(path.read_text()), states))
    assert found == [], "\n".join(found)


def test_the_vocabulary_rule_sees_what_it_should_and_not_text():
    states, others = _vocabulary()
    source = '''
def f(job, report, events):
    """A docstring saying done, failed and held."""
    logger.info("job {} done", job.id)
    note = f"the photo is held: {job.reason}"
    if job.state == "done" or job.state in ("held", "failed"):
        journal.mark_failed(job.id, "unreadable", "x")
    events.emit("taken", reason=report.get("error"))
    labels = {"queued": "waiting to render", "held": "waiting for the setup"}
    record = {"running": [], "counts": {}, "timings": {"queued": "12:00"}}
    return labels, record["running"], report["error"], "done"
'''
    found = sorted(_vocabulary_literals(ast.parse(source), states, others))
    assert found == [(6, "done"), (6, "failed"), (6, "held"), (7, "unreadable"), (8, "taken"),
                     (9, "held"), (9, "queued"), (10, "queued"), (11, "done")]
