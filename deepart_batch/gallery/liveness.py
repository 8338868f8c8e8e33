"""Is a daemon or bulk pass alive for this state_dir? Pages refresh only then: a page that
refreshes every 5 s after the pass that queued its photos was stopped tells the team that
something is happening when nothing is.

The lock file (core/layout.LOCK_FILE) holds "PID ROLE" while its holder runs; the holder is
alive while that process exists. Read only: the gallery never takes the lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.layout import StateLayout
from ..core.states import RunMode


def holder_alive(state_dir: Path | None) -> bool:
    if state_dir is None:
        return False
    try:
        fields = StateLayout(Path(state_dir)).lock.read_text().split()
    except OSError:
        return False
    if not fields or not fields[0].isdigit():
        return False
    pid = int(fields[0])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: it exists
        return True
    return True


def run_mode(state_dir: Path | None) -> RunMode | None:
    """How this box runs: the role in the lock file, written by the process that holds it
    now or held it last (the file stays after it ends); None when nothing ever ran."""
    if state_dir is None:
        return None
    try:
        fields = StateLayout(Path(state_dir)).lock.read_text().split()
    except OSError:
        return None
    return RunMode.parse(fields[1]) if len(fields) > 1 else None
