"""Test-only switches are read in deepart_batch/testing.py and nowhere else; user knobs in
core/environment.py; and the commands depend on the library, never the reverse."""

import ast
import re
from pathlib import Path

import pytest

import deepart_batch
from deepart_batch import testing
from deepart_batch.core import environment

PACKAGE = Path(deepart_batch.__file__).parent
ENV_READERS = {PACKAGE / "testing.py", PACKAGE / "core" / "environment.py"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _deepart_env_reads(tree):
    """A string that is a variable's name: what os.environ.get, os.environ[...] or
    os.getenv would be given (docstrings that mention one are fine)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"DEEPART_[A-Z0-9_]+", node.value):
            yield node.lineno


def test_only_testing_and_environment_name_deepart_variables():
    found = [f"{p.relative_to(PACKAGE)}:{line}" for p in _modules() if p not in ENV_READERS
             for line in _deepart_env_reads(ast.parse(p.read_text()))]
    assert not found, f"DEEPART_* read outside testing.py / core/environment.py: {found}"


def test_every_switch_is_documented():
    for name in (*testing.SWITCHES, environment.CACHE_DIR, environment.RENDER_LOOP):
        module = testing if name in testing.SWITCHES else environment
        assert name in module.__doc__, name


def test_switches_read_the_environment(monkeypatch, tmp_path):
    for name in testing.SWITCHES:
        monkeypatch.delenv(name, raising=False)
    assert not testing.crash_point_enabled("after_claim_move")
    assert testing.disk_full_flag() is None and testing.fake_cuda_count() is None
    assert testing.stop_observer_after() is None and testing.injected_fault() is None
    monkeypatch.setenv(testing.CRASH_AT, "after_claim_move")
    monkeypatch.setenv(testing.FAKE_CUDA_COUNT, "4")
    monkeypatch.setenv(testing.STOP_OBSERVER_AFTER, "2.5")
    monkeypatch.setenv(testing.INJECT_FAULT, "crash@1,3:tubingen")
    assert testing.crash_point_enabled("after_claim_move")
    assert not testing.crash_point_enabled("after_archive_rename")
    assert testing.fake_cuda_count() == 4 and testing.stop_observer_after() == 2.5
    fault = testing.injected_fault()
    assert (fault.kind, fault.attempts, fault.match) == ("crash", {1, 3}, "tubingen")
    assert fault.applies(3, "city/tubingen.jpg") and not fault.applies(2, "city/tubingen.jpg")
    assert testing.injected_fault("oom").attempts is None     # a Ray actor's copy wins
    monkeypatch.setenv(environment.CACHE_DIR, str(tmp_path))
    assert environment.weights_cache_dir() == tmp_path


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="DEEPART_INJECT_FAULT"):
        testing.parse_fault("explode")


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            yield target
            yield from (f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_nothing_below_the_commands_imports_them():
    below = [p for p in _modules() if p != PACKAGE / "cli.py"
             and (PACKAGE / "commands") not in p.parents]
    bad = [f"{p.relative_to(PACKAGE)} -> {t}" for p in below for t in _imports(p)
           if t in ("deepart_batch.cli", "deepart_batch.commands")
           or t.startswith(("deepart_batch.cli.", "deepart_batch.commands."))]
    assert not bad, bad
