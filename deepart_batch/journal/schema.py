"""The journal's tables, and how an older journal is brought up to them.

The one place that knows the columns: the store creates and migrates with it, and readers
of a journal no daemon has migrated yet (status opens it read-only) select through
`select_list`, which fills a missing column with its default, so every row has every field.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    id          INTEGER PRIMARY KEY,
    relpath     TEXT NOT NULL,            -- path relative to the inbox, POSIX
    campaign    TEXT NOT NULL,
    sha256      TEXT,
    work_path   TEXT NOT NULL,
    state       TEXT NOT NULL,            -- states.InputState
    archived_to TEXT,
    error       TEXT,
    received_at REAL NOT NULL,
    finished_at REAL,
    reason      TEXT,                     -- states.FailureReason while held or failed
    retry_at    REAL,                     -- held: when to try again
    holds       INTEGER NOT NULL DEFAULT 0,
    changed     INTEGER NOT NULL DEFAULT 0    -- bumped by triggers (CHANGES): the gallery
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    input_id    INTEGER NOT NULL REFERENCES inputs(id),
    job_key     TEXT NOT NULL,
    campaign    TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    slug        TEXT NOT NULL,
    state       TEXT NOT NULL,            -- states.JobState
    attempts    INTEGER NOT NULL DEFAULT 0,
    spec        TEXT NOT NULL,            -- JSON: everything a worker needs
    output_path TEXT NOT NULL,
    report_path TEXT NOT NULL,
    worker      TEXT,
    device      TEXT,
    progress    TEXT,                     -- JSON: {"step", "total", "loss"}
    reason      TEXT,                     -- short failure class: oom, crash, timeout, ...
    error       TEXT,
    render_seconds REAL,
    created_at  REAL NOT NULL,
    queued_at   REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    duplicate_of INTEGER REFERENCES jobs(id), -- the job whose render this one reuses
    retry_at    REAL,                     -- held: when to queue it again
    holds       INTEGER NOT NULL DEFAULT 0,
    interruptions INTEGER NOT NULL DEFAULT 0, -- daemon stops (kill) during its render
    need_bytes  INTEGER                   -- estimated device memory (fp32); NULL: unknown
);
CREATE TABLE IF NOT EXISTS forced (       -- `retry --force`: render these keys again
    job_key     TEXT PRIMARY KEY,
    requested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (   -- the notification delivery log (notifications/)
    id          INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL,            -- webhook-id: stable across tries and restarts
    event       TEXT NOT NULL,            -- states.DaemonEvent value, or 'batch'
    summary     TEXT NOT NULL DEFAULT '',
    endpoint    TEXT NOT NULL,            -- format and scheme://host: never a secret
    attempts    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,            -- states.DeliveryStatus
    last_status TEXT NOT NULL DEFAULT '',
    first_at    REAL NOT NULL,
    last_at     REAL NOT NULL,
    UNIQUE (message_id, endpoint)
);
CREATE TABLE IF NOT EXISTS notices (      -- notifications emitted, not yet sent everywhere
    message_id  TEXT PRIMARY KEY,         -- webhook-id: what a resend after a restart carries
    body        TEXT NOT NULL,            -- the event's JSON as emitted: resent as it was
    queued_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority, id);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(job_key, state);
CREATE INDEX IF NOT EXISTS jobs_input ON jobs(input_id);
CREATE INDEX IF NOT EXISTS jobs_output ON jobs(output_path);
CREATE INDEX IF NOT EXISTS inputs_state ON inputs(state);
"""

# Columns added after the first release: (table, column, declaration). A journal written
# before one existed gets it at the next open by a daemon.
ADDED_COLUMNS = (
    ("jobs", "duplicate_of", "INTEGER REFERENCES jobs(id)"),
    ("jobs", "retry_at", "REAL"),
    ("jobs", "holds", "INTEGER NOT NULL DEFAULT 0"),
    ("inputs", "reason", "TEXT"),
    ("inputs", "retry_at", "REAL"),
    ("inputs", "holds", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "interruptions", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "need_bytes", "INTEGER"),
    ("inputs", "changed", "INTEGER NOT NULL DEFAULT 0"),
)

# Indexes on columns a later version added (created after the columns, at every open: an
# existing journal gets them at its next open by a daemon). Each serves a query that runs
# per tick or per photo (journal/hot_path.py lists them; a test checks their plans).
ADDED_INDEXES = (
    # dispatch: the head of each campaign's queue at one priority, oldest first
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(state, priority, campaign, id)",
    # dispatch: queued jobs too large for the largest device (refused)
    "CREATE INDEX IF NOT EXISTS jobs_need ON jobs(state, need_bytes)",
    "CREATE INDEX IF NOT EXISTS jobs_duplicate_of ON jobs(duplicate_of, state)",
    "CREATE INDEX IF NOT EXISTS inputs_relpath ON inputs(relpath)",
    # the gallery: the photos changed since its last rebuild
    "CREATE INDEX IF NOT EXISTS inputs_changed ON inputs(changed)",
    # status: the newest failures and recent render times
    "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(state, finished_at)",
)

# Jobs per (state, campaign), kept by triggers on every insert, delete and state change, so
# `status`, the TICK's counts and the pass's progress are sums over a few rows, never a walk
# of the queue. Filled from `jobs` once, when a journal first gets it.
TALLY = """
CREATE TABLE IF NOT EXISTS job_tally (
    state    TEXT NOT NULL,
    campaign TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (state, campaign)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS job_tally_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_tally (state, campaign, n) VALUES (NEW.state, NEW.campaign, 1)
        ON CONFLICT (state, campaign) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS job_tally_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_tally SET n = n - 1 WHERE state = OLD.state AND campaign = OLD.campaign;
END;
CREATE TRIGGER IF NOT EXISTS job_tally_update AFTER UPDATE OF state, campaign ON jobs
WHEN OLD.state IS NOT NEW.state OR OLD.campaign IS NOT NEW.campaign BEGIN
    UPDATE job_tally SET n = n - 1 WHERE state = OLD.state AND campaign = OLD.campaign;
    INSERT INTO job_tally (state, campaign, n) VALUES (NEW.state, NEW.campaign, 1)
        ON CONFLICT (state, campaign) DO UPDATE SET n = n + 1;
END;
"""
# An input's `changed` moves past every other input's whenever it or one of its jobs is
# written, so the gallery reads only the photos changed since its last rebuild (one index
# range), whatever the backlog.
_BUMP = "UPDATE inputs SET changed = (SELECT MAX(changed) FROM inputs) + 1 WHERE id = {}"
CHANGES = f"""
CREATE TRIGGER IF NOT EXISTS inputs_changed_insert AFTER INSERT ON inputs BEGIN
    {_BUMP.format("NEW.id")};
END;
CREATE TRIGGER IF NOT EXISTS inputs_changed_update AFTER UPDATE OF relpath, campaign, sha256,
    work_path, state, archived_to, error, finished_at, reason, retry_at, holds ON inputs BEGIN
    {_BUMP.format("NEW.id")};
END;
CREATE TRIGGER IF NOT EXISTS inputs_changed_job_insert AFTER INSERT ON jobs BEGIN
    {_BUMP.format("NEW.input_id")};
END;
CREATE TRIGGER IF NOT EXISTS inputs_changed_job_update AFTER UPDATE ON jobs BEGIN
    {_BUMP.format("NEW.input_id")};
END;
CREATE TRIGGER IF NOT EXISTS inputs_changed_job_delete AFTER DELETE ON jobs BEGIN
    {_BUMP.format("OLD.input_id")};
END;
"""
FILL_TALLY = ("INSERT OR IGNORE INTO job_tally (state, campaign, n) "
              "SELECT state, campaign, COUNT(*) FROM jobs GROUP BY state, campaign")

# Every column of each table with the value a reader sees where an old journal lacks it.
COLUMNS = {
    "inputs": (("id", "NULL"), ("relpath", "''"), ("campaign", "''"), ("sha256", "NULL"),
               ("work_path", "''"), ("state", "NULL"), ("archived_to", "NULL"),
               ("error", "NULL"), ("received_at", "0"), ("finished_at", "NULL"),
               ("reason", "NULL"), ("retry_at", "NULL"), ("holds", "0"), ("changed", "0")),
    "jobs": (("id", "NULL"), ("input_id", "NULL"), ("job_key", "''"), ("campaign", "''"),
             ("priority", "0"), ("slug", "''"), ("state", "NULL"), ("attempts", "0"),
             ("spec", "'{}'"), ("output_path", "''"), ("report_path", "''"),
             ("worker", "NULL"), ("device", "NULL"), ("progress", "NULL"),
             ("reason", "NULL"), ("error", "NULL"), ("render_seconds", "NULL"),
             ("created_at", "0"), ("queued_at", "0"), ("started_at", "NULL"),
             ("finished_at", "NULL"), ("duplicate_of", "NULL"), ("retry_at", "NULL"),
             ("holds", "0"), ("interruptions", "0"), ("need_bytes", "NULL")),
    "deliveries": (("message_id", "''"), ("event", "''"), ("summary", "''"),
                   ("endpoint", "''"), ("attempts", "0"), ("status", "''"),
                   ("last_status", "''"), ("first_at", "0"), ("last_at", "0")),
}


def create(db: sqlite3.Connection) -> None:
    """Tables and indexes, then the columns and indexes later versions added."""
    db.executescript(SCHEMA)
    migrate(db)


def migrate(db: sqlite3.Connection) -> None:
    """Journals written before a column existed get it, so an upgrade keeps its queue."""
    for table, column, kind in ADDED_COLUMNS:
        if column not in table_columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    for index in ADDED_INDEXES:
        db.execute(index)
    db.executescript(CHANGES)   # IF NOT EXISTS: only a journal that lacks them gets them
    if not table_columns(db, "job_tally"):   # first open by this version: count once,
        try:
            db.executescript(f"BEGIN IMMEDIATE; {TALLY} {FILL_TALLY}; COMMIT;")  # one unit
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def table_columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def select_list(db: sqlite3.Connection, table: str, alias: str = "") -> str:
    """`a.id, a.relpath, NULL AS reason, ...`: every column, defaults where this journal's
    table lacks one. Raises sqlite3.OperationalError when the table does not exist yet."""
    have = table_columns(db, table)
    if not have:
        raise sqlite3.OperationalError(f"no such table: {table}")
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{name}" if name in have else f"{default} AS {name}"
                     for name, default in COLUMNS[table])
