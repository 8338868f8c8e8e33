"""Outcomes (daemon/outcomes/results.py, publish.py, archive.py), against the daemon as
compose() builds it for a canned box, its jobs answered by the canned executor: a done
render is published (image and report) and its photo archived to done/ once all its jobs
are done; a failed one sends the photo to failed/ with its error report; a crash is queued
again until max_attempts; the outbox's own trouble holds the render instead of failing
the photo, and nothing half-written is left in the outbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deepart_batch.core.states import FailureReason, InputState, JobState
from deepart_batch.pool import RenderFailed
from support.boxes import Box, claimed, composed, facts, rendered
from support.canned import script


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path, canned=True, max_attempts=2)


@pytest.fixture
def service(box):
    with composed(box) as built:
        yield built


def planned(service, photo: str, relpath: str):
    """A photo claimed and planned by its source: (its journal row, its job ids)."""
    inp = claimed(service, photo, relpath)
    return inp, service.sources.plan(inp)


def run(service, job_id: int) -> None:
    """The job rendered by the canned executor and its events handled by Outcomes."""
    for event in rendered(service, job_id):
        service.outcomes.handle(event)


def kinds(heard) -> list[str]:
    return [str(f.kind) for f in heard]


def test_a_photo_is_archived_to_done_once_every_one_of_its_renders_is_published(service):
    heard = facts(service)
    inp, (first, second) = planned(service, "tubingen.jpg", "city/a.jpg")   # two outputs
    run(service, first)
    job = service.journal.job(first)
    assert job.state == JobState.DONE
    image, report = Path(job.output_path), Path(job.report_path)
    assert image.is_file() and image.parent == service.config.outbox / "city"
    written = json.loads(report.read_text())
    assert written["input"]["path"] == "city/a.jpg"
    assert inp.work_path not in report.read_text()      # never the internal work name
    assert written["summary"]
    # one render left: the photo is not finished yet
    assert service.journal.input(inp.id).state == InputState.CLAIMED
    assert kinds(heard) == ["job_done"]

    run(service, second)
    row = service.journal.input(inp.id)
    assert row.state == InputState.DONE
    assert row.archived_to == str(service.layout.done / "city/a.jpg")
    assert (service.layout.done / "city/a.jpg").is_file()
    assert not Path(inp.work_path).exists()
    assert kinds(heard) == ["job_done", "job_done", "done"]
    done = heard[-1]
    assert (done.photo, set(done.jobs)) == ("city/a.jpg", {first, second})
    summary = service.outcomes.summary
    assert (summary.inputs_done, summary.jobs_done, summary.inputs_failed) == (1, 2, 0)


def test_a_photo_dropped_again_under_the_same_name_is_archived_beside_the_first(service):
    first, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    run(service, job)
    again, (job_again,) = planned(service, "golden_gate.jpg", "park/a.jpg")
    run(service, job_again)
    assert Path(service.journal.input(first.id).archived_to).name == "a.jpg"
    assert Path(service.journal.input(again.id).archived_to).name == f"a.{again.id}.jpg"
    assert sorted(p.name for p in (service.layout.done / "park").iterdir()) == \
        sorted(["a.jpg", f"a.{again.id}.jpg"])


def test_a_failed_render_sends_its_photo_to_failed_with_its_error_report(service):
    heard = facts(service)
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    with script("failed", match="park/a.jpg"):
        run(service, job)
    assert service.journal.job(job).state == JobState.FAILED
    row = service.journal.input(inp.id)
    assert (row.state, row.reason) == (InputState.FAILED, FailureReason.ERROR.value)
    archived = service.layout.failed / "park/a.jpg"
    assert archived.is_file() and not Path(inp.work_path).exists()
    error = json.loads(archived.with_name("a.jpg.error.json").read_text())
    assert error["input"] == "park/a.jpg" and "scripted failure" in error["error"]
    assert [j["job"] for j in error["failed_jobs"]] == [job]
    assert (service.config.outbox / "park/a.jpg.error.json").is_file()   # for the team
    assert not list((service.config.outbox / "park").glob("*.jpg"))
    assert kinds(heard) == ["job_failed", "failed"]
    assert service.outcomes.summary.inputs_failed == 1


def test_a_crash_is_rendered_again_and_its_photo_stays_until_it_is_done(service):
    heard = facts(service)
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    with script("crashed", attempts={1}):
        run(service, job)
    again = service.journal.job(job)
    assert (again.state, again.attempts, again.reason) == (JobState.QUEUED, 1, "crashed")
    assert service.journal.input(inp.id).state == InputState.CLAIMED
    assert not any(service.layout.failed.rglob("*"))
    run(service, job)   # attempt 2: the canned render
    assert service.journal.job(job).state == JobState.DONE
    assert service.journal.input(inp.id).state == InputState.DONE
    assert kinds(heard) == ["job_retried", "job_done", "done"]


def test_a_render_that_crashes_on_every_attempt_fails_after_max_attempts(service):
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    with script("crashed"):
        run(service, job)
        run(service, job)   # max_attempts: 2
    failed = service.journal.job(job)
    assert (failed.state, failed.reason) == (JobState.FAILED, "crashed")
    assert "gave up after 2 attempt(s)" in failed.error
    assert service.journal.input(inp.id).state == InputState.FAILED


def test_an_outbox_folder_that_cannot_be_made_holds_the_render_not_the_photo(service):
    heard = facts(service)
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    (service.config.outbox / "park").write_text("a file where the campaign folder goes")
    run(service, job)
    held = service.journal.job(job)
    assert (held.state, held.reason) == (JobState.HELD, "outbox_unwritable")
    assert held.attempts == 0                          # the outbox's trouble costs no attempt
    assert service.journal.input(inp.id).state == InputState.CLAIMED
    assert [(f.kind, f.reason) for f in heard] == [("held", FailureReason.OUTBOX_UNWRITABLE)]
    assert not any(service.layout.failed.rglob("*"))


def test_an_image_whose_report_cannot_be_written_is_not_left_in_the_outbox(service):
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    report = Path(service.journal.job(job).report_path)
    report.mkdir(parents=True)        # a folder where the report goes
    run(service, job)
    assert service.journal.job(job).state == JobState.HELD
    assert not Path(service.journal.job(job).output_path).exists()   # no image alone
    assert not [p for p in service.config.outbox.rglob(".*") if p.is_file()]   # no .part


def test_a_campaign_folder_linked_out_of_the_outbox_fails_the_render_and_writes_nothing_there(
        service, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    (service.config.outbox / "park").symlink_to(elsewhere)   # replaced after planning
    run(service, job)
    failed = service.journal.job(job)
    assert (failed.state, failed.reason) == (JobState.FAILED, "unsafe_path")
    assert "replace that link with a real folder" in failed.error
    assert list(elsewhere.iterdir()) == []
    assert service.journal.input(inp.id).state == InputState.FAILED


def test_a_painting_gone_when_the_worker_reads_it_holds_the_render(service, box):
    heard = facts(service)
    inp, (job,) = planned(service, "tubingen.jpg", "park/a.jpg")
    painting = box.styles / "the_scream.jpg"
    shutil.move(painting, box.root / "away.jpg")
    running = service.journal.job(job)
    service.journal.mark_running(job, "cpu#0", "cpu")
    # what a worker says of a painting it cannot open: the photo's trouble, as it reads
    service.outcomes.handle(RenderFailed("cpu#0", job, f"cannot open {painting}",
                                         FailureReason.IMAGE))
    held = service.journal.job(job)
    assert (held.state, held.reason) == (JobState.HELD, "style_missing")
    assert held.attempts == running.attempts             # given back
    assert service.journal.input(inp.id).state == InputState.CLAIMED
    assert [f.kind for f in heard] == ["held"]
