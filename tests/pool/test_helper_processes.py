"""No process of ours outlives the daemon: multiprocessing's resource tracker is ended and
reaped before exit (systemd SIGKILLs whatever is left in the cgroup once the main process
is gone; tests/scenarios/test_systemd_service.py checks that under a real systemd)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The atexit hook is registered before multiprocessing is imported, so it runs after
# multiprocessing's own exit function (atexit is last in, first out): it sees whether a
# tracker is still running, or was started again, when the interpreter is about to end.
SCRIPT = """\
import atexit, sys
def at_exit():
    from multiprocessing import resource_tracker
    print("tracker-at-exit", resource_tracker._resource_tracker._pid, flush=True)
atexit.register(at_exit)
import multiprocessing as mp
from multiprocessing import resource_tracker
from loguru import logger
from deepart_batch.ops.logsetup import configure_logging
from deepart_batch.pool.pool import end_helper_processes
configure_logging("INFO", enqueue=True, journald=False)     # spawn-context locks
child = mp.get_context("spawn").Process(target=print, args=("child ran",))
child.start()
child.join()
logger.info("through the queue")
print("tracker", resource_tracker._resource_tracker._pid, flush=True)
configure_logging("INFO", enqueue=False, journald=False)    # what the daemon does last
if sys.argv[1] == "end":
    end_helper_processes()
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _value(out: str, key: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith(key + " "))


def test_the_resource_tracker_is_ended_and_reaped_before_exit():
    done = _run("end")
    assert done.returncode == 0, done.stderr
    tracker = _value(done.stdout, "tracker")
    assert tracker != "None"                       # there was one to end
    assert _value(done.stdout, "tracker-at-exit") == "None", done.stdout  # not started again
    assert "leaked" not in done.stderr, done.stderr
    assert not Path(f"/proc/{tracker}").exists() or \
        Path(f"/proc/{tracker}/status").read_text().find("State:\tZ") >= 0


def test_without_it_the_tracker_is_still_running_at_exit():
    """The check above can fail: left alone, the tracker outlives the interpreter's exit."""
    left = _run("leave")
    assert left.returncode == 0, left.stderr
    assert _value(left.stdout, "tracker-at-exit") != "None", left.stdout
