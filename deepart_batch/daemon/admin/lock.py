"""One process per state_dir, and who holds it: the daemon (`watch`) or a bulk pass.

The lock file holds "PID ROLE". A bulk pass (`run --once`, the nightly timer) that finds
the daemon holding it has nothing to do - the daemon already renders everything dropped -
so it exits 0 instead of failing every night; two bulk passes at once still refuse (75).
A daemon that finds a bulk pass holding it waits for the pass to finish instead of
crash-looping into systemd's start limit.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Callable

from loguru import logger

DAEMON, BULK = "daemon", "bulk"


class StopRequested(RuntimeError):
    """A stop (SIGTERM) arrived while waiting for a bulk pass: nothing was started."""


class AlreadyRunning(RuntimeError):
    """The state_dir is locked; `holder_role` is DAEMON, BULK or None (unknown)."""

    def __init__(self, message: str, holder_pid: int | None, holder_role: str | None):
        super().__init__(message)
        self.holder_pid, self.holder_role = holder_pid, holder_role


def read_holder(path: Path) -> tuple[int | None, str | None]:
    """(pid, role) written by the holder; (None, None) when unreadable or not yet written."""
    try:
        fields = path.read_text().split()
    except OSError:
        return None, None
    pid = int(fields[0]) if fields and fields[0].isdigit() else None
    role = fields[1] if len(fields) > 1 and fields[1] in (DAEMON, BULK) else None
    return pid, role


def _try_lock(path: Path, role: str):
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()} {role}\n")
    fh.flush()
    return fh


def _holder(path: Path) -> tuple[int | None, str | None]:
    """The holder writes right after locking: give it a moment before calling it unknown."""
    for _ in range(10):
        pid, role = read_holder(path)
        if role is not None:
            return pid, role
        time.sleep(0.05)
    return read_holder(path)


WAIT_STEP = 0.1   # how often a wait looks for a stop request; the lock is tried each second


def take_lock(path: Path, role: str, wait_while: Callable[[str], bool] | None = None,
              stop_requested: Callable[[], bool] = lambda: False):
    """Lock `path` for `role` and return the open file (keep it open to keep the lock).

    Raises AlreadyRunning naming the holder. With `wait_while`, a lock held by a bulk pass
    is waited for; `wait_while(message)` is called every second. A stop ends the wait
    within WAIT_STEP and raises StopRequested: `wait_while` returning False, or
    `stop_requested()` turning true (it is asked every WAIT_STEP)."""
    announced = False
    while True:
        fh = _try_lock(path, role)
        if fh is not None:
            if announced:
                logger.info("{}: the bulk pass finished; starting", path.parent)
            return fh
        pid, holder = _holder(path)
        who = f"the {'daemon' if holder == DAEMON else 'bulk pass' if holder == BULK else 'process'}"
        message = (f"{path.parent} is in use by {who} (deepart-batch pid {pid or 'unknown'})")
        if wait_while is not None and holder == BULK:
            waiting = f"{message}; waiting for it to finish"
            if not announced:
                logger.warning(waiting)
                announced = True
            if wait_while(waiting) and not _stopped_within(1.0, stop_requested):
                continue
            raise StopRequested(f"stop requested while {waiting}; nothing was started")
        raise AlreadyRunning(message, pid, holder)


def _stopped_within(seconds: float, stop_requested: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stop_requested():
            return True
        time.sleep(WAIT_STEP)
    return stop_requested()
