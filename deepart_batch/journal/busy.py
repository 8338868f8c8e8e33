"""Patience with a journal another program holds (a backup tool, a person in `sqlite3`).

SQLite answers `database is locked` once its own wait (busy_timeout) is over. A write then
tries again with a growing pause, logging once, until its budget is spent; only then does
it raise JournalBusy, which every command turns into one line. The daemon therefore rides
out a lock held for tens of seconds instead of exiting.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from loguru import logger

from .records import JournalBusy

T = TypeVar("T")

BUDGET_SECONDS = 120.0   # a write gives up after this long (a 45 s backup lock passes)
WAIT_SECONDS = 5.0       # SQLite's own wait per try, so a retry is logged within seconds


@dataclass(frozen=True)
class BusyPolicy:
    budget: float = BUDGET_SECONDS
    wait: float = WAIT_SECONDS
    first_pause: float = 0.05
    max_pause: float = 2.0


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: someone else holds the lock; disk full etc. are not."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text \
        or "database table is locked" in text


def patiently(policy: BusyPolicy, path, what: str, attempt: Callable[[], T]) -> T:
    """attempt(), tried again while the journal is busy, for up to policy.budget seconds."""
    start = time.monotonic()
    pause, warned = policy.first_pause, False
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            waited = time.monotonic() - start
            if waited >= policy.budget:
                logger.error("journal {}: still busy after {:.0f} s ({}); giving up", path,
                             waited, what)
                raise JournalBusy(path, waited) from None
            if not warned:
                logger.warning("journal {} is busy (another program holds it); {} waits up "
                               "to {:.0f} s", path, what, policy.budget)
                warned = True
            time.sleep(min(pause, max(0.0, policy.budget - waited)))
            pause = min(pause * 2, policy.max_pause)
