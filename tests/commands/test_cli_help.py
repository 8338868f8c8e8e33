"""The CLI's surface: every option explained, --version, quiet on a closed pipe."""

import argparse
import re
import subprocess
import sys

import pytest

from deepart_batch import __version__
from deepart_batch.cli import build_parser

from conftest import run_cli
from support.boxes import Box


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_option_has_help_text():
    parser = build_parser()
    commands = dict(_subparsers(parser))
    assert {"render", "watch", "run", "status", "validate", "prune", "weights"} <= set(commands)
    for name, sub in [("", parser), *commands.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("command", ["", "render", "watch", "run", "status", "validate",
                                     "prune", "weights"])
def test_help_has_no_empty_or_doubled_defaults(command):
    res = run_cli(*([command] if command else []), "--help")
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())          # argparse wraps lines
    assert "(default: None)" not in text
    assert not re.search(r"\(default:[^)]*\) \(default:", text), text
    assert "('" not in text                      # tuples shown as a,b,c


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"deepart-batch {__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["status"]])
def test_closed_pipe_ends_quietly(tmp_path, argv):
    box = Box(tmp_path)
    if argv == ["status"]:
        argv = ["status", "--config", str(box.config)]
    proc = subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=box.env)
    proc.stdout.close()                          # the reader went away (`| head -0`)
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert "Exception ignored" not in err, err
    assert proc.returncode in (0, 141)


def test_retry_and_gallery_help_need_no_torch(tmp_path):
    """The commands package imports torch only where a handler renders."""
    import os
    stub = tmp_path / "stub" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch imported by a torch-free command')\n")
    path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(stub.parent)]).strip(os.pathsep)
    box = Box(tmp_path / "box")
    res = box.cli("retry", "--config", box.config, "--all-failed", env={"PYTHONPATH": path})
    assert res.returncode == 1 and "nothing matched" in res.stderr, res.stderr
    for argv in (["contact-sheet", "--help"], ["weights", "--help"], ["gallery", "--help"]):
        res = run_cli(*argv, env={"PYTHONPATH": path})
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
