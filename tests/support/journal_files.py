"""Raw SQLite for the tests that damage a journal file, hold its lock from another program
or build an old-schema one: the only SQL outside deepart_batch/journal."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path


# an early journal: inputs without reason, retry_at and holds; one claimed input
OLD_INPUTS_ONLY = (
    "CREATE TABLE inputs (id INTEGER PRIMARY KEY, relpath TEXT NOT NULL, "
    "campaign TEXT NOT NULL, sha256 TEXT, work_path TEXT NOT NULL, state TEXT "
    "NOT NULL, archived_to TEXT, error TEXT, received_at REAL NOT NULL, "
    "finished_at REAL);"
    "INSERT INTO inputs VALUES (1, 'a.jpg', '', 's', '/w/a.jpg', 'claimed', "
    "NULL, NULL, 1.0, NULL);")

# a journal from before duplicate_of: one input, one queued job
OLD_WITHOUT_DUPLICATE_OF = ("""
        CREATE TABLE inputs (id INTEGER PRIMARY KEY, relpath TEXT NOT NULL, campaign TEXT NOT
            NULL, sha256 TEXT, work_path TEXT NOT NULL, state TEXT NOT NULL, archived_to TEXT,
            error TEXT, received_at REAL NOT NULL, finished_at REAL);
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, input_id INTEGER NOT NULL REFERENCES
            inputs(id), job_key TEXT NOT NULL, campaign TEXT NOT NULL, priority INTEGER NOT NULL
            DEFAULT 0, slug TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL
            DEFAULT 0, spec TEXT NOT NULL, output_path TEXT NOT NULL, report_path TEXT NOT NULL,
            worker TEXT, device TEXT, progress TEXT, reason TEXT, error TEXT,
            render_seconds REAL, created_at REAL NOT NULL, queued_at REAL NOT NULL,
            started_at REAL, finished_at REAL);
        INSERT INTO inputs VALUES (1, 'a.jpg', '', 'sha', '/w/a.jpg', 'claimed', NULL, NULL, 1,
            NULL);
        INSERT INTO jobs (id, input_id, job_key, campaign, slug, state, spec, output_path,
            report_path, created_at, queued_at) VALUES (1, 1, 'k', '', 's', 'queued', '{"content": "/w/a.jpg"}',
            '/o/a.jpg', '/o/a.json', 1, 1);
    """)

# a journal no daemon has migrated yet: one failed input, a jobs table of old columns
OLD_UNMIGRATED = (
    "CREATE TABLE inputs (id INTEGER PRIMARY KEY, relpath TEXT, campaign TEXT, "
    "sha256 TEXT, work_path TEXT, state TEXT, archived_to TEXT, error TEXT, "
    "received_at REAL, finished_at REAL);"
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, input_id INTEGER, slug TEXT, "
    "state TEXT, attempts INTEGER, worker TEXT, device TEXT, progress TEXT, "
    "reason TEXT, error TEXT, started_at REAL, finished_at REAL);"
    "INSERT INTO inputs VALUES (1, 'a.jpg', '', '', '/w', 'failed', '/f', "
    "'a.jpg: bad', 1, 2);")


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


def open_exclusive(path: Path, timeout: float = 30):
    """Another program's connection that has begun an exclusive transaction (rollback()
    and close() it to let go)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    db.execute("BEGIN EXCLUSIVE")
    return db


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


def damage_job_spec(journal_path: Path, job_id: int, text: str) -> None:
    """Overwrite one job's stored spec with `text`, as another version or a hand edit
    might have left it (recovery tests)."""
    with sqlite3.connect(journal_path) as conn:
        conn.execute("UPDATE jobs SET spec=? WHERE id=?", (text, job_id))
    conn.close()


OperationalError = sqlite3.OperationalError


class LockHolder:
    """A second program's connection holding BEGIN EXCLUSIVE from another thread for
    `seconds` (None: until the block ends), running `write` inside."""

    def __init__(self, path, seconds: float | None,
                 write: str = "INSERT INTO forced (job_key, requested_at) VALUES ('holder', 0)"):
        import threading
        self.path, self.seconds, self.write = path, seconds, write
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        db.execute(self.write)
        self.locked.set()
        self.release.wait(self.seconds)
        db.execute("COMMIT")
        db.close()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(5)
        return self

    def __exit__(self, *_):
        self.release.set()
        self.thread.join(5)
