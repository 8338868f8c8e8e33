"""Commands that need no torch never import it: a stub `torch` that raises proves it."""

import os

import pytest

from conftest import run_cli
from daemon_helpers import Box


@pytest.fixture
def no_torch(tmp_path):
    stub = tmp_path / "stub" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch imported by a torch-free command')\n")
    path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(stub.parent)]).strip(os.pathsep)
    # The stub goes last so the tree under test still comes first; it shadows the real torch
    # because site-packages come after PYTHONPATH.
    return {"PYTHONPATH": path}


def test_stub_really_blocks_torch(no_torch):
    res = run_cli("render", "x.jpg", "y.jpg", "-o", "z.jpg", env=no_torch)
    assert res.returncode != 0 and "torch imported by a torch-free command" in res.stderr


@pytest.mark.parametrize("argv", [["--help"], ["render", "--help"], ["run", "--help"],
                                  ["prune", "--help"], ["--version"]])
def test_help_without_torch(no_torch, argv):
    res = run_cli(*argv, env=no_torch)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr


def test_validate_and_status_without_torch(tmp_path, no_torch):
    box = Box(tmp_path)
    res = box.cli("validate", "--config", box.config, env=no_torch)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout
    res = box.cli("status", "--config", box.config, env=no_torch)
    assert res.returncode == 0, res.stderr


def test_validate_reports_errors_without_torch(tmp_path, no_torch):
    box = Box(tmp_path, manifest="styles:\n  a: {image: starry_night.jpg, size: huge}\n"
                                 "rules: [{match: '**', outputs: [{style: a}]}]\n")
    res = box.cli("validate", "--config", box.config, env=no_torch)
    assert res.returncode == 2
    assert "styles.a.size" in res.stderr and "Traceback" not in res.stderr
