"""Raw SQLite for the tests that damage a journal file, hold its lock from another program
or build an old-schema one: the only SQL outside deepart_batch/journal."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path


def journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()


@contextmanager
def held_exclusively(path: Path, write: str | None = None):
    """Another program holding the journal's write lock (BEGIN EXCLUSIVE) meanwhile;
    `write`: a statement it runs inside, committed at the end."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        if write:
            holder.execute(write)
        yield holder
    finally:
        holder.execute("COMMIT" if write else "ROLLBACK")
        holder.close()


def build(path: Path, script: str) -> None:
    """A journal file made by `script` (an old schema, hand-made rows)."""
    db = sqlite3.connect(path)
    try:
        db.executescript(script)
        db.commit()
    finally:
        db.close()


def truncate_half(path: Path) -> None:
    """Checkpoint the WAL into the file, then cut the file in half (a torn disk)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)


def try_delete_jobs(db) -> None:
    """A write through a connection that should refuse it (sqlite3.OperationalError)."""
    db.execute("DELETE FROM jobs")


def backdate(journal, input_id: int, when: float) -> None:
    """Make an input look received (and finished, if it is) at `when` (retention tests):
    a test-only write, as if the photo had come in days ago."""
    journal.db.execute("UPDATE inputs SET received_at=?, finished_at=CASE WHEN finished_at "
                       "IS NULL THEN NULL ELSE ? END WHERE id=?", (when, when, input_id))


OperationalError = sqlite3.OperationalError
