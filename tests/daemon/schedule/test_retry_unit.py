"""`retry` on a real journal and real folders, without a daemon."""

import json
from pathlib import Path

import pytest

from deepart_batch.settings.config import load_config
from deepart_batch.journal import Journal
from deepart_batch.daemon.schedule.retry import RetryRequest, parse_since, retry
from deepart_batch.errors import DeepartError
from support.boxes import write_config
from support.journal_files import OLD_UNMIGRATED, build, held_exclusively
from support.jobs import toy_spec


def test_parse_since():
    assert parse_since("2h", now=10000.0) == 10000.0 - 7200
    assert parse_since("30m", now=10000.0) == 10000.0 - 1800
    assert parse_since("2026-11-27T09:00:00Z") == parse_since("2026-11-27T09:00")
    with pytest.raises(DeepartError, match="--since"):
        parse_since("yesterday")


@pytest.fixture
def setup(tmp_path):
    for d in ("in", "out", "state/failed/c", "state/done/c", "styles"):
        (tmp_path / d).mkdir(parents=True)
    write_config(tmp_path / "config.yaml", (
        {"inbox": "in", "outbox": "out", "state_dir": "state", "styles_dir": "styles",
         "manifest": "m.yaml"}))
    config = load_config(tmp_path / "config.yaml")
    journal = Journal(tmp_path / "state/journal.sqlite")
    return tmp_path, config, journal


def _failed(tmp_path, journal, name, reason="crashed"):
    archived = tmp_path / "state/failed/c" / name
    archived.write_bytes(b"photo " + name.encode())
    (archived.parent / (name + ".error.json")).write_text("{}")
    input_id = journal.begin_claim(f"c/{name}", "c", f"/w/{name}")
    journal.finish_claim(input_id, "sha")
    job = journal.add_job(input_id, f"k-{name}", "c", 0, "s", toy_spec(), f"/o/{name}", "/o/x.json")
    journal.mark_running(job, "cpu#0", "cpu")
    journal.mark_failed(job, reason, "boom")
    journal.archive_input(input_id, "failed", str(archived), "boom", reason)
    (tmp_path / "out/_problems/c").mkdir(parents=True, exist_ok=True)
    (tmp_path / "out/_problems/c" / (name + ".txt")).write_text("note")
    (tmp_path / "out/c").mkdir(exist_ok=True)
    (tmp_path / "out/c" / (name + ".error.json")).write_text("{}")
    return input_id, job


def test_retry_by_photo_moves_it_back_and_clears_everything(setup):
    tmp_path, config, journal = setup
    a, job_a = _failed(tmp_path, journal, "a.jpg")
    b, _ = _failed(tmp_path, journal, "b.jpg")
    (tmp_path / "in/c").mkdir()
    (tmp_path / "in/c/a.jpg").write_bytes(b"a newer drop with the same name")
    lines = retry(config, RetryRequest(photo="a.jpg"))
    assert len(lines) == 1 and "back in the inbox as c/a.retry" in lines[0]
    assert (tmp_path / "in/c/a.jpg").read_bytes() == b"a newer drop with the same name"
    assert (tmp_path / f"in/c/a.retry{a}.jpg").read_bytes() == b"photo a.jpg"
    assert not (tmp_path / "state/failed/c/a.jpg").exists()
    assert not (tmp_path / "state/failed/c/a.jpg.error.json").exists()
    assert not (tmp_path / "out/_problems/c/a.jpg.txt").exists()
    assert not (tmp_path / "out/c/a.jpg.error.json").exists()
    assert (tmp_path / "out/_problems/c/b.jpg.txt").exists()       # untouched
    assert journal.input(a).state == "retried" and journal.job(job_a).state == "retried"
    assert journal.input(b).state == "failed"
    assert retry(config, RetryRequest(photo="a.jpg")) == []        # nothing left to retry
    lines = retry(config, RetryRequest(all_failed=True))
    assert len(lines) == 1 and lines[0].startswith("c/b.jpg")


def test_retry_by_job_id_and_force_on_done(setup):
    tmp_path, config, journal = setup
    archived = tmp_path / "state/done/c/d.jpg"
    archived.write_bytes(b"done photo")
    input_id = journal.begin_claim("c/d.jpg", "c", "/w/d.jpg")
    journal.finish_claim(input_id, "sha")
    job = journal.add_job(input_id, "key-d", "c", 0, "s", toy_spec(), "/o/d.s.jpg", "/o/d.s.json")
    journal.mark_running(job, "cpu#0", "cpu")
    journal.mark_done(job, 1.0)
    journal.archive_input(input_id, "done", str(archived))
    assert retry(config, RetryRequest(job_id=job)) == \
        [f"job {job} is done: nothing to retry (add --force to render it again)"]
    lines = retry(config, RetryRequest(job_id=job, force=True))
    assert "rendered again (1 output(s)" in lines[0]
    assert archived.exists() and (tmp_path / "in/c/d.jpg").read_bytes() == b"done photo"
    assert journal.take_forced("key-d")
    with pytest.raises(DeepartError, match="no job 999"):
        retry(config, RetryRequest(job_id=999))


def test_status_reads_a_journal_no_daemon_has_migrated_yet(setup):
    from deepart_batch.daemon.admin.status import collect
    tmp_path, config, journal = setup
    journal.close()
    path = tmp_path / "state/journal.sqlite"
    path.unlink()
    build(path, OLD_UNMIGRATED)
    info = collect(config)
    assert info["held"]["total"] == 0 and info["refused"][0]["reason"] == "error"
    assert info["schema"] == 1 and info["manifest"]["valid"]


def test_retry_on_a_busy_journal_moves_nothing(setup):
    """Another program holds the journal; retry says so in one line and
    the photo stays in failed/ with its one failed row (it was moved first before)."""
    from deepart_batch.journal import JournalBusy
    tmp_path, config, journal = setup
    a, job_a = _failed(tmp_path, journal, "a.jpg")
    patient = Journal(tmp_path / "state/journal.sqlite", busy_budget=0.3, busy_wait=0.05)
    with held_exclusively(tmp_path / "state/journal.sqlite"):
        with pytest.raises(JournalBusy, match="the journal is busy .*; try again"):
            retry(config, RetryRequest(all_failed=True), journal=patient)
    assert (tmp_path / "state/failed/c/a.jpg").exists()
    assert not (tmp_path / "in/c").exists()
    assert (tmp_path / "state/failed/c/a.jpg.error.json").exists()
    assert journal.input(a).state == "failed" and journal.job(job_a).state == "failed"
    lines = retry(config, RetryRequest(all_failed=True), journal=patient)   # free again
    assert len(lines) == 1 and (tmp_path / f"in/c/a.jpg").exists()
    assert journal.input(a).state == "retried"
    patient.close()


def test_a_move_that_fails_undoes_the_journal_write(setup):
    tmp_path, config, journal = setup
    a, _ = _failed(tmp_path, journal, "a.jpg")
    (tmp_path / "in/c").write_text("a file where the campaign folder would go")
    with pytest.raises(OSError):
        retry(config, RetryRequest(photo="a.jpg"))
    assert (tmp_path / "state/failed/c/a.jpg").exists()
    assert journal.input(a).state == "failed"          # not retried: nothing moved
