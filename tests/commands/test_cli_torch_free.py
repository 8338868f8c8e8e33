"""Commands that need no torch never import it: a stub `torch` that raises proves it."""

import os
import subprocess
import sys
import time

import pytest

from conftest import DATA, run_cli
from support.boxes import Box


@pytest.fixture
def no_torch(tmp_path):
    stub = tmp_path / "stub" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch imported by a torch-free command')\n")
    path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(stub.parent)]).strip(os.pathsep)
    # The stub goes last so the tree under test still comes first; it shadows the real torch
    # because site-packages come after PYTHONPATH.
    return {"PYTHONPATH": path}


def test_stub_really_blocks_torch(no_torch, tmp_path):
    res = run_cli("render", DATA / "tubingen.jpg", DATA / "starry_night.jpg", "-o",
                  tmp_path / "z.jpg", "--size", "32", "--steps", "1", env=no_torch)
    assert res.returncode != 0 and "torch imported by a torch-free command" in res.stderr


@pytest.mark.parametrize("content, output, extra", [
    ("missing.jpg", "o.png", []),                     # no such photo
    ("tubingen.jpg", "o.gif", []),                    # no such output format
    ("tubingen.jpg", "o.png", ["--tv-weight", "-2"]),  # a parameter out of range
])
def test_render_answers_a_bad_input_before_importing_torch(no_torch, tmp_path, content, output,
                                                           extra):
    """A typo costs no torch start-up (seconds on a busy box): the one clear line at once."""
    argv = [DATA / content, DATA / "starry_night.jpg", "-o", tmp_path / output, *extra]
    res = run_cli("render", *argv, env=no_torch)
    assert res.returncode == 2, res.stderr
    assert "torch imported" not in res.stderr and "Traceback" not in res.stderr


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
    res = box.cli("styles", "--config", box.config, env=no_torch)
    assert res.returncode == 0 and "the_scream.jpg" in res.stdout, res.stderr


def test_notify_commands_without_torch(tmp_path, no_torch):
    from support.http_receiver import HttpReceiver
    box = Box(tmp_path)
    res = box.cli("notify", "secret", env=no_torch)
    assert res.returncode == 0 and res.stdout.startswith("whsec_"), res.stderr
    with HttpReceiver(path="/hook") as hook:
        box.rewrite_config(notify={"secret": res.stdout.strip(),
                                   "endpoints": [{"url": hook.url, "format": "slack"}]})
        res = box.cli("notify", "test", "--config", box.config, env=no_torch)
    assert res.returncode == 0 and res.stdout.startswith("answered"), res.stdout + res.stderr


def test_validate_reports_errors_without_torch(tmp_path, no_torch):
    box = Box(tmp_path, manifest="styles:\n  a: {image: starry_night.jpg, size: huge}\n"
                                 "rules: [{match: '**', outputs: [{style: a}]}]\n")
    res = box.cli("validate", "--config", box.config, env=no_torch)
    assert res.returncode == 2
    assert "styles.a.size" in res.stderr and "Traceback" not in res.stderr


def _children(pid: int) -> set[int]:
    kids = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids |= {int(k) for k in fh.read().split()}
        except OSError:
            pass
    return kids


def _has_libtorch(pid: int) -> bool | None:
    """Whether the process has libtorch mapped; None when it is gone."""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return "libtorch" in fh.read()
    except OSError:
        return None


def test_imports_of_the_daemon_parent_load_no_torch():
    code = ("import sys, deepart_batch.daemon.schedule.planner, deepart_batch.pool, "
            "deepart_batch.pool.pool, deepart_batch.daemon.compose, deepart_batch.weights; "
            "from deepart_batch.weights import weights_identity; weights_identity('bundled'); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_run_once_parent_has_no_libtorch_mapped_but_its_worker_does(tmp_path):
    """The promise: watched from outside while it renders, the daemon parent
    (local executor, CPU) never maps libtorch; its render worker does."""
    box = Box(tmp_path, defaults={"size": 48, "steps": 3, "log_every": 1})
    box.drop("tubingen.jpg", "a.jpg")
    box.drop("golden_gate.jpg", "b.jpg")
    proc = subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", "run", "--once",
                             "--config", str(box.config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=box.env)
    parent_torch, worker_torch, samples = False, False, 0
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        mapped = _has_libtorch(proc.pid)
        if mapped is not None:
            parent_torch |= mapped
            samples += 1
        for kid in _children(proc.pid):
            worker_torch |= bool(_has_libtorch(kid))
        time.sleep(0.05)
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert samples > 10
    assert worker_torch, "no worker with libtorch was seen: the test watched nothing"
    assert not parent_torch, "the daemon parent mapped libtorch"
    assert len(box.outputs()) == 2
