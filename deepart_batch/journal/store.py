"""The journal's store: every write, each one a transaction that waits out a busy file.

Job states:   queued -> running -> done | failed      (running -> queued on restart/retry)
              waiting -> done | failed | queued       (a duplicate of a queued/running job:
                                                       settled when that job, `duplicate_of`,
                                                       finishes; queued if its copy fails)
Input states: claiming -> claimed -> done | failed    (archived once all its jobs finish)
              claimed -> held -> claimed             (no jobs yet: no rule, style missing)
              (archived_to is set before the move, so a crash after it is recoverable)
held:         setup trouble, not the photo's: it waits until retry_at (backoff), and
              again at once when the manifest reloads or the daemon starts
retried:      failed, then put back by `deepart-batch retry`: history, no longer counted
The states and the allowed transitions are in core.states; every change goes through
`_transition` / `_input_transition`, which refuse anything else. Reads are in reader.py.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from ..core.states import (INPUT_TRANSITIONS, JOB_TRANSITIONS, FailureReason, InputState,
                            InvalidTransition, JobState, check_transition)
from ..core.jobspec import JobSpec
from . import hot_path as hot
from . import schema
from .busy import BUDGET_SECONDS, WAIT_SECONDS, BusyPolicy, patiently
from .reader import JournalReader
from .records import Delivery, JournalDamaged

DELIVERY_ROWS = 5000    # the delivery log keeps this many of the newest messages
MAX_INTERRUPTIONS = 3   # daemon deaths during one job given back before they count


def _write(method):
    """The method runs in one write transaction (or joins the caller's `transaction()`)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.transaction():
            return method(self, *args, **kwargs)
    return run


class Journal(JournalReader):
    """One connection, used from one thread (the daemon's main thread, or a command).

    busy_budget: seconds a write keeps trying while another program holds the file, then
    JournalBusy; busy_wait: SQLite's own wait per try (tests make both short)."""

    def __init__(self, path: str | Path, busy_budget: float = BUDGET_SECONDS,
                 busy_wait: float = WAIT_SECONDS):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.busy = BusyPolicy(budget=busy_budget, wait=min(busy_wait, busy_budget))
        db = sqlite3.connect(path, isolation_level=None, timeout=self.busy.wait)
        db.row_factory = sqlite3.Row
        super().__init__(db, path, readonly=False)
        try:
            patiently(self.busy, path, "opening the journal", self._set_up)
        except sqlite3.OperationalError:
            db.close()
            raise  # disk full, no permission: not damage
        except sqlite3.DatabaseError as exc:
            db.close()
            raise JournalDamaged(f"{path} is damaged ({exc})") from None
        except BaseException:
            db.close()
            raise

    def _set_up(self) -> None:
        check = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(check)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a claimed file must survive power loss
        self.db.execute("PRAGMA foreign_keys=ON")
        schema.create(self.db)

    @contextmanager
    def transaction(self):
        """All the writes inside, or none of them. Taking the write lock waits while
        another program holds the journal (JournalBusy when that lasts too long); a
        transaction opened inside another joins it."""
        if self.db.in_transaction:
            yield
            return
        patiently(self.busy, self.path, "a write", lambda: self.db.execute("BEGIN IMMEDIATE"))
        try:
            yield
        except BaseException:
            if self.db.in_transaction:   # SQLite may have rolled back already (disk full)
                self.db.execute("ROLLBACK")
            raise
        try:
            patiently(self.busy, self.path, "a commit", lambda: self.db.execute("COMMIT"))
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # -- notification delivery log ------------------------------------------------------
    @_write
    def record_delivery(self, delivery: Delivery) -> None:
        """One message's outcome at one endpoint; a resend of the same message (same id,
        after a restart) adds its attempts to the row. Only the newest DELIVERY_ROWS stay."""
        d = delivery
        self.db.execute(
            "INSERT INTO deliveries (message_id, event, summary, endpoint, attempts, status, "
            "last_status, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(message_id, endpoint) DO UPDATE SET "
            "attempts = attempts + excluded.attempts, status = excluded.status, "
            "last_status = excluded.last_status, last_at = excluded.last_at",
            (d.message_id, d.event, d.summary[:300], d.endpoint, d.attempts, d.status,
             d.last_status[:300], d.first_at, d.last_at))
        self.db.execute("DELETE FROM deliveries WHERE id <= (SELECT MAX(id) FROM deliveries)"
                        " - ?", (DELIVERY_ROWS,))

    # -- notifications not yet sent -------------------------------------------------------
    @_write
    def remember_notice(self, message_id: str, body: str) -> None:
        """An event the notifier must send, kept until it is (a kill -9 loses none); the
        same message twice is kept once. Inside the caller's transaction, it commits with
        the state change it tells of."""
        self.db.execute("INSERT OR IGNORE INTO notices (message_id, body, queued_at) "
                        "VALUES (?, ?, ?)", (message_id, body, time.time()))

    @_write
    def forget_notice(self, message_id: str) -> None:
        """Sent (or given up on after its retries, as the delivery log says)."""
        self.db.execute("DELETE FROM notices WHERE message_id = ?", (message_id,))

    # -- inputs -------------------------------------------------------------------------
    @_write
    def begin_claim(self, relpath: str, campaign: str, work_path: str) -> int:
        """Record the intent before the move, so a crash between the two is recoverable."""
        check_transition(INPUT_TRANSITIONS, "input", relpath, None, InputState.CLAIMING)
        cur = self.db.execute(
            "INSERT INTO inputs (relpath, campaign, work_path, state, received_at) "
            f"VALUES (?, ?, ?, '{InputState.CLAIMING}', ?)",
            (relpath, campaign, work_path, time.time()))
        return cur.lastrowid

    @_write
    def finish_claim(self, input_id: int, sha256: str) -> None:
        self._input_transition(input_id, InputState.CLAIMED, sha256=sha256)

    def adopt_input(self, relpath: str, campaign: str, work_path: str) -> int:
        """A file found in work/ without a row (journal lost): claimed again from here."""
        return self.begin_claim(relpath, campaign, work_path)

    @_write
    def add_archived(self, relpath: str, campaign: str, state: str, archived_to: str,
                     error: str | None, finished_at: float) -> None:
        """History rebuilt from done/ and failed/ after the journal was lost."""
        assert state in (JobState.DONE, JobState.FAILED)
        self.db.execute("INSERT INTO inputs (relpath, campaign, work_path, state, archived_to, "
                        "error, received_at, finished_at) VALUES (?, ?, '', ?, ?, ?, ?, ?)",
                        (relpath, campaign, state, archived_to, error, finished_at,
                         finished_at))

    @_write
    def archive_intent(self, input_id: int, archived_to: str, error: str | None) -> None:
        """Where the input is about to be moved, recorded first: see archive_input."""
        self.db.execute("UPDATE inputs SET archived_to=?, error=? WHERE id=? AND "
                        f"state IN ('{InputState.CLAIMED}', '{InputState.HELD}')",
                        (archived_to, error, input_id))

    @_write
    def drop_input(self, input_id: int) -> None:
        self.db.execute("DELETE FROM jobs WHERE input_id=?", (input_id,))
        self.db.execute("DELETE FROM inputs WHERE id=?", (input_id,))

    @_write
    def archive_input(self, input_id: int, state: str, archived_to: str,
                      error: str | None = None, reason: str | None = None) -> None:
        assert state in (JobState.DONE, JobState.FAILED)
        self._input_transition(input_id, InputState(state), archived_to=archived_to,
                               error=error, finished_at=time.time(),
                               reason=FailureReason.parse(reason).value if state == JobState.FAILED
                               else None, retry_at=None)

    @_write
    def hold_input(self, input_id: int, reason, error: str, retry_at: float) -> int:
        """Claimed but not plannable (no rule, style missing): wait; returns earlier holds."""
        before = self.input(input_id).holds
        self._input_transition(input_id, InputState.HELD, reason=FailureReason.parse(reason).value,
                               error=error, retry_at=retry_at, holds_delta=1)
        return before

    @_write
    def unhold_input(self, input_id: int) -> None:
        """A held input is planned again (its jobs are then queued)."""
        self._input_transition(input_id, InputState.CLAIMED, retry_at=None)

    @_write
    def retire_failed(self, input_id: int) -> None:
        """`retry`: a failed input and its failed jobs become history (no longer counted)."""
        self._input_transition(input_id, InputState.RETRIED)
        for (job_id,) in self.db.execute("SELECT id FROM jobs WHERE input_id=? AND "
                                         f"state='{JobState.FAILED}'", (input_id,)).fetchall():
            self._transition(job_id, JobState.FAILED, JobState.RETRIED)

    @_write
    def force(self, job_key: str) -> None:
        """`retry --force`: the next plan of this key renders again instead of reusing."""
        self.db.execute("INSERT OR REPLACE INTO forced (job_key, requested_at) VALUES (?, ?)",
                        (job_key, time.time()))

    @_write
    def take_forced(self, job_key: str) -> bool:
        return self.db.execute(hot.TAKE_FORCED.sql, (job_key,)).rowcount > 0

    # -- jobs ---------------------------------------------------------------------------
    @_write
    def add_job(self, input_id: int, job_key: str, campaign: str, priority: int, slug: str,
                spec: JobSpec, output_path: str, report_path: str, state: str = "queued",
                reason: str | None = None, error: str | None = None,
                duplicate_of: int | None = None, need_bytes: int | None = None) -> int:
        """need_bytes: the device memory it is estimated to need (dispatch chooses by it
        in SQL); None when unknown (dispatch then checks the decoded spec)."""
        check_transition(JOB_TRANSITIONS, "job", job_key[:12], None, JobState(state))
        assert state != JobState.WAITING or duplicate_of is not None
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO jobs (input_id, job_key, campaign, priority, slug, state, spec, "
            "output_path, report_path, reason, error, created_at, queued_at, finished_at, "
            "duplicate_of, need_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (input_id, job_key, campaign, priority, slug, state, json.dumps(spec.to_dict()),
             output_path, report_path, reason, error, now, now,
             now if state in (JobState.DONE, JobState.FAILED) else None, duplicate_of,
             need_bytes))
        return cur.lastrowid

    @_write
    def mark_running(self, job_id: int, worker: str, device: str) -> None:
        self._transition(job_id, JobState.QUEUED, JobState.RUNNING, worker=worker, device=device,
                         started_at=time.time(), retry_at=None, attempts_delta=1)

    @_write
    def mark_done(self, job_id: int, render_seconds: float | None) -> None:
        self._transition(job_id, JobState.RUNNING, JobState.DONE, finished_at=time.time(),
                         render_seconds=render_seconds, reason=None, error=None)

    @_write
    def mark_failed(self, job_id: int, reason: str, error: str) -> None:
        self._transition(job_id, (JobState.RUNNING, JobState.QUEUED, JobState.HELD),
                         JobState.FAILED, finished_at=time.time(),
                         reason=reason, error=error)

    @_write
    def requeue(self, job_id: int, reason: str | None = None, error: str | None = None,
                refund_attempt: bool = False) -> None:
        """Back to the queue; a graceful shutdown refunds the attempt it interrupted."""
        self._transition(job_id, JobState.RUNNING, JobState.QUEUED, queued_at=time.time(),
                         worker=None, device=None, progress=None, started_at=None, reason=reason,
                         error=error, attempts_delta=-1 if refund_attempt else 0)

    @_write
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

    @_write
    def release_due(self, now: float | None = None) -> list[int]:
        """Held jobs whose wait is over go back to the queue; returns their ids."""
        now = time.time() if now is None else now
        ids = [r[0] for r in self.db.execute(hot.JOBS_DUE.sql, (now,)).fetchall()]
        for job_id in ids:
            self._transition(job_id, JobState.HELD, JobState.QUEUED, queued_at=now,
                             retry_at=None)
        return ids

    @_write
    def release_holds(self) -> int:
        """The cause may be gone (manifest reloaded, new start): held jobs and inputs are
        tried at once; their reasons stay until then."""
        now = time.time()
        n = self.db.execute(f"UPDATE jobs SET retry_at=? WHERE state='{JobState.HELD}'",
                            (now,)).rowcount
        n += self.db.execute(f"UPDATE inputs SET retry_at=? WHERE state='{InputState.HELD}'",
                             (now,)).rowcount
        return n

    @_write
    def settle_waiting(self, job_id: int, state: str, reason: str | None = "duplicate",
                       error: str | None = None) -> None:
        """A waiting duplicate is done (outputs copied), failed with its original, or queued
        to render itself when the copy could not be made."""
        assert state in (JobState.DONE, JobState.FAILED, JobState.QUEUED)
        self._transition(job_id, JobState.WAITING, state, reason=reason, error=error,
                         finished_at=None if state == JobState.QUEUED else time.time(),
                         **({"queued_at": time.time()} if state == JobState.QUEUED else {}))

    @_write
    def set_progress(self, job_id: int, progress: dict) -> None:
        self.db.execute(f"UPDATE jobs SET progress=? WHERE id=? AND state='{JobState.RUNNING}'",
                        (json.dumps(progress), job_id))

    @_write
    def recover_running(self) -> int:
        """Jobs left `running` by a dead daemon go back to the queue. The daemon's death is
        not the render's attempt: it is given back, up to MAX_INTERRUPTIONS times; a job
        that takes the daemon down with it more often counts its attempts again (so the
        dispatcher's max_attempts guard ends a job that kills the daemon each time)."""
        rows = list(self.db.execute(
            f"SELECT id, interruptions FROM jobs WHERE state='{JobState.RUNNING}'"))
        for job_id, interruptions in rows:
            refund = (interruptions or 0) < MAX_INTERRUPTIONS
            self._transition(job_id, JobState.RUNNING, JobState.QUEUED, worker=None,
                             device=None, progress=None, queued_at=time.time(),
                             interruptions=(interruptions or 0) + 1,
                             attempts_delta=-1 if refund else 0)
        return len(rows)

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

    # -- retention ----------------------------------------------------------------------
    @_write
    def delete_inputs(self, input_ids: list[int]) -> tuple[int, int]:
        """Remove finished inputs and their jobs (retention); returns (inputs, jobs) removed.
        Finished duplicates that pointed at these jobs keep their own rows."""
        if not input_ids:
            return 0, 0
        marks = ",".join("?" * len(input_ids))
        job_ids = f"SELECT id FROM jobs WHERE input_id IN ({marks})"
        self.db.execute(f"UPDATE jobs SET duplicate_of=NULL WHERE duplicate_of IN ({job_ids}) "
                        f"AND state IN ('{JobState.DONE}', '{JobState.FAILED}')", input_ids)
        jobs = self.db.execute(f"DELETE FROM jobs WHERE input_id IN ({marks})",
                               input_ids).rowcount
        inputs = self.db.execute(f"DELETE FROM inputs WHERE id IN ({marks})",
                                 input_ids).rowcount
        return inputs, jobs
