"""Holding (daemon/schedule/holding.py), against the daemon as compose() builds it for a
canned box with its real journal: the setup's trouble holds a photo or a render instead of
failing it, with a backoff that doubles up to its cap and costs no attempt; a held photo is
planned again once its cause is gone (a painting that arrives), by itself; photos waiting in
the inbox are announced once however often they are seen."""

from __future__ import annotations

import shutil
import time

import pytest

from deepart_batch.core.states import FailureReason, InputState, JobState
from support.boxes import Box, claimed, composed, facts
from support.manifests import DATA, ONE_PAINTING_MISSING

HOLD, CAP = 600.0, 1500.0   # long: nothing here becomes due by the clock during a test


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path, manifest=ONE_PAINTING_MISSING, canned=True,
               problems={"hold_seconds": HOLD, "hold_max_seconds": CAP})


@pytest.fixture
def service(box):
    with composed(box) as built:
        yield built


def held(heard) -> list:
    return [f for f in heard if f.kind == "held"]


def test_a_photo_held_for_its_missing_painting_is_planned_when_the_painting_arrives(
        service, box):
    heard = facts(service)
    inp = claimed(service, "golden_gate.jpg", "park/b.jpg")   # park/ needs water_lilies.jpg
    assert service.sources.plan(inp) == []
    row = service.journal.input(inp.id)
    assert (row.state, row.reason) == (InputState.HELD, "style_missing")
    assert [(f.photo, f.reason, f.detail, f.first) for f in held(heard)] == \
        [("park/b.jpg", FailureReason.STYLE_MISSING, "water_lilies.jpg", True)]
    assert service.holding.unhold_due_photos() == []     # not due: nothing changed

    shutil.copy(DATA / "the_scream.jpg", box.styles / "water_lilies.jpg")
    assert service.manifests.styles_arrived() == ["water_lilies.jpg"]
    assert service.holding.release_all() == 1            # what the tick does on arrival
    due = service.holding.unhold_due_photos()
    assert [d.id for d in due] == [inp.id]
    service.sources.plan_again(due[0])
    assert service.journal.input(inp.id).state == InputState.CLAIMED
    jobs = service.journal.jobs_for_input(inp.id)
    assert [(j.slug, j.state) for j in jobs] == [("lilies", JobState.QUEUED)]
    assert len(held(heard)) == 1                         # told once


def test_a_photo_held_again_waits_twice_as_long_up_to_the_cap_and_is_told_once(service):
    heard = facts(service)
    inp = claimed(service, "golden_gate.jpg", "park/b.jpg")
    waits = []
    for _ in range(3):
        before = time.time()
        service.holding.hold_input(service.journal.input(inp.id), FailureReason.NO_RULE,
                                   "no manifest rule matches park/b.jpg")
        row = service.journal.input(inp.id)
        waits.append((row.retry_at - before, row.retry_at - time.time()))
        service.journal.unhold_input(inp.id)
    for (most, least), wait in zip(waits, (HOLD, 2 * HOLD, CAP)):
        assert least <= wait <= most, (wait, waits)
    assert service.journal.input(inp.id).holds == 3
    assert [(f.first, f.holds) for f in held(heard)] == [(True, 0), (False, 1), (False, 2)]


def test_a_render_held_for_the_setup_gives_its_attempt_back_and_waits_for_its_release(
        service):
    heard = facts(service)
    inp = claimed(service, "tubingen.jpg", "city/a.jpg")
    (job_id,) = service.sources.plan(inp)
    service.journal.mark_running(job_id, "cpu#0", "cpu")
    service.holding.hold_job_for(service.journal.job(job_id), FailureReason.DISK_FULL,
                                 "the outbox is full")
    job = service.journal.job(job_id)
    assert (job.state, job.reason, job.attempts, job.holds) == \
        (JobState.HELD, "disk_full", 0, 1)
    service.holding.release_due_jobs()
    assert service.journal.job(job_id).state == JobState.HELD   # its wait is not over
    assert service.holding.release_all() == 1                   # e.g. the manifest changed
    service.holding.release_due_jobs()
    assert service.journal.job(job_id).state == JobState.QUEUED
    (fact,) = held(heard)
    assert (fact.photo, fact.jobs, fact.first, fact.styles) == \
        ("city/a.jpg", (job_id,), True, ("starry",))


def test_a_second_render_of_a_photo_already_held_is_not_announced_as_a_first_hold(
        tmp_path):
    box = Box(tmp_path, canned=True)   # city/ photos: two renders
    with composed(box) as service:
        heard = facts(service)
        inp = claimed(service, "tubingen.jpg", "city/a.jpg")
        first, second = service.sources.plan(inp)
        for job_id in (first, second):
            service.holding.hold_job_for(service.journal.job(job_id),
                                         FailureReason.OUTBOX_UNWRITABLE, "read-only")
        assert [f.first for f in held(heard)] == [True, False]


def test_photos_waiting_in_the_inbox_are_told_once_and_released_by_their_cause(service, box):
    heard = facts(service)
    holding = service.holding
    waiting = box.drop("tubingen.jpg", "city/a.jpg")
    locked = box.drop("golden_gate.jpg", "locked/b.jpg")
    for _ in range(3):   # seen at every rescan
        holding.hold_in_inbox("city/a.jpg", waiting, "manifest.yaml: line 3: bad indent")
    holding.hold_in_inbox("locked/b.jpg", locked, "inbox folder locked/: Permission denied",
                          FailureReason.INBOX_PERMISSIONS)
    assert [(f.photo, f.reason) for f in held(heard)] == [
        ("city/a.jpg", FailureReason.MANIFEST_INVALID),
        ("locked/b.jpg", FailureReason.INBOX_PERMISSIONS)]
    assert holding.in_inbox_by_reason() == {"city/a.jpg": "manifest_invalid",
                                            "locked/b.jpg": "inbox_permissions"}
    assert "until manifest.yaml is valid" in holding.in_inbox_reasons()["city/a.jpg"]

    holding.release_inbox()   # the manifest changed: only what waited for it
    assert holding.in_inbox() == ["locked/b.jpg"]
    holding.hold_in_inbox("city/a.jpg", waiting, "still invalid")   # seen again: not told
    assert len(held(heard)) == 2
    locked.unlink()           # taken away by the team meanwhile; city/a.jpg is still there
    holding.forget_gone(box.inbox)
    assert holding.in_inbox() == ["city/a.jpg"]
    holding.hold_in_inbox("locked/b.jpg", None, "again", FailureReason.INBOX_PERMISSIONS)
    assert len(held(heard)) == 3   # forgotten, so a new drop is told again
