"""SQLite journal: the single source of truth for inputs and jobs, with explicit transitions.

Job states:   queued -> running -> done | failed      (running -> queued on restart/retry)
              waiting -> done | failed | queued       (a duplicate of a queued/running job:
                                                       settled when that job, `duplicate_of`,
                                                       finishes; queued if its copy fails)
Input states: claiming -> claimed -> done | failed    (archived once all its jobs finish;
                                                       archived_to is set before the move,
                                                       so a crash after it is recoverable)
A queued job with retry_at in the future is held (e.g. the outbox is full): it waits
without using an attempt, and `status` shows why.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    id          INTEGER PRIMARY KEY,
    relpath     TEXT NOT NULL,            -- path relative to the inbox, POSIX
    campaign    TEXT NOT NULL,
    sha256      TEXT,
    work_path   TEXT NOT NULL,
    state       TEXT NOT NULL,            -- claiming | claimed | done | failed
    archived_to TEXT,
    error       TEXT,
    received_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    input_id    INTEGER NOT NULL REFERENCES inputs(id),
    job_key     TEXT NOT NULL,
    campaign    TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    slug        TEXT NOT NULL,
    state       TEXT NOT NULL,            -- queued | running | waiting | done | failed
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
    duplicate_of INTEGER REFERENCES jobs(id)  -- the job whose render this one reuses
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority, id);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(job_key, state);
CREATE INDEX IF NOT EXISTS jobs_input ON jobs(input_id);
CREATE INDEX IF NOT EXISTS jobs_output ON jobs(output_path);
CREATE INDEX IF NOT EXISTS inputs_state ON inputs(state);
"""

JOB_STATES = ("queued", "running", "waiting", "done", "failed")


class JournalDamaged(RuntimeError):
    """The journal file is not a readable SQLite database (truncated, overwritten)."""


@dataclass
class Job:
    id: int
    input_id: int
    job_key: str
    campaign: str
    priority: int
    slug: str
    state: str
    attempts: int
    spec: dict
    output_path: str
    report_path: str
    worker: str | None
    device: str | None
    progress: dict | None
    reason: str | None
    error: str | None
    render_seconds: float | None
    created_at: float
    queued_at: float
    started_at: float | None
    finished_at: float | None
    duplicate_of: int | None = None
    retry_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        d = dict(row)
        d["spec"] = json.loads(d["spec"])
        d["progress"] = json.loads(d["progress"]) if d["progress"] else None
        return cls(**d)


@dataclass
class Input:
    id: int
    relpath: str
    campaign: str
    sha256: str | None
    work_path: str
    state: str
    archived_to: str | None
    error: str | None
    received_at: float
    finished_at: float | None


class Journal:
    """One connection, used from the daemon's main thread only (workers never touch it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        try:
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a claimed file must survive power loss
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.OperationalError:
            self.db.close()
            raise  # locked, disk full, no permission: not damage
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise JournalDamaged(f"{self.path} is damaged ({exc})") from None

    def _migrate(self) -> None:
        """Journals written before a column existed get it, so an upgrade keeps its queue."""
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(jobs)")}
        if "duplicate_of" not in columns:
            self.db.execute("ALTER TABLE jobs ADD COLUMN duplicate_of INTEGER REFERENCES jobs(id)")
        self.db.execute("CREATE INDEX IF NOT EXISTS jobs_duplicate_of ON jobs(duplicate_of, state)")
        if "retry_at" not in columns:
            self.db.execute("ALTER TABLE jobs ADD COLUMN retry_at REAL")

    def close(self) -> None:
        self.db.close()

    def _tx(self):
        return _Transaction(self.db)

    # -- inputs -------------------------------------------------------------------------
    def begin_claim(self, relpath: str, campaign: str, work_path: str) -> int:
        """Record the intent before the move, so a crash between the two is recoverable."""
        cur = self.db.execute(
            "INSERT INTO inputs (relpath, campaign, work_path, state, received_at) "
            "VALUES (?, ?, ?, 'claiming', ?)", (relpath, campaign, work_path, time.time()))
        return cur.lastrowid

    def finish_claim(self, input_id: int, sha256: str) -> None:
        self.db.execute("UPDATE inputs SET state='claimed', sha256=? WHERE id=?",
                        (sha256, input_id))

    def adopt_input(self, relpath: str, campaign: str, work_path: str) -> int:
        """A file found in work/ without a row (journal lost): claimed again from here."""
        return self.begin_claim(relpath, campaign, work_path)

    def add_archived(self, relpath: str, campaign: str, state: str, archived_to: str,
                     error: str | None, finished_at: float) -> None:
        """History rebuilt from done/ and failed/ after the journal was lost."""
        assert state in ("done", "failed")
        self.db.execute("INSERT INTO inputs (relpath, campaign, work_path, state, archived_to, "
                        "error, received_at, finished_at) VALUES (?, ?, '', ?, ?, ?, ?, ?)",
                        (relpath, campaign, state, archived_to, error, finished_at,
                         finished_at))

    def work_paths(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT work_path FROM inputs WHERE state IN "
                                              "('claiming', 'claimed')")}

    def archive_intent(self, input_id: int, archived_to: str, error: str | None) -> None:
        """Where the input is about to be moved, recorded first: see archive_input."""
        self.db.execute("UPDATE inputs SET archived_to=?, error=? WHERE id=? AND "
                        "state='claimed'", (archived_to, error, input_id))

    def drop_input(self, input_id: int) -> None:
        with self._tx():
            self.db.execute("DELETE FROM jobs WHERE input_id=?", (input_id,))
            self.db.execute("DELETE FROM inputs WHERE id=?", (input_id,))

    def input(self, input_id: int) -> Input:
        return Input(**dict(self.db.execute("SELECT * FROM inputs WHERE id=?",
                                            (input_id,)).fetchone()))

    def inputs_in(self, *states: str) -> list[Input]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(f"SELECT * FROM inputs WHERE state IN ({marks}) ORDER BY id",
                               states)
        return [Input(**dict(r)) for r in rows]

    def archive_input(self, input_id: int, state: str, archived_to: str,
                      error: str | None = None) -> None:
        assert state in ("done", "failed")
        self.db.execute("UPDATE inputs SET state=?, archived_to=?, error=?, finished_at=? "
                        "WHERE id=?", (state, archived_to, error, time.time(), input_id))

    # -- jobs ---------------------------------------------------------------------------
    def find_job(self, job_key: str) -> Job | None:
        """The job whose render an identical new job can reuse; never a waiting duplicate."""
        row = self.db.execute("SELECT * FROM jobs WHERE job_key=? AND state!='waiting' ORDER BY "
                              "CASE state WHEN 'done' THEN 0 WHEN 'running' THEN 1 "
                              "WHEN 'queued' THEN 2 ELSE 3 END, id DESC LIMIT 1",
                              (job_key,)).fetchone()
        return Job.from_row(row) if row else None

    def add_job(self, input_id: int, job_key: str, campaign: str, priority: int, slug: str,
                spec: dict, output_path: str, report_path: str, state: str = "queued",
                reason: str | None = None, error: str | None = None,
                duplicate_of: int | None = None) -> int:
        assert state in JOB_STATES and (state != "waiting" or duplicate_of is not None)
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO jobs (input_id, job_key, campaign, priority, slug, state, spec, "
            "output_path, report_path, reason, error, created_at, queued_at, finished_at, "
            "duplicate_of) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (input_id, job_key, campaign, priority, slug, state, json.dumps(spec),
             output_path, report_path, reason, error, now, now,
             now if state in ("done", "failed") else None, duplicate_of))
        return cur.lastrowid

    def output_claimed(self, output_path: str) -> bool:
        """Whether a job that is not failed writes, or has written, this output path."""
        return self.db.execute("SELECT 1 FROM jobs WHERE output_path=? AND state!='failed' "
                               "LIMIT 1", (output_path,)).fetchone() is not None

    def job(self, job_id: int) -> Job:
        return Job.from_row(self.db.execute("SELECT * FROM jobs WHERE id=?",
                                            (job_id,)).fetchone())

    def jobs_for_input(self, input_id: int) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs WHERE input_id=? ORDER BY id", (input_id,))
        return [Job.from_row(r) for r in rows]

    def jobs_ready(self, now: float | None = None) -> list[Job]:
        """Queued jobs that may start now (held ones wait for their retry_at)."""
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT * FROM jobs WHERE state='queued' AND "
                               "(retry_at IS NULL OR retry_at <= ?) ORDER BY priority DESC, id",
                               (now,))
        return [Job.from_row(r) for r in rows]

    def held(self) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs WHERE state='queued' AND retry_at IS NOT "
                               "NULL ORDER BY retry_at")
        return [Job.from_row(r) for r in rows]

    def hold(self, job_id: int, reason: str, error: str, retry_at: float) -> None:
        """Not the photo's fault (e.g. the outbox is full): back to the queue until
        retry_at, and the attempt it used is given back."""
        self._transition(job_id, "running", "queued", queued_at=time.time(), worker=None,
                         device=None, progress=None, started_at=None, reason=reason,
                         error=error, retry_at=retry_at, attempts_delta=-1)

    def jobs_in(self, state: str) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs WHERE state=? ORDER BY priority DESC, id",
                               (state,))
        return [Job.from_row(r) for r in rows]

    def mark_running(self, job_id: int, worker: str, device: str) -> None:
        self._transition(job_id, "queued", "running", worker=worker, device=device,
                         started_at=time.time(), retry_at=None, attempts_delta=1)

    def mark_done(self, job_id: int, render_seconds: float | None) -> None:
        self._transition(job_id, "running", "done", finished_at=time.time(),
                         render_seconds=render_seconds, reason=None, error=None)

    def mark_failed(self, job_id: int, reason: str, error: str) -> None:
        self._transition(job_id, ("running", "queued"), "failed", finished_at=time.time(),
                         reason=reason, error=error)

    def requeue(self, job_id: int, reason: str | None = None, error: str | None = None,
                refund_attempt: bool = False) -> None:
        """Back to the queue; a graceful shutdown refunds the attempt it interrupted."""
        self._transition(job_id, "running", "queued", queued_at=time.time(), worker=None,
                         device=None, progress=None, started_at=None, reason=reason,
                         error=error, attempts_delta=-1 if refund_attempt else 0)

    def waiting_on(self, original_id: int | None = None) -> list[Job]:
        """Duplicates still waiting for `original_id`'s render (for any job when None)."""
        sql, args = "SELECT * FROM jobs WHERE state='waiting'", ()
        if original_id is not None:
            sql, args = sql + " AND duplicate_of=?", (original_id,)
        return [Job.from_row(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def settle_waiting(self, job_id: int, state: str, reason: str | None = "duplicate",
                       error: str | None = None) -> None:
        """A waiting duplicate is done (outputs copied), failed with its original, or queued
        to render itself when the copy could not be made."""
        assert state in ("done", "failed", "queued")
        self._transition(job_id, "waiting", state, reason=reason, error=error,
                         finished_at=None if state == "queued" else time.time(),
                         **({"queued_at": time.time()} if state == "queued" else {}))

    def set_progress(self, job_id: int, progress: dict) -> None:
        self.db.execute("UPDATE jobs SET progress=? WHERE id=? AND state='running'",
                        (json.dumps(progress), job_id))

    def recover_running(self) -> int:
        """Jobs left `running` by a dead daemon go back to the queue (their attempt counts)."""
        cur = self.db.execute("UPDATE jobs SET state='queued', worker=NULL, device=NULL, "
                              "progress=NULL, queued_at=? WHERE state='running'", (time.time(),))
        return cur.rowcount

    def release_holds(self) -> int:
        """A new start retries held jobs now (the cause may be gone); the reason stays."""
        now = time.time()
        return self.db.execute("UPDATE jobs SET retry_at=? WHERE state='queued' AND "
                               "retry_at > ?", (now, now)).rowcount

    def _transition(self, job_id: int, from_state, to_state: str, attempts_delta: int = 0,
                    **fields) -> None:
        allowed = (from_state,) if isinstance(from_state, str) else tuple(from_state)
        sets = ["state=?"] + [f"{k}=?" for k in fields]
        values = [to_state] + [json.dumps(v) if k == "progress" and v is not None else v
                               for k, v in fields.items()]
        if attempts_delta:
            sets.append(f"attempts=MAX(0, attempts{attempts_delta:+d})")
        marks = ",".join("?" * len(allowed))
        cur = self.db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id=? AND state IN "
                              f"({marks})", (*values, job_id, *allowed))
        if cur.rowcount != 1:
            state = self.db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            raise InvalidTransition(f"job {job_id}: {state and state[0]} -> {to_state} "
                                    f"is not allowed (expected from {allowed})")

    # -- reporting ----------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(JOB_STATES, 0)
        for state, n in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

    def queue_depth_by_campaign(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT campaign, COUNT(*) FROM jobs WHERE state='queued' "
                                    "GROUP BY campaign").fetchall())

    def failures_by_reason(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT COALESCE(reason, 'error'), COUNT(*) FROM jobs "
                                    "WHERE state='failed' GROUP BY 1").fetchall())

    def render_seconds(self, limit: int = 10000) -> list[float]:
        rows = self.db.execute("SELECT render_seconds FROM jobs WHERE state='done' AND "
                               "render_seconds IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def recent_failures(self, limit: int = 10) -> list[dict]:
        rows = self.db.execute(
            "SELECT j.id, i.relpath, j.slug, j.reason, j.error, j.finished_at FROM jobs j "
            "JOIN inputs i ON i.id=j.input_id WHERE j.state='failed' "
            "ORDER BY j.finished_at DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]


class InvalidTransition(RuntimeError):
    pass


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
