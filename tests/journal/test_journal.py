import time

import pytest

from deepart_batch.journal import (InvalidTransition, Journal, JournalBusy,
                                          JournalDamaged, JournalUnavailable, NotInJournal,
                                          open_reader)
from deepart_batch.errors import DeepartError
from support.jobs import toy_spec
from support.journal_files import (OLD_INPUTS_ONLY, LockHolder, OperationalError, build,
                                   try_delete_jobs)


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def _job(journal, key="k1", campaign="a"):
    input_id = journal.begin_claim(f"{campaign}/x.jpg", campaign, "/work/x.jpg")
    journal.finish_claim(input_id, "sha")
    return journal.add_job(input_id, key, campaign, 0, "starry", toy_spec(),
                           "/out/x.jpg", "/out/x.json")


def test_explicit_transitions(journal):
    job = _job(journal)
    with pytest.raises(InvalidTransition, match="queued -> done"):
        journal.mark_done(job, 1.0)
    journal.mark_running(job, "cpu#0", "cpu")
    with pytest.raises(InvalidTransition):
        journal.mark_running(job, "cpu#1", "cpu")
    journal.mark_done(job, 2.5)
    done = journal.job(job)
    assert (done.state, done.attempts, done.render_seconds, done.worker) == ("done", 1, 2.5, "cpu#0")
    with pytest.raises(InvalidTransition):
        journal.requeue(job)


def test_crash_recovery_and_attempt_accounting(tmp_path, journal):
    job = _job(journal)
    journal.mark_running(job, "cpu#0", "cpu")
    journal.set_progress(job, {"step": 3, "total": 10})
    journal.close()
    reopened = Journal(tmp_path / "journal.sqlite")   # as after kill -9
    assert reopened.recover_running() == 1
    j = reopened.job(job)
    # the daemon's death is not the render's attempt
    assert (j.state, j.attempts, j.progress, j.worker, j.interruptions) == \
        ("queued", 0, None, None, 1)
    reopened.mark_running(job, "cpu#0", "cpu")
    reopened.requeue(job, "shutdown", "drained", refund_attempt=True)
    assert reopened.job(job).attempts == 0     # a graceful stop is not a failed attempt
    reopened.mark_running(job, "cpu#0", "cpu")
    reopened.mark_failed(job, "timeout", "too slow")
    by_reason = reopened.failures_by_reason()
    assert by_reason["timeout"] == 1 and sum(by_reason.values()) == 1
    assert reopened.recent_failures()[0]["relpath"] == "a/x.jpg"
    reopened.close()


def test_a_job_that_takes_the_daemon_down_each_time_counts_its_attempts_again(tmp_path,
                                                                               journal):
    from deepart_batch.journal.store import MAX_INTERRUPTIONS
    job = _job(journal)
    for _ in range(MAX_INTERRUPTIONS + 2):
        journal.mark_running(job, "cpu#0", "cpu")
        journal.recover_running()                  # as after each kill -9
    j = journal.job(job)
    assert j.interruptions == MAX_INTERRUPTIONS + 2 and j.attempts == 2


def test_dedup_lookup_prefers_finished_work(journal):
    first = _job(journal, key="same")
    journal.mark_running(first, "cpu#0", "cpu")
    journal.mark_failed(first, "error", "boom")
    second = _job(journal, key="same", campaign="b")
    assert journal.find_job("same").id == second          # queued beats failed
    journal.mark_running(second, "cpu#0", "cpu")
    journal.mark_done(second, 1.0)
    assert journal.find_job("same").id == second and journal.find_job("other") is None
    assert journal.counts() == {"queued": 0, "running": 0, "waiting": 0, "held": 0,
                                "done": 1, "failed": 1, "retried": 0}
    assert journal.queue_depth_by_campaign() == {}


def test_held_jobs_wait_without_using_attempts_then_queue_again(journal):
    job = _job(journal)
    journal.mark_running(job, "cpu#0", "cpu")
    assert journal.hold(job, "disk_full", "No space left", retry_at=2e9) == 0
    j = journal.job(job)
    assert (j.state, j.attempts, j.reason, j.holds) == ("held", 0, "disk_full", 1)
    assert journal.held_by_reason() == {"disk_full": 1}
    assert journal.release_due(now=1e9) == []            # not yet
    assert journal.release_holds() == 1                  # manifest reloaded: due now
    assert journal.release_due() == [job]
    assert journal.job(job).state == "queued" and journal.held_by_reason() == {}
    journal.mark_running(job, "cpu#0", "cpu")
    assert journal.hold(job, "outbox", "read-only", retry_at=0) == 1  # legacy name mapped
    assert journal.job(job).reason == "outbox_unwritable"
    with pytest.raises(InvalidTransition, match="held -> running"):
        journal.mark_running(job, "cpu#0", "cpu")


def test_held_inputs_and_retry_history(journal):
    input_id = journal.begin_claim("c/p.jpg", "c", "/work/p.jpg")
    journal.finish_claim(input_id, "sha")
    assert journal.hold_input(input_id, "no_rule", "no rule", retry_at=0) == 0
    assert journal.hold_input(input_id, "no_rule", "still none", retry_at=0) == 1
    assert [i.id for i in journal.inputs_due()] == [input_id]
    assert journal.held_by_reason() == {"no_rule": 1}
    journal.unhold_input(input_id)
    job = journal.add_job(input_id, "k", "c", 0, "s", toy_spec(), "/o/p.jpg", "/o/p.json")
    journal.mark_running(job, "cpu#0", "cpu")
    journal.mark_failed(job, "crashed", "boom")
    journal.archive_input(input_id, "failed", "/failed/p.jpg", "boom", "crashed")
    assert journal.failures_by_reason()["crashed"] == 1
    journal.retire_failed(input_id)
    assert journal.input(input_id).state == "retried" and journal.job(job).state == "retried"
    assert sum(journal.failures_by_reason().values()) == 0
    with pytest.raises(InvalidTransition):
        journal.retire_failed(input_id)                 # only once
    with pytest.raises(InvalidTransition):
        journal.archive_input(input_id, "done", "/done/p.jpg")


def test_forced_keys_are_taken_once(journal):
    journal.force("key")
    assert journal.take_forced("key") and not journal.take_forced("key")


def test_an_older_journal_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    build(path, OLD_INPUTS_ONLY)
    j = Journal(path)
    assert j.input(1).holds == 0 and j.input(1).reason is None
    j.hold_input(1, "style_missing", "gone", retry_at=5)
    assert j.input(1).state == "held"
    j.close()


# -- a journal another program holds --------------------------------------
_Holder = LockHolder   # a second program holding the journal, from another thread


def test_a_write_waits_out_a_lock_longer_than_sqlites_own_wait(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, busy_budget=10, busy_wait=0.1)
    with _Holder(path, seconds=1.0):
        started = time.monotonic()
        input_id = journal.begin_claim("a/x.jpg", "a", "/work/x.jpg")   # locked 1 s
        assert time.monotonic() - started >= 0.5
    journal.finish_claim(input_id, "sha")
    assert journal.input(input_id).state == "claimed"
    assert journal.take_forced("holder")                               # its write landed too
    journal.close()


def test_a_write_gives_up_with_journal_busy_in_one_line(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, busy_budget=0.5, busy_wait=0.05)
    job = _job(journal)
    with _Holder(path, seconds=None):
        started = time.monotonic()
        with pytest.raises(JournalBusy) as info:
            journal.mark_running(job, "cpu#0", "cpu")
        assert time.monotonic() - started < 3
    message = str(info.value)
    assert "the journal is busy (another program holds it); try again" in message
    assert "\n" not in message and isinstance(info.value, DeepartError)
    assert journal.job(job).state == "queued"                # nothing half-written
    journal.mark_running(job, "cpu#0", "cpu")                # and it works once free
    journal.close()


def test_a_failed_transaction_writes_nothing_and_nests(journal):
    job = _job(journal)
    with pytest.raises(InvalidTransition):
        with journal.transaction():
            journal.mark_running(job, "cpu#0", "cpu")          # joins the outer one
            journal.mark_done(job, 1.0)
            journal.mark_done(job, 1.0)                        # refused: all rolled back
    assert journal.job(job).state == "queued" and journal.job(job).attempts == 0


def test_read_api_answers_what_status_and_retention_ask(tmp_path, journal):
    done, failed = _job(journal, "k1", "a"), _job(journal, "k2", "b")
    for job in (done, failed):
        journal.mark_running(job, "cpu#0", "cpu")
    journal.mark_done(done, 3.0)
    journal.mark_failed(failed, "timeout", "slow")
    inp = journal.job(done).input_id
    journal.archive_input(inp, "done", "/done/x.jpg")
    refused = journal.begin_claim("c/bad.jpg", "c", "/w/bad.jpg")
    journal.finish_claim(refused, "sha")
    journal.archive_input(refused, "failed", "/failed/bad.jpg", "unreadable", "bad_image")
    assert journal.job_ids("done") == {done} and journal.job_ids() == {done, failed}
    assert journal.input_ids("failed") == {refused} and len(journal.input_ids()) == 3
    assert journal.input_counts() == {"done": 1, "claimed": 1, "failed": 1}
    assert [(j.id, rel) for j, rel in journal.jobs_with_relpath("failed")] == [(failed, "b/x.jpg")]
    assert [i.id for i in journal.refused()] == [refused]
    assert [i.id for i in journal.history("a/x.jpg")] == [inp]
    assert [i.id for i in journal.finished_before(time.time() + 1)] == [inp, refused]
    assert journal.render_seconds() == [3.0] and not journal.needed_by_duplicate(inp)
    assert journal.delete_inputs([inp]) == (1, 1) and journal.job_ids() == {failed}
    with pytest.raises(NotInJournal):
        journal.job(done)
    reader = open_reader(tmp_path / "journal.sqlite")
    try:
        assert reader.counts()["failed"] == 1 and reader.input_ids() == journal.input_ids()
        with pytest.raises(OperationalError):
            try_delete_jobs(reader.db)                       # read-only: mode=ro
    finally:
        reader.close()


def test_a_read_only_reader_of_an_unready_or_damaged_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_reader(tmp_path / "none.sqlite")
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with pytest.raises(JournalUnavailable):
        open_reader(tmp_path / "empty.sqlite").counts()
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(JournalDamaged):
        open_reader(tmp_path / "junk.sqlite").counts()


def test_a_job_whose_stored_params_this_version_does_not_know_reads_with_its_problem(
        tmp_path, journal):
    import json

    from support.journal_files import damage_job_spec
    job = _job(journal)
    stored = toy_spec().to_dict()
    stored["params"]["brush_size"] = 3
    damage_job_spec(tmp_path / "journal.sqlite", job, json.dumps(stored))
    row = journal.job(job)
    assert row.spec is None and "brush_size" in row.spec_problem
