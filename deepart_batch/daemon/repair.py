"""`repair-journal`: the daemon's start-up rebuild, by hand, without torch."""

from __future__ import annotations

import fcntl
from pathlib import Path

from ..settings.config import Config
from . import recovery
from .journal import Journal, JournalDamaged


def repair_journal(config: Config, force: bool = False) -> tuple[str, int]:
    state = Path(config.state_dir)
    path = state / "journal.sqlite"
    with open(state / "daemon.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return (f"{state} is in use by a running deepart-batch; stop it first "
                    "(it rebuilds a damaged journal by itself at start-up)", 75)
        reason = None
        try:
            Journal(path).close()
        except JournalDamaged as exc:
            reason = str(exc)
        if reason is None and not force:
            return f"{path} is fine; nothing to do (--force rebuilds it anyway)", 0
        journal, message = recovery.rebuild(path, state / "work", state / "done",
                                            state / "failed", state / "claims",
                                            reason or f"{path} rebuilt on request")
        journal.close()
        return message, 0
