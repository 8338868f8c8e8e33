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
from ..core.states import DeliveryStatus, InputState, JobState
from . import hot_path as hot
from . import schema
from .hot_path import Query
from .records import Delivery, Input, Job, JournalDamaged, JournalUnavailable, NotInJournal
from .totals import JournalTotals

UNFINISHED_INPUTS = (InputState.CLAIMING, InputState.CLAIMED, InputState.HELD)


class JournalReader(JournalTotals):
    """Read methods over one connection. Read-only readers turn SQLite's errors into
    JournalUnavailable (not set up yet, locked) and JournalDamaged (not a database)."""

    def __init__(self, db: sqlite3.Connection, path: Path, readonly: bool):
        self.db, self.path, self.readonly = db, Path(path), readonly
        self._columns: dict[tuple[str, str], str] = {}
        self._tally: bool | None = None   # whether this journal keeps job_tally yet

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

    def run_query(self, query: Query, args=()) -> list[sqlite3.Row]:
        """A hot-path query (hot_path.py), its select lists filled in."""
        return self._rows(query.text(jobs=self._cols("jobs"), jobs_j=self._cols("jobs", "j"),
                                     inputs=self._cols("inputs")), args)

    def _query_jobs(self, query: Query, args=()) -> list[Job]:
        return [Job.from_row(r) for r in self.run_query(query, args)]

    def _query_inputs(self, query: Query, args=()) -> list[Input]:
        return [Input.from_row(r) for r in self.run_query(query, args)]

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

    def index_names(self) -> set[str]:
        """The indexes this journal has (a migration adds the ones a version declares)."""
        return {r[0] for r in self._rows("SELECT name FROM sqlite_master WHERE type='index'")}

    def query_plans(self) -> dict[str, list[str]]:
        """The plan of every hot-path query (hot_path.plans)."""
        return hot.plans(self)

    def data_version(self) -> int:
        """Moves whenever another connection commits (the gallery polls it)."""
        return self._rows("PRAGMA data_version")[0][0]

    # -- inputs (photos) ----------------------------------------------------------------
    def input(self, input_id: int) -> Input:
        """The input; NotInJournal (a LookupError) when there is none."""
        found = self._query_inputs(hot.INPUT, (input_id,))
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
        return self._query_inputs(hot.INPUTS_DUE, (now,))

    def history(self, relpath: str) -> list[Input]:
        """Every time this photo came in, oldest first (retried ones included)."""
        return self._query_inputs(hot.HISTORY, (relpath,))

    def history_of_stem(self, stem: str) -> list[Input]:
        """Every input whose relpath is `stem` with any extension (the photos one mask
        belongs to: spring/shoe -> spring/shoe.jpg, spring/shoe.png), oldest first."""
        rows = self._query_inputs(hot.HISTORY_OF_STEM, (stem + ".", stem + "/"))
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

    def changed_since(self, seen: int, limit: int = 5000) -> list[Input]:
        """Inputs written (or whose jobs were) after change number `seen`, oldest change
        first; [] in a journal without change numbers (the gallery then rebuilds all)."""
        if not self.tracks_changes():
            return []
        return self._query_inputs(hot.CHANGED_INPUTS, (seen, limit))

    def inputs_after(self, after_id: int, limit: int = 500) -> list[Input]:
        """The next `limit` inputs past claiming by id, after `after_id`: a whole gallery
        rebuild reads them a chunk at a time."""
        return self._query_inputs(hot.INPUTS_AFTER, (after_id, InputState.CLAIMING.value,
                                                     limit))

    def jobs_of_inputs(self, first_id: int, last_id: int) -> dict[int, list[Job]]:
        """The jobs of inputs `first_id`..`last_id`, by input id, each input's by job id."""
        out: dict[int, list[Job]] = {}
        for job in self._query_jobs(hot.JOBS_OF_INPUTS, (first_id, last_id)):
            out.setdefault(job.input_id, []).append(job)
        return out

    def inputs_under(self, folder: str) -> list[Input]:
        """Every input below the inbox folder `folder` (e.g. the approvals), by id."""
        return self._query_inputs(hot.INPUTS_UNDER, (folder + "/", folder + "0"))

    def finished_reports(self) -> set[str]:
        """The report file of every finished render (a whole gallery rebuild passes over
        these on disk and parses only the reports the journal does not know)."""
        return {r[0] for r in self._rows(
            f"SELECT report_path FROM jobs WHERE state='{JobState.DONE}'")}

    def output_paths(self) -> set[str]:
        """Every job's output path (to tell a report no job knows by its image)."""
        return {r[0] for r in self._rows("SELECT output_path FROM jobs")}

    def held_reasons(self) -> dict[str | None, int]:
        """Held photos and held renders per reason (as recorded): counted, not read."""
        out: dict[str | None, int] = {}
        for table, query in (("inputs", hot.HELD_INPUT_REASONS),
                             ("jobs", hot.HELD_JOB_REASONS)):
            if "reason" not in schema.table_columns(self.db, table):
                continue   # a journal older than holds (no daemon has migrated it)
            for reason, n in self.run_query(query):
                out[reason] = out.get(reason, 0) + n
        return out

    def held_inputs(self, limit: int = 50) -> list[Input]:
        """The oldest `limit` held photos."""
        return self._query_inputs(hot.HELD_INPUTS, (limit,))

    def count_changed_since(self, seen: int) -> int:
        """How many inputs changed after change number `seen` (0 without change numbers)."""
        if not self.tracks_changes():
            return 0
        return self.run_query(hot.COUNT_CHANGED, (seen,))[0][0] or 0

    def last_change(self) -> int:
        """The newest change number (0: none, or a journal without them)."""
        if not self.tracks_changes():
            return 0
        return self.run_query(hot.LAST_CHANGE)[0][0] or 0

    def tracks_changes(self) -> bool:
        """Whether this journal keeps change numbers (opened by a daemon of this version)."""
        return "0 AS changed" not in self._cols("inputs")

    def finished_before(self, cutoff: float, after_id: int = 0, limit: int = 500
                        ) -> list[Input]:
        """Done and failed inputs finished before `cutoff`, by id, from after `after_id`."""
        return self._inputs(f"state IN ('{InputState.DONE}', '{InputState.FAILED}') AND "
                            "finished_at IS NOT NULL AND finished_at < ? AND id > ?",
                            (cutoff, after_id),
                            order=f"id LIMIT {int(limit)}")

    def needed_by_duplicate(self, input_id: int) -> bool:
        """A waiting or queued duplicate still points at one of this input's jobs."""
        return bool(self.run_query(hot.NEEDED_BY_DUPLICATE, (input_id,)))

    def refused(self, limit: int = 10) -> list[Input]:
        """Failed photos that never got a job (refused at intake), newest first."""
        return self._query_inputs(hot.REFUSED, (int(limit),))

    # -- jobs (renders) -----------------------------------------------------------------
    def job(self, job_id: int) -> Job:
        """The job; NotInJournal (a LookupError) when there is none."""
        found = self._query_jobs(hot.JOB, (job_id,))
        if not found:
            raise NotInJournal(f"there is no job {job_id}")
        return found[0]

    def jobs_for_input(self, input_id: int) -> list[Job]:
        return self._query_jobs(hot.JOBS_FOR_INPUT, (input_id,))

    def jobs_in(self, *states: str) -> list[Job]:
        """Jobs in these states, highest priority first (all jobs when none are given)."""
        where = f"state IN ({','.join('?' * len(states))})" if states else "1"
        return self._jobs(where, states, order="priority DESC, id")

    def all_jobs(self) -> list[Job]:
        """Every job, grouped by input (the gallery)."""
        return self._jobs("1", order="input_id, id")

    def jobs_ready(self) -> list[Job]:
        """Every queued job (start-up and one-off holds; dispatch reads `ready_heads`)."""
        return self.jobs_in(JobState.QUEUED.value)

    def running(self) -> list[Job]:
        """The running jobs (as many as render slots)."""
        return self._query_jobs(hot.JOBS_IN_STATE, (JobState.RUNNING.value,))

    def ready_heads(self, per_campaign: int, fits_bytes: int | None = None,
                    below_priority: int | None = None) -> tuple[int | None, list[Job]]:
        """The highest priority (below `below_priority`) with queued jobs that fit a device
        of `fits_bytes` (None: any), and the oldest `per_campaign` of those of each campaign
        at it, oldest first: all a fair pick needs, found by index seeks whatever the
        backlog. (None, []) when nothing is queued below that priority."""
        bound = 2 ** 63 - 1 if below_priority is None else below_priority
        while True:
            row = self.run_query(hot.READY_PRIORITY, (JobState.QUEUED.value, bound))
            priority = row[0][0] if row else None
            if priority is None:
                return None, []
            campaigns = [r[0] for r in self.run_query(hot.READY_CAMPAIGNS,
                                                   (JobState.QUEUED.value, priority))]
            heads = [job for campaign in campaigns for job in self._query_jobs(
                hot.READY_HEAD, (JobState.QUEUED.value, priority, campaign, fits_bytes,
                                 per_campaign))]
            if heads:
                return priority, sorted(heads, key=lambda j: j.id)
            bound = priority   # none at this priority fits: the next one down

    def ready_too_large(self, capacity_bytes: int, limit: int = 8) -> list[Job]:
        """Queued jobs whose estimated need exceeds `capacity_bytes` (the largest device)."""
        return self._query_jobs(hot.READY_TOO_LARGE,
                                (JobState.QUEUED.value, capacity_bytes, limit))

    def ready_outside(self, campaign: str) -> bool:
        """Whether a job of any other campaign is queued."""
        return bool(self.run_query(hot.READY_OUTSIDE, (JobState.QUEUED.value, campaign)))

    def job_ids(self, *states: str) -> set[int]:
        where = f"state IN ({','.join('?' * len(states))})" if states else "1"
        return {r[0] for r in self._rows(f"SELECT id FROM jobs WHERE {where}", states)}

    def held(self) -> list[Job]:
        return self._jobs(f"state='{JobState.HELD}'", order="retry_at, id")

    def waiting_on(self, original_id: int | None = None) -> list[Job]:
        """Duplicates still waiting for `original_id`'s render (for any job when None)."""
        if original_id is None:
            return self._jobs(f"state='{JobState.WAITING}'")
        return self._query_jobs(hot.WAITING_ON, (original_id,))

    def find_job(self, job_key: str) -> Job | None:
        """The job whose render an identical new job can reuse; never a waiting duplicate."""
        found = self._query_jobs(hot.FIND_JOB, (job_key,))
        return found[0] if found else None

    def output_claimed(self, output_path: str) -> bool:
        """Whether a job that is not failed (or retried) writes, or has written, this path."""
        return bool(self.run_query(hot.OUTPUT_CLAIMED, (output_path,)))

    def jobs_with_relpath(self, state: str, newest_first: bool = False,
                          limit: int | None = None) -> list[tuple[Job, str]]:
        """Jobs in `state` with their photo's inbox path: by id, or by finish time."""
        if newest_first:
            rows = self.run_query(hot.NEWEST_WITH_RELPATH, (state, -1 if limit is None
                                                         else int(limit)))
        else:
            rows = self.run_query(hot.WITH_RELPATH, (state, -1 if limit is None
                                                         else int(limit)))
        out = []
        for r in rows:
            d = dict(r)
            relpath = d.pop("relpath")
            out.append((Job.from_row(d), relpath))
        return out

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
