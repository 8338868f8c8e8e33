"""Identical drops while the first render is still queued or running: they wait for it, then
get its files under their own names, or fail with it; nothing is archived before that."""

import json

import pytest

from support.boxes import Box
from support.journal_files import OLD_WITHOUT_DUPLICATE_OF, build
from support.journal_probe import JournalProbe
from support.manifests import DATA
from support.manifests import ONE_STYLE as MANIFEST  # scream for every photo
from deepart_batch.daemon.outcomes import publish
from deepart_batch.daemon.schedule import planner
from deepart_batch.journal import JOB_STATES, InvalidTransition, Journal
from support.jobs import toy_spec


def _jobs(box):
    return JournalProbe(box).jobs_by_photo()


def _archived(box, folder):
    return sorted(p.relative_to(box.state / folder).as_posix()
                  for p in (box.state / folder).rglob("*.jpg"))


def test_same_photo_in_two_campaigns_while_the_first_renders(tmp_path):
    box = Box(tmp_path, manifest=MANIFEST, canned=True)
    box.drop("tubingen.jpg", "campaign-a/photo.jpg")
    box.drop("tubingen.jpg", "campaign-b/photo.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert "waiting for its render" in res.stderr          # planned while the first was queued
    assert "jobs rendered     1" in res.stderr and "duplicates        1" in res.stderr
    assert box.outputs() == ["campaign-a/photo.scream.jpg", "campaign-b/photo.scream.jpg"]
    assert box.outputs("**/*.json") == ["campaign-a/photo.scream.json",
                                        "campaign-b/photo.scream.json"]
    a, b = (box.outbox / "campaign-a/photo.scream.jpg", box.outbox / "campaign-b/photo.scream.jpg")
    assert a.read_bytes() == b.read_bytes()
    rows = _jobs(box)
    original, dup = sorted(rows.values(), key=lambda r: r["id"])
    assert (original["state"], original["duplicate_of"]) == ("done", None)
    assert (dup["state"], dup["reason"], dup["duplicate_of"]) == ("done", "duplicate",
                                                                  original["id"])
    report = json.loads((box.outbox / dup["relpath"].replace(".jpg", ".scream.json")).read_text())
    assert report["output"]["path"].endswith(dup["relpath"].replace(".jpg", ".scream.jpg"))
    assert report["job"]["copied_from"].endswith(original["relpath"].replace(".jpg", ".scream.jpg"))
    assert _archived(box, "done") == ["campaign-a/photo.jpg", "campaign-b/photo.jpg"]
    assert not any((box.state / "work").iterdir())
    assert box.status()["counts"] == {"queued": 0, "running": 0, "waiting": 0, "held": 0,
                                      "done": 2, "failed": 0, "retried": 0}


def test_duplicate_fails_with_its_original_and_goes_to_failed(tmp_path):
    box = Box(tmp_path, manifest=MANIFEST, on_oom="fail", canned=True)
    box.drop("tubingen.jpg", "campaign-a/photo.jpg")
    box.drop("tubingen.jpg", "campaign-b/photo.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "oom"})
    assert res.returncode == 1, res.stderr[-3000:]
    assert box.outputs() == [] and _archived(box, "done") == []
    assert _archived(box, "failed") == ["campaign-a/photo.jpg", "campaign-b/photo.jpg"]
    original, dup = sorted(_jobs(box).values(), key=lambda r: r["id"])
    assert original["state"] == dup["state"] == "failed"
    error = json.loads((box.state / f"failed/{dup['relpath']}.error.json").read_text())
    assert error["input"] == dup["relpath"] and error["reason"] == "oom"
    assert f"same as job {original['id']}, which failed: " in error["error"]
    assert "out of memory" in error["error"]
    assert error["failed_jobs"][0]["job"] == dup["id"]
    assert json.loads((box.outbox / f"{dup['relpath']}.error.json").read_text())["input"] == \
        dup["relpath"]
    assert not any((box.state / "work").iterdir())


# -- journal level ----------------------------------------------------------------------

def _input(journal, rel):
    input_id = journal.begin_claim(rel, rel.split("/")[0], f"/work/{rel}")
    journal.finish_claim(input_id, "sha")
    return input_id


def _add(journal, rel, out, **kw):
    return journal.add_job(_input(journal, rel), "same", rel.split("/")[0], 0, "scream",
                           toy_spec(f"/work/{rel}"), str(out),
                           str(publish.report_path(out)), **kw)


def test_waiting_duplicates_settle_with_their_original(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    out = tmp_path / "outbox"
    original = _add(journal, "a/photo.jpg", out / "a/photo.scream.jpg")
    ok = _add(journal, "b/photo.jpg", out / "b/photo.scream.jpg", state="waiting",
              reason="duplicate", error=f"same as job {original}", duplicate_of=original)
    same_name = _add(journal, "a/photo.jpg", out / "a/photo.scream.jpg", state="waiting",
                     reason="duplicate", duplicate_of=original)
    assert journal.counts()["waiting"] == 2 and journal.find_job("same").id == original
    assert journal.output_claimed(str(out / "b/photo.scream.jpg"))   # nobody else writes there
    assert planner.settle_duplicates(journal, original) == []   # original still queued
    journal.mark_running(original, "cpu#0", "cpu")
    assert planner.settle_duplicates(journal) == []              # ... or running
    with pytest.raises(InvalidTransition):
        journal.settle_waiting(original, "done")              # only waiting rows settle
    publish.publish(out / "a/photo.scream.jpg", b"image", {"job": {"id": original}})
    journal.mark_done(original, 1.0)
    journal.close()

    journal = Journal(tmp_path / "journal.sqlite")           # as after a crash right here
    settled = planner.settle_duplicates(journal)
    assert len(settled) == 2 and journal.counts()["waiting"] == 0
    assert journal.job(ok).state == journal.job(same_name).state == "done"
    assert journal.job(ok).reason == "duplicate" and journal.job(ok).finished_at
    assert journal.job(ok).error == f"same as job {original}"
    assert (out / "b/photo.scream.jpg").read_bytes() == b"image"
    report = json.loads((out / "b/photo.scream.json").read_text())
    assert report["output"]["path"] == str(out / "b/photo.scream.jpg")
    assert report["job"]["copied_from"] == str(out / "a/photo.scream.jpg")

    # The original fails: its duplicates fail too, naming it; a missing render is rendered.
    failing = journal.add_job(_input(journal, "c/x.jpg"), "k2", "c", 0, "scream", toy_spec(),
                              str(out / "c/x.scream.jpg"), str(out / "c/x.scream.json"))
    dup = _add(journal, "d/x.jpg", out / "d/x.scream.jpg", state="waiting",
               reason="duplicate", duplicate_of=failing)
    journal.mark_failed(failing, "timeout", "too slow")
    assert len(planner.settle_duplicates(journal, failing)) == 1
    failed = journal.job(dup)
    assert (failed.state, failed.reason) == ("failed", "timeout")
    assert failed.error == f"same as job {failing}, which failed: too slow"
    gone = journal.add_job(_input(journal, "e/y.jpg"), "k3", "e", 0, "scream", toy_spec(),
                           str(out / "e/y.scream.jpg"), str(out / "e/y.scream.json"),
                           state="done")                     # its files were deleted
    retry = _add(journal, "f/y.jpg", out / "f/y.scream.jpg", state="waiting",
                 reason="duplicate", duplicate_of=gone)
    planner.settle_duplicates(journal)
    assert journal.job(retry).state == "queued" and journal.job(retry).reason == "copy"
    journal.close()


def test_an_old_journal_gains_duplicate_of(tmp_path):
    path = tmp_path / "journal.sqlite"
    build(path, OLD_WITHOUT_DUPLICATE_OF)
    journal = Journal(path)
    assert journal.job(1).state == "queued" and journal.job(1).duplicate_of is None
    dup = journal.add_job(1, "k", "", 0, "s", toy_spec(), "/o/b.jpg", "/o/b.json", state="waiting",
                          duplicate_of=1)
    assert journal.waiting_on(1)[0].id == dup
    journal.close()
    Journal(path).close()                                    # migrating twice is harmless


def test_metrics_know_every_journal_state():
    from deepart_batch.ops.metrics import JOB_STATES as METRIC_STATES
    assert METRIC_STATES == JOB_STATES


# -- the service's start-up recovery, in-process (no workers are started) -----------------

def _service(box):
    from deepart_batch.settings.config import load_config
    from deepart_batch.daemon.compose import compose
    service = compose(load_config(box.config), once=True)
    service.manifests.reload_if_changed()
    return service


def _close(service):
    service.journal.close()
    service._lock_fh.close()


def test_restart_settles_waiting_duplicates_and_keeps_the_rest_waiting(tmp_path):
    box = Box(tmp_path, manifest=MANIFEST)
    pairs = {"done": "tubingen.jpg", "failed": "golden_gate.jpg", "queued": "the_scream.jpg"}
    service = _service(box)
    for fate, src in pairs.items():
        for campaign in ("a", "b"):
            service.take(box.drop(src, f"{campaign}/{fate}.jpg"))
    rows = JournalProbe(box).jobs_by_photo()
    assert {rel: r["state"] for rel, r in rows.items()} == {
        "a/done.jpg": "queued", "b/done.jpg": "waiting", "a/failed.jpg": "queued",
        "b/failed.jpg": "waiting", "a/queued.jpg": "queued", "b/queued.jpg": "waiting"}
    assert not (box.state / "done").exists() or not any((box.state / "done").rglob("*.jpg"))
    # The daemon dies right after recording two results, before settling their duplicates.
    done, failed = rows["a/done.jpg"]["id"], rows["a/failed.jpg"]["id"]
    for job_id in (done, failed):
        service.journal.mark_running(job_id, "cpu#0", "cpu")
    publish.publish(box.outbox / "a/done.scream.jpg", (DATA / "tubingen.jpg").read_bytes(),
                   {"job": {"id": done}, "output": {"path": "a/done.scream.jpg"}})
    service.journal.mark_done(done, 1.0)
    service.journal.mark_failed(failed, "crash", "worker died")
    _close(service)

    service = _service(box)
    service.recover()
    try:
        states = {rel: r["state"] for rel, r in JournalProbe(box).jobs_by_photo().items()}
        assert states["b/done.jpg"] == "done" and states["b/failed.jpg"] == "failed"
        assert states["b/queued.jpg"] == "waiting" and states["a/queued.jpg"] == "queued"
        assert box.outputs() == ["a/done.scream.jpg", "b/done.scream.jpg"]
        assert _archived(box, "done") == ["a/done.jpg", "b/done.jpg"]
        assert _archived(box, "failed") == ["a/failed.jpg", "b/failed.jpg"]
        error = json.loads((box.state / "failed/b/failed.jpg.error.json").read_text())
        assert f"same as job {failed}, which failed: worker died" in error["error"]
        waiting = service.journal.input(service.journal.waiting_on()[0].input_id)
        assert waiting.relpath == "b/queued.jpg" and waiting.state == "claimed"
        assert (box.state / "work").joinpath(waiting.work_path.split("/")[-1]).exists()
    finally:
        _close(service)
