"""The journal's read API: what status, retry, retention, the gallery and the tests ask.

Nothing outside this package writes SQL on the journal's tables. `open_reader` opens the
file read-only (mode=ro) for processes that only look (status, the gallery); the store
(`Journal`) inherits these methods. Rows come back as Input and Job, with every column
present even in a journal no daemon has migrated yet (see schema.select_list).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from ..core.layout import photo_stem
from ..core.states import DeliveryStatus, FailureReason, InputState, JobState
from . import schema
from .records import Delivery, Input, Job, JournalDamaged, JournalUnavailable, NotInJournal

JOB_STATES = tuple(s.value for s in JobState)
UNFINISHED_INPUTS = (InputState.CLAIMING, InputState.CLAIMED, InputState.HELD)


class JournalReader:
    """Read methods over one connection. Read-only readers turn SQLite's errors into
    JournalUnavailable (not set up yet, locked) and JournalDamaged (not a database)."""

    def __init__(self, db: sqlite3.Connection, path: Path, readonly: bool):
        self.db, self.path, self.readonly = db, Path(path), readonly
        self._columns: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self.db.close()

    # -- plumbing -----------------------------------------------------------------------
    def _rows(self, sql: str, args=()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if not self.readonly:
                raise
            raise JournalUnavailable(f"{self.path}: {exc} (a daemon may be creating it)") \
                from None
        except sqlite3.DatabaseError as exc:
            if not self.readonly:
                raise
            raise JournalDamaged(f"{self.path}: {exc}") from None

    def _cols(self, table: str, alias: str = "") -> str:
        key = (table, alias)
        if key not in self._columns:
            self._rows("SELECT 1")   # opens the file now, so its errors are translated
            try:
                self._columns[key] = schema.select_list(self.db, table, alias)
            except sqlite3.OperationalError as exc:
                if not self.readonly:
                    raise
                raise JournalUnavailable(f"{self.path}: {exc} (a daemon may be creating "
                                         f"it)") from None
            except sqlite3.DatabaseError as exc:
                if not self.readonly:
                    raise
                raise JournalDamaged(f"{self.path}: {exc}") from None
        return self._columns[key]

    def _inputs(self, where: str, args=(), order: str = "id") -> list[Input]:
        rows = self._rows(f"SELECT {self._cols('inputs')} FROM inputs WHERE {where} "
                          f"ORDER BY {order}", args)
        return [Input.from_row(r) for r in rows]

    def _jobs(self, where: str, args=(), order: str = "id") -> list[Job]:
        rows = self._rows(f"SELECT {self._cols('jobs')} FROM jobs WHERE {where} "
                          f"ORDER BY {order}", args)
        return [Job.from_row(r) for r in rows]

    @contextmanager
    def snapshot(self):
        """Every read inside sees the journal as of one moment (one read transaction; WAL
        keeps that state for it while the daemon commits), so counts, running jobs and
        failures agree with each other: `status` is one snapshot, not a sum of moments."""
        if self.db.in_transaction:   # already inside one (the store's own writes)
            yield self
            return
        self._rows("BEGIN")
        try:
            yield self
        finally:
            if self.db.in_transaction:
                self.db.execute("COMMIT")   # a read transaction: nothing to write

    def data_version(self) -> int:
        """Moves whenever another connection commits (the gallery polls it)."""
        return self._rows("PRAGMA data_version")[0][0]

    # -- inputs (photos) ----------------------------------------------------------------
    def input(self, input_id: int) -> Input:
        """The input; NotInJournal (a LookupError) when there is none."""
        found = self._inputs("id=?", (input_id,))
        if not found:
            raise NotInJournal(f"there is no input {input_id}")
        return found[0]

    def inputs_in(self, *states: str) -> list[Input]:
        marks = ",".join("?" * len(states))
        return self._inputs(f"state IN ({marks})", states)

    def inputs_except(self, *states: str) -> list[Input]:
        marks = ",".join("?" * len(states))
        return self._inputs(f"state NOT IN ({marks})" if states else "1", states)

    def inputs_due(self, now: float | None = None) -> list[Input]:
        """Held inputs whose wait is over."""
        now = time.time() if now is None else now
        return self._inputs(f"state='{InputState.HELD}' AND COALESCE(retry_at, 0) <= ?",
                            (now,))

    def history(self, relpath: str) -> list[Input]:
        """Every time this photo came in, oldest first (retried ones included)."""
        return self._inputs("relpath=?", (relpath,))

    def history_of_stem(self, stem: str) -> list[Input]:
        """Every input whose relpath is `stem` with any extension (the photos one mask
        belongs to: spring/shoe -> spring/shoe.jpg, spring/shoe.png), oldest first."""
        rows = self._inputs("substr(relpath, 1, ?) = ?", (len(stem) + 1, stem + "."))
        return [i for i in rows if photo_stem(i.relpath) == stem]

    def archive_users(self, archived_to: str) -> set[int]:
        """Ids of the inputs whose archived copy is this file (done/ keeps one copy of the
        same name and bytes for every input that brought it)."""
        return {r[0] for r in self._rows("SELECT id FROM inputs WHERE archived_to=?",
                                         (archived_to,))}

    def input_ids(self, *states: str) -> set[int]:
        """Ids of the inputs in these states (all inputs when none are given)."""
        where = f"state IN ({','.join('?' * len(states))})" if states else "1"
        return {r[0] for r in self._rows(f"SELECT id FROM inputs WHERE {where}", states)}

    def work_paths(self) -> set[str]:
        marks = ",".join("?" * len(UNFINISHED_INPUTS))
        return {r[0] for r in self._rows(f"SELECT work_path FROM inputs WHERE state IN "
                                         f"({marks})", UNFINISHED_INPUTS)}

    def finished_before(self, cutoff: float, after_id: int = 0, limit: int = 500
                        ) -> list[Input]:
        """Done and failed inputs finished before `cutoff`, by id, from after `after_id`."""
        return self._inputs(f"state IN ('{InputState.DONE}', '{InputState.FAILED}') AND "
                            "finished_at IS NOT NULL AND finished_at < ? AND id > ?",
                            (cutoff, after_id),
                            order=f"id LIMIT {int(limit)}")

    def needed_by_duplicate(self, input_id: int) -> bool:
        """A waiting or queued duplicate still points at one of this input's jobs."""
        return bool(self._rows("SELECT 1 FROM jobs d JOIN jobs j ON d.duplicate_of = j.id "
                               f"WHERE j.input_id = ? AND d.state NOT IN ('{JobState.DONE}', "
                               f"'{JobState.FAILED}') LIMIT 1", (input_id,)))

    def refused(self, limit: int = 10) -> list[Input]:
        """Failed photos that never got a job (refused at intake), newest first."""
        return self._inputs(f"state='{InputState.FAILED}' AND "
                            "id NOT IN (SELECT input_id FROM jobs)",
                            order=f"finished_at DESC LIMIT {int(limit)}")

    # -- jobs (renders) -----------------------------------------------------------------
    def job(self, job_id: int) -> Job:
        """The job; NotInJournal (a LookupError) when there is none."""
        found = self._jobs("id=?", (job_id,))
        if not found:
            raise NotInJournal(f"there is no job {job_id}")
        return found[0]

    def jobs_for_input(self, input_id: int) -> list[Job]:
        return self._jobs("input_id=?", (input_id,))

    def jobs_in(self, *states: str) -> list[Job]:
        """Jobs in these states, highest priority first (all jobs when none are given)."""
        where = f"state IN ({','.join('?' * len(states))})" if states else "1"
        return self._jobs(where, states, order="priority DESC, id")

    def all_jobs(self) -> list[Job]:
        """Every job, grouped by input (the gallery)."""
        return self._jobs("1", order="input_id, id")

    def jobs_ready(self) -> list[Job]:
        """Queued jobs, which may start now (held ones are in state held until release_due)."""
        return self.jobs_in(JobState.QUEUED.value)

    def job_ids(self, *states: str) -> set[int]:
        where = f"state IN ({','.join('?' * len(states))})" if states else "1"
        return {r[0] for r in self._rows(f"SELECT id FROM jobs WHERE {where}", states)}

    def held(self) -> list[Job]:
        return self._jobs(f"state='{JobState.HELD}'", order="retry_at, id")

    def waiting_on(self, original_id: int | None = None) -> list[Job]:
        """Duplicates still waiting for `original_id`'s render (for any job when None)."""
        if original_id is None:
            return self._jobs(f"state='{JobState.WAITING}'")
        return self._jobs(f"state='{JobState.WAITING}' AND duplicate_of=?", (original_id,))

    def find_job(self, job_key: str) -> Job | None:
        """The job whose render an identical new job can reuse; never a waiting duplicate."""
        found = self._jobs(f"job_key=? AND state!='{JobState.WAITING}'", (job_key,),
                           order=f"CASE state WHEN '{JobState.DONE}' THEN 0 "
                                 f"WHEN '{JobState.RUNNING}' THEN 1 WHEN '{JobState.QUEUED}' "
                                 "THEN 2 ELSE 3 END, id DESC LIMIT 1")
        return found[0] if found else None

    def output_claimed(self, output_path: str) -> bool:
        """Whether a job that is not failed (or retried) writes, or has written, this path."""
        return bool(self._rows("SELECT 1 FROM jobs WHERE output_path=? AND state NOT IN "
                               f"('{JobState.FAILED}', '{JobState.RETRIED}') LIMIT 1",
                               (output_path,)))

    def jobs_with_relpath(self, state: str, newest_first: bool = False,
                          limit: int | None = None) -> list[tuple[Job, str]]:
        """Jobs in `state` with their photo's inbox path: by id, or by finish time."""
        order = "j.finished_at DESC" if newest_first else "j.id"
        if limit is not None:
            order += f" LIMIT {int(limit)}"
        rows = self._rows(f"SELECT {self._cols('jobs', 'j')}, i.relpath AS relpath FROM jobs "
                          f"j JOIN inputs i ON i.id=j.input_id WHERE j.state=? ORDER BY "
                          f"{order}", (state,))
        out = []
        for r in rows:
            d = dict(r)
            relpath = d.pop("relpath")
            out.append((Job.from_row(d), relpath))
        return out

    # -- totals -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        out = dict.fromkeys(JOB_STATES, 0)
        out.update(dict(self._rows("SELECT state, COUNT(*) FROM jobs GROUP BY state")))
        return out

    def input_counts(self) -> dict[str, int]:
        return dict(self._rows("SELECT state, COUNT(*) FROM inputs GROUP BY state"))

    def queue_depth_by_campaign(self) -> dict[str, int]:
        return dict(self._rows("SELECT campaign, COUNT(*) FROM jobs "
                               f"WHERE state='{JobState.QUEUED}' GROUP BY campaign"))

    def failures_by_reason(self) -> dict[str, int]:
        """Failed jobs and refused photos, by FailureReason: every member, zeros included."""
        out = {r.value: 0 for r in FailureReason}
        for reason, n in self._reason_counts(InputState.FAILED,
                                             "AND id NOT IN (SELECT input_id FROM jobs)"):
            out[FailureReason.parse(reason).value] += n
        return out

    def held_by_reason(self) -> dict[str, int]:
        """Held jobs and held photos (no jobs yet), by FailureReason."""
        out: dict[str, int] = {}
        for reason, n in self._reason_counts(InputState.HELD, ""):
            key = FailureReason.parse(reason).value
            out[key] = out.get(key, 0) + n
        return out

    def _reason_counts(self, state: str, inputs_filter: str) -> list:
        reason = "NULL" if "NULL AS reason" in self._cols("inputs") else "reason"  # old
        return self._rows(f"SELECT reason, COUNT(*) FROM jobs WHERE state=? GROUP BY 1 "
                          f"UNION ALL SELECT {reason}, COUNT(*) FROM inputs WHERE state=? "
                          f"{inputs_filter} GROUP BY 1", (state, state))

    def render_seconds(self, limit: int = 10000) -> list[float]:
        if "NULL AS render_seconds" in self._cols("jobs"):   # a journal not migrated yet
            return []
        rows = self._rows(f"SELECT render_seconds FROM jobs WHERE state='{JobState.DONE}' AND "
                          "render_seconds IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def recent_failures(self, limit: int = 10) -> list[dict]:
        return [{"id": job.id, "relpath": relpath, "slug": job.slug, "reason": job.reason,
                 "error": job.error, "finished_at": job.finished_at}
                for job, relpath in self.jobs_with_relpath(JobState.FAILED, newest_first=True,
                                                           limit=limit)]

    # -- notification delivery log ------------------------------------------------------
    def deliveries(self, limit: int = 50, status: str | None = None) -> list[Delivery]:
        """The newest delivery-log rows first; none in a journal no daemon has migrated."""
        if not schema.table_columns(self.db, "deliveries"):
            return []
        where, args = ("WHERE status = ?", (status, limit)) if status else ("", (limit,))
        rows = self._rows(f"SELECT {self._cols('deliveries')} FROM deliveries {where} "
                          f"ORDER BY last_at DESC, id DESC LIMIT ?", args)
        return [Delivery.from_dict(dict(r)) for r in rows]

    def delivery_counts(self) -> dict[str, int]:
        """Messages per DeliveryStatus in the delivery log, every status present."""
        out = {s.value: 0 for s in DeliveryStatus}
        if schema.table_columns(self.db, "deliveries"):
            out.update(dict(self._rows("SELECT status, COUNT(*) FROM deliveries "
                                       "GROUP BY status")))
        return out


    def pending_notices(self) -> list[tuple[str, str]]:
        """(message_id, event JSON) of the notifications not yet sent, oldest first; none
        in a journal no daemon has migrated."""
        if not schema.table_columns(self.db, "notices"):
            return []
        return [(r[0], r[1]) for r in self._rows(
            "SELECT message_id, body FROM notices ORDER BY queued_at, rowid")]


def open_reader(path: str | Path, timeout: float = 10.0) -> JournalReader:
    """The journal opened read-only (mode=ro): status and the gallery look without ever
    taking a write lock or creating the file. FileNotFoundError when it does not exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise JournalUnavailable(f"{path}: {exc}") from None
    db.row_factory = sqlite3.Row
    return JournalReader(db, path, readonly=True)
