import pytest

from deepart_batch.daemon.journal import InvalidTransition, Journal


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def _job(journal, key="k1", campaign="a"):
    input_id = journal.begin_claim(f"{campaign}/x.jpg", campaign, "/work/x.jpg")
    journal.finish_claim(input_id, "sha")
    return journal.add_job(input_id, key, campaign, 0, "starry", {"content": "/work/x.jpg"},
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
    assert (j.state, j.attempts, j.progress, j.worker) == ("queued", 1, None, None)
    reopened.mark_running(job, "cpu#0", "cpu")
    reopened.requeue(job, "shutdown", "drained", refund_attempt=True)
    assert reopened.job(job).attempts == 1     # a graceful stop is not a failed attempt
    reopened.mark_running(job, "cpu#0", "cpu")
    reopened.mark_failed(job, "timeout", "too slow")
    assert reopened.failures_by_reason() == {"timeout": 1}
    assert reopened.recent_failures()[0]["relpath"] == "a/x.jpg"
    reopened.close()


def test_dedup_lookup_prefers_finished_work(journal):
    first = _job(journal, key="same")
    journal.mark_running(first, "cpu#0", "cpu")
    journal.mark_failed(first, "error", "boom")
    second = _job(journal, key="same", campaign="b")
    assert journal.find_job("same").id == second          # queued beats failed
    journal.mark_running(second, "cpu#0", "cpu")
    journal.mark_done(second, 1.0)
    assert journal.find_job("same").id == second and journal.find_job("other") is None
    assert journal.counts() == {"queued": 0, "running": 0, "waiting": 0, "done": 1,
                              "failed": 1}
    assert journal.queue_depth_by_campaign() == {}
