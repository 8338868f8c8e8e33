"""SQLite journal: the single source of truth for inputs and jobs, with explicit transitions.

Job states:   queued -> running -> done | failed      (running -> queued on restart/retry)
              waiting -> done | failed | queued       (a duplicate of a queued/running job:
                                                       settled when that job, `duplicate_of`,
                                                       finishes; queued if its copy fails)
Input states: claiming -> claimed -> done | failed    (archived once all its jobs finish)
              claimed -> held -> claimed             (no jobs yet: no rule, style missing)
held:         setup trouble, not the photo's: it waits until retry_at (backoff), and
              again at once when the manifest reloads or the daemon starts
retried:      failed, then put back by `deepart-batch retry`: history, no longer counted
The states and the allowed transitions are in `states`; every change goes through
`_transition` / `_input_transition`, which refuse anything else.
              (archived_to is set before the move, so a crash after it is recoverable)
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.states import (INPUT_TRANSITIONS, JOB_TRANSITIONS, FailureReason, InputState,
                     InvalidTransition, JobState, check_transition)

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
    holds       INTEGER NOT NULL DEFAULT 0
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
    holds       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS forced (       -- `retry --force`: render these keys again
    job_key     TEXT PRIMARY KEY,
    requested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority, id);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(job_key, state);
CREATE INDEX IF NOT EXISTS jobs_input ON jobs(input_id);
CREATE INDEX IF NOT EXISTS jobs_output ON jobs(output_path);
CREATE INDEX IF NOT EXISTS inputs_state ON inputs(state);
"""

JOB_STATES = tuple(s.value for s in JobState)


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
    holds: int = 0

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
    reason: str | None = None
    retry_at: float | None = None
    holds: int = 0


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
        for table, column, kind in (("jobs", "retry_at", "REAL"),
                                    ("jobs", "holds", "INTEGER NOT NULL DEFAULT 0"),
                                    ("inputs", "reason", "TEXT"), ("inputs", "retry_at", "REAL"),
                                    ("inputs", "holds", "INTEGER NOT NULL DEFAULT 0")):
            have = {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def _tx(self):
        return _Transaction(self.db)

    def transaction(self):
        """All the writes inside, or none of them (not nestable)."""
        return _Transaction(self.db)

    # -- inputs -------------------------------------------------------------------------
    def begin_claim(self, relpath: str, campaign: str, work_path: str) -> int:
        """Record the intent before the move, so a crash between the two is recoverable."""
        check_transition(INPUT_TRANSITIONS, "input", relpath, None, InputState.CLAIMING)
        cur = self.db.execute(
            "INSERT INTO inputs (relpath, campaign, work_path, state, received_at) "
            "VALUES (?, ?, ?, 'claiming', ?)", (relpath, campaign, work_path, time.time()))
        return cur.lastrowid

    def finish_claim(self, input_id: int, sha256: str) -> None:
        self._input_transition(input_id, InputState.CLAIMED, sha256=sha256)

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
                                              "('claiming', 'claimed', 'held')")}

    def archive_intent(self, input_id: int, archived_to: str, error: str | None) -> None:
        """Where the input is about to be moved, recorded first: see archive_input."""
        self.db.execute("UPDATE inputs SET archived_to=?, error=? WHERE id=? AND "
                        "state IN ('claimed', 'held')", (archived_to, error, input_id))

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
                      error: str | None = None, reason: str | None = None) -> None:
        assert state in ("done", "failed")
        self._input_transition(input_id, InputState(state), archived_to=archived_to,
                               error=error, finished_at=time.time(),
                               reason=FailureReason.parse(reason).value if state == "failed"
                               else None, retry_at=None)

    def hold_input(self, input_id: int, reason, error: str, retry_at: float) -> int:
        """Claimed but not plannable (no rule, style missing): wait; returns earlier holds."""
        before = self.input(input_id).holds
        self._input_transition(input_id, InputState.HELD, reason=FailureReason.parse(reason).value,
                               error=error, retry_at=retry_at, holds_delta=1)
        return before

    def unhold_input(self, input_id: int) -> None:
        """A held input is planned again (its jobs are then queued)."""
        self._input_transition(input_id, InputState.CLAIMED, retry_at=None)

    def inputs_due(self, now: float | None = None) -> list[Input]:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT * FROM inputs WHERE state='held' AND "
                               "COALESCE(retry_at, 0) <= ? ORDER BY id", (now,))
        return [Input(**dict(r)) for r in rows]

    def retire_failed(self, input_id: int) -> None:
        """`retry`: a failed input and its failed jobs become history (no longer counted)."""
        with self._tx():
            self._input_transition(input_id, InputState.RETRIED)
            for (job_id,) in self.db.execute("SELECT id FROM jobs WHERE input_id=? AND "
                                             "state='failed'", (input_id,)).fetchall():
                self._transition(job_id, JobState.FAILED, JobState.RETRIED)

    def force(self, job_key: str) -> None:
        """`retry --force`: the next plan of this key renders again instead of reusing."""
        self.db.execute("INSERT OR REPLACE INTO forced (job_key, requested_at) VALUES (?, ?)",
                        (job_key, time.time()))

    def take_forced(self, job_key: str) -> bool:
        return self.db.execute("DELETE FROM forced WHERE job_key=?", (job_key,)).rowcount > 0

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
        check_transition(JOB_TRANSITIONS, "job", job_key[:12], None, JobState(state))
        assert state != "waiting" or duplicate_of is not None
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
        """Whether a job that is not failed (or retried) writes, or has written, this path."""
        return self.db.execute("SELECT 1 FROM jobs WHERE output_path=? AND state NOT IN "
                               "('failed', 'retried') LIMIT 1", (output_path,)).fetchone() is not None

    def job(self, job_id: int) -> Job:
        return Job.from_row(self.db.execute("SELECT * FROM jobs WHERE id=?",
                                            (job_id,)).fetchone())

    def jobs_for_input(self, input_id: int) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs WHERE input_id=? ORDER BY id", (input_id,))
        return [Job.from_row(r) for r in rows]

    def jobs_ready(self) -> list[Job]:
        """Queued jobs, which may start now (held ones are in state held until release_due)."""
        return self.jobs_in(JobState.QUEUED.value)

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
        self._transition(job_id, ("running", "queued", "held"), "failed", finished_at=time.time(),
                         reason=reason, error=error)

    def requeue(self, job_id: int, reason: str | None = None, error: str | None = None,
                refund_attempt: bool = False) -> None:
        """Back to the queue; a graceful shutdown refunds the attempt it interrupted."""
        self._transition(job_id, "running", "queued", queued_at=time.time(), worker=None,
                         device=None, progress=None, started_at=None, reason=reason,
                         error=error, attempts_delta=-1 if refund_attempt else 0)

    def hold(self, job_id: int, reason, error: str, retry_at: float) -> int:
        """Setup trouble (outbox full, style file gone): the job waits until retry_at; the
        attempt it used is given back. Returns how often it was held before."""
        job = self.job(job_id)
        self._transition(job_id, (JobState.RUNNING, JobState.QUEUED), JobState.HELD,
                         worker=None, device=None, progress=None, started_at=None,
                         reason=FailureReason.parse(reason).value, error=error,
                         retry_at=retry_at, holds_delta=1,
                         attempts_delta=-1 if job.state == JobState.RUNNING else 0)
        return job.holds

    def held(self) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs WHERE state='held' ORDER BY retry_at, id")
        return [Job.from_row(r) for r in rows]

    def release_due(self, now: float | None = None) -> list[int]:
        """Held jobs whose wait is over go back to the queue; returns their ids."""
        now = time.time() if now is None else now
        ids = [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state='held' AND "
                                             "COALESCE(retry_at, 0) <= ?", (now,)).fetchall()]
        for job_id in ids:
            self._transition(job_id, JobState.HELD, JobState.QUEUED, queued_at=now,
                             retry_at=None)
        return ids

    def release_holds(self) -> int:
        """The cause may be gone (manifest reloaded, new start): held jobs and inputs are
        tried at once; their reasons stay until then."""
        now = time.time()
        n = self.db.execute("UPDATE jobs SET retry_at=? WHERE state='held'", (now,)).rowcount
        n += self.db.execute("UPDATE inputs SET retry_at=? WHERE state='held'", (now,)).rowcount
        return n

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
        ids = [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state='running'")]
        for job_id in ids:
            self._transition(job_id, JobState.RUNNING, JobState.QUEUED, worker=None,
                             device=None, progress=None, queued_at=time.time())
        return len(ids)

    def _transition(self, job_id: int, from_state, to_state, attempts_delta: int = 0,
                    holds_delta: int = 0, **fields) -> None:
        """The one way a job changes state: only from `from_state` (one or several) and
        only along states.JOB_TRANSITIONS; anything else raises InvalidTransition."""
        to_state = JobState(to_state)
        given = (from_state,) if isinstance(from_state, str) else tuple(from_state)
        allowed = tuple(JobState(s).value for s in given
                        if to_state in JOB_TRANSITIONS[JobState(s)])
        sets = ["state=?"] + [f"{k}=?" for k in fields]
        values = [to_state.value] + [json.dumps(v) if k == "progress" and v is not None else v
                                     for k, v in fields.items()]
        if attempts_delta:
            sets.append(f"attempts=MAX(0, attempts{attempts_delta:+d})")
        if holds_delta:
            sets.append(f"holds=holds{holds_delta:+d}")
        marks = ",".join("?" * len(allowed))
        cur = self.db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id=? AND state IN "
                              f"({marks})", (*values, job_id, *allowed)) if allowed else None
        if cur is None or cur.rowcount != 1:
            state = self.db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            raise InvalidTransition(f"job {job_id}: {state and state[0]} -> {to_state} "
                                    f"is not allowed (expected from {given})")

    def _input_transition(self, input_id: int, to_state, holds_delta: int = 0,
                          **fields) -> None:
        """The one way an input changes state, along states.INPUT_TRANSITIONS."""
        to_state = InputState(to_state)
        row = self.db.execute("SELECT state FROM inputs WHERE id=?", (input_id,)).fetchone()
        check_transition(INPUT_TRANSITIONS, "input", input_id,
                         InputState(row[0]) if row else None, to_state)
        sets = ["state=?"] + [f"{k}=?" for k in fields]
        if holds_delta:
            sets.append(f"holds=holds{holds_delta:+d}")
        cur = self.db.execute(f"UPDATE inputs SET {', '.join(sets)} WHERE id=? AND state=?",
                              (to_state.value, *fields.values(), input_id, row[0]))
        if cur.rowcount != 1:  # another process changed it in between
            raise InvalidTransition(f"input {input_id}: changed while moving to {to_state}")

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
        """Failed jobs and refused photos, by FailureReason: every member, zeros included."""
        out = {r.value: 0 for r in FailureReason}
        rows = self.db.execute("SELECT reason, COUNT(*) FROM jobs WHERE state='failed' GROUP "
                               "BY 1 UNION ALL SELECT reason, COUNT(*) FROM inputs WHERE "
                               "state='failed' AND id NOT IN (SELECT input_id FROM jobs) "
                               "GROUP BY 1").fetchall()
        for reason, n in rows:
            out[FailureReason.parse(reason).value] += n
        return out

    def held_by_reason(self) -> dict[str, int]:
        """Held jobs and held photos (no jobs yet), by FailureReason."""
        rows = self.db.execute("SELECT reason, COUNT(*) FROM jobs WHERE state='held' GROUP BY 1 "
                               "UNION ALL SELECT reason, COUNT(*) FROM inputs WHERE "
                               "state='held' GROUP BY 1").fetchall()
        out: dict[str, int] = {}
        for reason, n in rows:
            key = FailureReason.parse(reason).value
            out[key] = out.get(key, 0) + n
        return out

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


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
