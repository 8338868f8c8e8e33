"""The queries that run per tick or per photo, in one place.

A backlog of 100,000 photos must cost the daemon the same per photo as 500: each of these
finds its rows through an index the schema declares (schema.py), never by walking `jobs` or
`inputs`. The reader and the store run them from here, and a test asks SQLite for the plan
of every one (`EXPLAIN QUERY PLAN`). `{jobs}` / `{inputs}` stand for the table's select
list (schema.select_list), filled in by the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.states import InputState, JobState

QUEUED, HELD, WAITING = JobState.QUEUED.value, JobState.HELD.value, JobState.WAITING.value
ENDED = (JobState.DONE.value, JobState.FAILED.value)


@dataclass(frozen=True)
class Query:
    sql: str
    example: tuple      # arguments of the right kinds, for the plan test

    def text(self, **select_lists: str) -> str:
        return self.sql.format(**select_lists) if select_lists else self.sql


# -- dispatch: read only the heads of the queue -------------------------------------------
# The highest priority below a bound that has queued jobs (one index seek).
READY_PRIORITY = Query("SELECT MAX(priority) FROM jobs WHERE state=? AND priority<?",
                       (QUEUED, 2 ** 62))
# The campaigns with queued jobs at one priority: a skip scan of the index, one seek per
# campaign, however many jobs each has queued.
READY_CAMPAIGNS = Query(
    "WITH RECURSIVE c(campaign) AS ("
    " SELECT MIN(campaign) FROM jobs WHERE state=?1 AND priority=?2"
    " UNION ALL SELECT (SELECT MIN(campaign) FROM jobs WHERE state=?1 AND priority=?2"
    " AND campaign>c.campaign) FROM c WHERE c.campaign IS NOT NULL)"
    " SELECT campaign FROM c WHERE campaign IS NOT NULL", (QUEUED, 0))
# One campaign's oldest queued jobs at one priority that fit a device of `?4` bytes (any
# size when ?4 is NULL; a job whose need is unknown fits: dispatch checks it decoded).
READY_HEAD = Query(
    "SELECT {jobs} FROM jobs WHERE state=? AND priority=? AND campaign=? AND "
    "(?4 IS NULL OR need_bytes IS NULL OR need_bytes<=?4) ORDER BY id LIMIT ?",
    (QUEUED, 0, "c", 2 ** 30, 8))
# Queued jobs no device of the pool can hold: refused, a few per tick.
READY_TOO_LARGE = Query("SELECT {jobs} FROM jobs WHERE state=? AND need_bytes>? "
                        "ORDER BY need_bytes LIMIT ?", (QUEUED, 2 ** 30, 8))
# Whether anything but the given campaign (style cards) is queued: `run --once` ends.
READY_OUTSIDE = Query("SELECT 1 FROM jobs WHERE state=? AND campaign!=? LIMIT 1",
                      (QUEUED, "_styles"))
JOBS_IN_STATE = Query("SELECT {jobs} FROM jobs WHERE state=? ORDER BY priority DESC, id",
                      (JobState.RUNNING.value,))

# -- counts: sums over the tally the triggers keep (schema.TALLY) -------------------------
COUNTS = Query("SELECT state, SUM(n) FROM job_tally GROUP BY state", ())
COUNT_OUTSIDE = Query("SELECT COALESCE(SUM(n), 0) FROM job_tally WHERE state IN "
                      "(?, ?, ?, ?) AND campaign!=?",
                      (QUEUED, JobState.RUNNING.value, WAITING, HELD, "_styles"))
QUEUED_BY_CAMPAIGN = Query("SELECT campaign, n FROM job_tally WHERE state=? AND n>0",
                           (QUEUED,))

# -- per photo and per finished job -------------------------------------------------------
JOB = Query("SELECT {jobs} FROM jobs WHERE id=?", (1,))
INPUT = Query("SELECT {inputs} FROM inputs WHERE id=?", (1,))
JOBS_FOR_INPUT = Query("SELECT {jobs} FROM jobs WHERE input_id=? ORDER BY id", (1,))
HISTORY = Query("SELECT {inputs} FROM inputs WHERE relpath=? ORDER BY id", ("a/b.jpg",))
# The photos one mask belongs to (spring/shoe -> spring/shoe.jpg, .png): a range of relpath
# ("." sorts just before "/", so [stem + ".", stem + "/") holds every extension).
HISTORY_OF_STEM = Query("SELECT {inputs} FROM inputs WHERE relpath >= ? AND relpath < ? "
                        "ORDER BY id", ("a/b.", "a/b/"))
FIND_JOB = Query(
    f"SELECT {{jobs}} FROM jobs WHERE job_key=? AND state!='{JobState.WAITING}' ORDER BY "
    f"CASE state WHEN '{JobState.DONE}' THEN 0 WHEN '{JobState.RUNNING}' THEN 1 "
    f"WHEN '{JobState.QUEUED}' THEN 2 ELSE 3 END, id DESC LIMIT 1", ("k" * 64,))
OUTPUT_CLAIMED = Query(
    "SELECT 1 FROM jobs WHERE output_path=? AND state NOT IN "
    f"('{JobState.FAILED}', '{JobState.RETRIED}') LIMIT 1", ("/out/a.jpg",))
WAITING_ON = Query(f"SELECT {{jobs}} FROM jobs WHERE state='{JobState.WAITING}' AND "
                   "duplicate_of=? ORDER BY id", (1,))
NEEDED_BY_DUPLICATE = Query(
    "SELECT 1 FROM jobs j JOIN jobs d ON d.duplicate_of = j.id WHERE j.input_id = ? AND "
    f"d.state NOT IN ('{JobState.DONE}', '{JobState.FAILED}') LIMIT 1", (1,))
TAKE_FORCED = Query("DELETE FROM forced WHERE job_key=?", ("k" * 64,))

# -- the gallery: photos changed since its last rebuild ----------------------------------
CHANGED_INPUTS = Query("SELECT {inputs} FROM inputs WHERE changed>? ORDER BY changed LIMIT ?",
                       (0, 5000))
LAST_CHANGE = Query("SELECT MAX(changed) FROM inputs", ())
COUNT_CHANGED = Query("SELECT COUNT(*) FROM inputs WHERE changed>?", (0,))
# A whole rebuild reads the photos a chunk at a time, by id, with their jobs: its memory
# is one chunk's, however many photos there are.
INPUTS_AFTER = Query("SELECT {inputs} FROM inputs WHERE id>? AND state!=? ORDER BY id LIMIT ?",
                     (0, InputState.CLAIMING.value, 500))
JOBS_OF_INPUTS = Query("SELECT {jobs} FROM jobs WHERE input_id BETWEEN ? AND ? "
                       "ORDER BY input_id, id", (1, 500))
# The inputs under one inbox folder (approvals: `_approve/...`), by the relpath index:
# [folder + "/", folder + "0") holds every path below it ("0" sorts just after "/").
INPUTS_UNDER = Query("SELECT {inputs} FROM inputs WHERE relpath >= ? AND relpath < ? "
                     "ORDER BY id", ("_approve/", "_approve0"))

# -- each tick: holds whose wait is over ------------------------------------------------
JOBS_DUE = Query(f"SELECT id FROM jobs WHERE state='{JobState.HELD}' AND "
                 "COALESCE(retry_at, 0) <= ?", (0.0,))
INPUTS_DUE = Query(f"SELECT {{inputs}} FROM inputs WHERE state='{InputState.HELD}' AND "
                   "COALESCE(retry_at, 0) <= ? ORDER BY id", (0.0,))

# -- status (polled while a backlog runs) -------------------------------------------------
# Failed photos that never got a job (refused at intake), newest first: each failed photo
# asks the jobs index whether it has one, never a list of every job's photo.
REFUSED = Query(f"SELECT {{inputs}} FROM inputs WHERE state='{InputState.FAILED}' AND NOT "
                "EXISTS (SELECT 1 FROM jobs WHERE jobs.input_id=inputs.id) "
                "ORDER BY finished_at DESC LIMIT ?", (10,))
HELD_JOB_REASONS = Query(f"SELECT reason, COUNT(*) FROM jobs WHERE state='{JobState.HELD}' "
                         "GROUP BY reason", ())
HELD_INPUT_REASONS = Query(f"SELECT reason, COUNT(*) FROM inputs WHERE "
                           f"state='{InputState.HELD}' GROUP BY reason", ())
HELD_INPUTS = Query(f"SELECT {{inputs}} FROM inputs WHERE state='{InputState.HELD}' "
                    "ORDER BY id LIMIT ?", (50,))
WITH_RELPATH = Query("SELECT {jobs_j}, i.relpath AS relpath FROM jobs j JOIN inputs i ON "
                     "i.id=j.input_id WHERE j.state=? ORDER BY j.id LIMIT ?",
                     (JobState.RUNNING.value, -1))
NEWEST_WITH_RELPATH = Query("SELECT {jobs_j}, i.relpath AS relpath FROM jobs j JOIN inputs i "
                            "ON i.id=j.input_id WHERE j.state=? ORDER BY j.finished_at DESC "
                            "LIMIT ?", (JobState.FAILED.value, 10))
RENDER_SECONDS = Query(f"SELECT render_seconds FROM jobs WHERE state='{JobState.DONE}' AND "
                       "render_seconds IS NOT NULL ORDER BY finished_at DESC LIMIT ?", (20,))


def all_queries() -> dict[str, Query]:
    """Every hot-path query by name (the plan test walks them)."""
    return {name: value for name, value in globals().items() if isinstance(value, Query)}


def plans(journal) -> dict[str, list[str]]:
    """SQLite's plan of each hot-path query on this journal (`EXPLAIN QUERY PLAN`): one
    line per step, "SEARCH jobs USING INDEX ..." or "SCAN ...". For checks and diagnosis."""
    out = {}
    for name, query in all_queries().items():
        rows = journal.run_query(Query("EXPLAIN QUERY PLAN " + query.sql, query.example),
                                 query.example)
        out[name] = [row[3] for row in rows]
    return out
