"""The journal's per-tick and per-photo queries find their rows by an index, the tally
agrees with the rows, and dispatch reads only the heads of the queue."""

from __future__ import annotations

import re

import pytest

from deepart_batch.core.jobspec import JobSpec
from deepart_batch.core.states import JobState
from deepart_batch.journal import Journal
from support.jobs import toy_spec
from support.journal_files import OLD_WITHOUT_DUPLICATE_OF, build

# Scans that are not a walk of the queue: the tally (a row per state and campaign) and the
# recursive CTE's own one-row steps.
SMALL = {"job_tally", "c"}


def _fill(journal: Journal, campaigns=("a", "b", "c"), per_campaign=40, priority=0,
          need=None) -> list[int]:
    ids = []
    for campaign in campaigns:
        for n in range(per_campaign):
            inp = journal.begin_claim(f"{campaign}/{n}.jpg", campaign, f"/w/{campaign}{n}")
            journal.finish_claim(inp, "sha")
            ids.append(journal.add_job(inp, f"k{campaign}{n}{priority}", campaign, priority,
                                       "s", toy_spec(), f"/o/{campaign}/{n}.{priority}.jpg",
                                       f"/o/{campaign}/{n}.json", need_bytes=need))
    return ids


def _scans(plans: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for name, lines in plans.items():
        bad = [line for line in lines if (m := re.match(r"SCAN (\w+)", line))
               and m.group(1) not in SMALL]
        if bad:
            out[name] = bad
    return out


def test_every_hot_path_query_finds_its_rows_by_an_index(tmp_path):
    journal = Journal(tmp_path / "journal.db")
    _fill(journal)
    plans = journal.query_plans()
    assert {"READY_HEAD", "READY_CAMPAIGNS", "READY_PRIORITY", "COUNTS", "FIND_JOB",
            "OUTPUT_CLAIMED", "JOBS_DUE", "INPUTS_DUE"} <= set(plans)
    assert all(plans.values()), plans
    assert _scans(plans) == {}, plans


def test_an_existing_journal_gets_the_indexes_and_its_counts(tmp_path):
    path = tmp_path / "journal.db"
    build(path, OLD_WITHOUT_DUPLICATE_OF)   # one queued job, no tally, no new indexes
    journal = Journal(path)
    assert {"jobs_ready", "jobs_need", "inputs_relpath", "jobs_finished"} <= \
        journal.index_names()
    assert journal.counts()[JobState.QUEUED] == 1
    assert _scans(journal.query_plans()) == {}
    priority, heads = journal.ready_heads(per_campaign=4)
    assert (priority, [j.id for j in heads]) == (0, [1])
    journal.close()
    assert Journal(path).counts()[JobState.QUEUED] == 1   # counted once, not again


def test_the_tally_follows_every_change_of_state(tmp_path):
    journal = Journal(tmp_path / "journal.db")
    ids = _fill(journal, campaigns=("a", "b"), per_campaign=5)
    journal.mark_running(ids[0], "w0", "cpu")
    journal.mark_done(ids[0], 1.0)
    journal.mark_running(ids[1], "w0", "cpu")
    journal.mark_failed(ids[1], "crash", "x")
    journal.mark_running(ids[2], "w0", "cpu")
    journal.hold(ids[3], "style_missing", "gone", retry_at=0)
    journal.release_due()
    journal.delete_inputs([journal.job(ids[0]).input_id])
    counts = journal.counts()
    for state in JobState:
        assert counts[state] == len(journal.jobs_in(state)), state
    assert counts[JobState.QUEUED] == 7 and counts[JobState.RUNNING] == 1
    assert journal.count_unfinished_outside("b") == 3    # a: 2 queued, 1 running
    assert journal.queue_depth_by_campaign() == {"a": 2, "b": 5}


def test_ready_heads_are_the_top_priority_oldest_per_campaign_that_fit(tmp_path):
    journal = Journal(tmp_path / "journal.db")
    low = _fill(journal, per_campaign=30, need=100)
    urgent = _fill(journal, campaigns=("b",), per_campaign=2, priority=5, need=100)
    big = _fill(journal, campaigns=("z",), per_campaign=3, priority=9, need=10_000)
    priority, heads = journal.ready_heads(per_campaign=4, fits_bytes=1000)
    assert (priority, [j.id for j in heads]) == (5, urgent)
    priority, heads = journal.ready_heads(per_campaign=4, fits_bytes=1000, below_priority=5)
    assert priority == 0
    assert [j.id for j in heads] == low[0:4] + low[30:34] + low[60:64]
    assert [j.id for j in journal.ready_heads(4)[1]] == big   # no bound: they come first
    assert {j.id for j in journal.ready_too_large(1000)} == set(big)
    assert journal.ready_too_large(10_000) == []


def test_ready_heads_decode_only_the_jobs_they_return(tmp_path, monkeypatch):
    journal = Journal(tmp_path / "journal.db")
    _fill(journal, campaigns=("a", "b"), per_campaign=200)
    decoded = []
    real = JobSpec.from_dict.__func__
    monkeypatch.setattr(JobSpec, "from_dict",
                        classmethod(lambda cls, d: decoded.append(1) or real(cls, d)))
    _, heads = journal.ready_heads(per_campaign=5)
    assert len(heads) == 10 and len(decoded) == 10
