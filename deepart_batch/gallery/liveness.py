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
