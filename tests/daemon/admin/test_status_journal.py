"""`status` reads everything it shows through the journal's read API (read-only)."""

import time

from deepart_batch.core.layout import StateLayout
from deepart_batch.journal import Journal
from deepart_batch.daemon.admin.status import collect, render_text
from deepart_batch.settings.config import load_config
from support.boxes import write_config
from support.jobs import toy_spec


def _box_config(tmp_path):
    """A box's folders and its config.yaml (no daemon)."""
    for d in ("in", "out", "state", "styles"):
        (tmp_path / d).mkdir()
    write_config(tmp_path / "config.yaml", (
        {"inbox": "in", "outbox": "out", "state_dir": "state", "styles_dir": "styles",
         "manifest": "m.yaml"}))


def test_status_shows_running_held_failed_and_refused(tmp_path):
    _box_config(tmp_path)
    config = load_config(tmp_path / "config.yaml")
    journal = Journal(StateLayout(tmp_path / "state").journal)
    photo = journal.begin_claim("city/a.jpg", "city", "/w/a.jpg")
    journal.finish_claim(photo, "sha")
    run, hold, fail = (journal.add_job(photo, f"k{i}", "city", 0, f"s{i}", toy_spec(), f"/o/{i}.jpg",
                                       f"/o/{i}.json") for i in range(3))
    journal.mark_running(run, "cpu#0", "cpu")
    journal.set_progress(run, {"step": 50, "total": 100})
    journal.hold(hold, "disk_full", "No space left", retry_at=time.time() + 60)
    journal.mark_failed(fail, "oom", "out of memory")
    waiting = journal.begin_claim("b.jpg", "", "/w/b.jpg")
    journal.finish_claim(waiting, "sha")
    journal.hold_input(waiting, "no_rule", "no rule matches", retry_at=0)
    bad = journal.begin_claim("c.jpg", "", "/w/c.jpg")
    journal.finish_claim(bad, "sha")
    journal.archive_input(bad, "failed", "/f/c.jpg", "c.jpg: not an image", "unreadable")
    info = collect(config)
    journal.close()
    assert info["counts"]["running"] == 1 and info["counts"]["held"] == 2   # = held.total
    (running,) = info["running"]
    assert (running["job"], running["input"], running["style"], running["attempt"]) == \
        (run, "city/a.jpg", "s0", 1)
    assert running["progress"] == {"step": 50, "total": 100}
    assert running["elapsed_seconds"] is not None and running["started"].endswith("+00:00")
    assert info["held"]["by_reason"] == {"no_rule": 1, "disk_full": 1}
    assert [p["job"] for p in info["held"]["photos"]] == [None, hold]
    assert [(f["job"], f["reason"]) for f in info["failures"]] == [(fail, "oom")]
    assert [(r["input"], r["reason"]) for r in info["refused"]] == [("c.jpg", "unreadable")]
    text = render_text(info)
    assert "job %d: city/a.jpg [s0] on cpu#0 step 50/100" % run in text
    assert "held: 2 (disk_full 1, no_rule 1)" in text


def test_status_on_a_journal_being_created(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "journal.sqlite").write_bytes(b"")
    write_config(tmp_path / "config.yaml", (
        {"inbox": "in", "outbox": "out", "state_dir": "state", "styles_dir": "styles",
         "manifest": "m.yaml"}))
    info = collect(load_config(tmp_path / "config.yaml"))
    assert "a daemon may be creating it" in info["journal_error"]


def test_status_is_one_snapshot_while_the_daemon_starts_jobs(tmp_path, monkeypatch):
    """A busy daemon commits between status's reads (here: a job starts right after the
    counts were read): the queue, the running list and the counts still agree."""
    from deepart_batch.journal import JournalReader
    _box_config(tmp_path)
    config = load_config(tmp_path / "config.yaml")
    daemon = Journal(StateLayout(tmp_path / "state").journal)
    photo = daemon.begin_claim("city/a.jpg", "city", "/w/a.jpg")
    daemon.finish_claim(photo, "sha")
    jobs = [daemon.add_job(photo, f"k{i}", "city", 0, f"s{i}", toy_spec(), f"/o/{i}.jpg",
                           f"/o/{i}.json") for i in range(4)]
    daemon.mark_running(jobs[0], "cpu#0", "cpu")
    counts = JournalReader.counts

    def counts_then_the_daemon_starts_a_job(self):
        seen = counts(self)
        daemon.mark_running(jobs[len(daemon.jobs_in("running"))], "cpu#1", "cpu")
        return seen

    monkeypatch.setattr(JournalReader, "counts", counts_then_the_daemon_starts_a_job)
    info = collect(config)
    daemon.close()
    queued, running = info["counts"].get("queued", 0), len(info["running"])
    assert info["counts"]["running"] == running, info
    assert info["queue"]["jobs"] == queued + running == 4, info


def test_a_large_held_backlog_is_counted_by_the_journal_and_the_oldest_listed(
        tmp_path, monkeypatch):
    """A painting gone holds every photo of a drop: `status` counts them in SQL and
    decodes only the few it lists, so it stays quick whatever the backlog."""
    from deepart_batch.journal import records
    _box_config(tmp_path)
    journal = Journal(StateLayout(tmp_path / "state").journal)
    with journal.transaction():
        for n in range(300):
            photo = journal.begin_claim(f"city/{n}.jpg", "city", f"/w/{n}.jpg")
            journal.finish_claim(photo, "sha")
            job = journal.add_job(photo, f"k{n}", "city", 0, "oil", toy_spec(),
                                  f"/o/{n}.jpg", f"/o/{n}.json")
            journal.hold(job, "style_missing" if n % 3 else "disk_full", "gone",
                         retry_at=time.time() + 60)
        waiting = journal.begin_claim("b.jpg", "", "/w/b.jpg")
        journal.finish_claim(waiting, "sha")
        journal.hold_input(waiting, "no_rule", "no rule matches", retry_at=0)
    journal.close()
    decoded = []
    from_row = records.Job.from_row.__func__
    monkeypatch.setattr(records.Job, "from_row",
                        classmethod(lambda cls, row: decoded.append(1) or from_row(cls, row)))
    info = collect(load_config(tmp_path / "config.yaml"))
    assert info["held"]["total"] == info["counts"]["held"] == 301
    assert info["held"]["by_reason"] == {"style_missing": 200, "disk_full": 100, "no_rule": 1}
    assert len(info["held"]["photos"]) == 50
    assert info["held"]["photos"][0]["input"] == "b.jpg"
    assert info["held"]["photos"][1]["input"] == "city/0.jpg"
    assert len(decoded) <= 50                 # the listed ones, not the 300


def test_photos_held_in_the_inbox_are_counted_from_the_status_file(tmp_path):
    """The daemon names the first few photos it holds in the inbox and counts them all;
    `status` shows the count, less those the journal shows taken since."""
    import json
    import os

    from deepart_batch.daemon.receivers.ops_hooks import HELD_IN_INBOX_LISTED
    _box_config(tmp_path)
    layout = StateLayout(tmp_path / "state")
    listed = [f"city/{n:05d}.jpg" for n in range(HELD_IN_INBOX_LISTED)]
    layout.status_file.write_text(json.dumps({
        "pid": os.getpid(), "time": time.time(), "mode": "watch", "workers": [],
        "held_in_inbox": listed,
        "held_in_inbox_reasons": {rel: "manifest_invalid" for rel in listed},
        "held_in_inbox_by_reason": {"manifest_invalid": 5000}}))
    journal = Journal(layout.journal)
    photo = journal.begin_claim(listed[0], "city", "/w/a.jpg")   # taken since
    journal.finish_claim(photo, "sha")
    journal.close()
    info = collect(load_config(tmp_path / "config.yaml"))
    assert info["held"]["total"] == 4999
    assert info["held"]["by_reason"] == {"manifest_invalid": 4999}
    assert [p["input"] for p in info["held"]["photos"]] == listed[1:]
