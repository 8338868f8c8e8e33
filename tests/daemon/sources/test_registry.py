"""Admission (daemon/sources/registry.py and guard.py), against the daemon as compose()
builds it for a canned box, with its real journal and folders: a claimed input goes to the
source that owns it, a file whose planning fails is that file's problem (failed/, an error
report, a `failed` fact) and the next file is planned as usual; only the box's own trouble
reaches the service loop; a source that fails taking files is logged once and the others
still take theirs."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from loguru import logger

from deepart_batch.core.states import FailureReason, InputState, JobState
from deepart_batch.daemon.sources.registry import Sources
from support.boxes import Box, claimed, composed, facts


@pytest.fixture
def service(tmp_path):
    with composed(Box(tmp_path, canned=True)) as built:
        yield built


def test_each_claimed_input_goes_to_the_source_that_owns_it(service):
    owner = service.sources.owner
    assert owner("_approve/a.starry.jpg").name == "approvals"
    assert owner("_styles/starry_night.jpg").name == "style cards"
    assert owner("city/a.jpg").name == "inbox"
    # a photo merely named like another source's folder is the inbox's (prefix, not substring)
    assert owner("city/_approve/a.jpg").name == "inbox"
    assert owner("_approvex/a.jpg").name == "inbox"


def test_without_a_catch_all_an_input_no_source_owns_is_a_lookup_error(service):
    only_approvals = Sources([type(service.sources.named("approvals"))],
                             service.sources.context)
    with pytest.raises(LookupError, match="no job source owns city/a.jpg"):
        only_approvals.owner("city/a.jpg")


def test_a_factory_that_makes_no_job_source_is_refused(service):
    with pytest.raises(TypeError, match="is not a JobSource"):
        Sources([lambda context: object()], service.sources.context)


def test_an_approval_of_a_preview_the_box_never_made_fails_as_its_own_problem(service):
    heard = facts(service)
    inp = claimed(service, "tubingen.jpg", "_approve/a.starry.jpg")
    assert service.sources.plan(inp) == []
    row = service.journal.input(inp.id)
    assert row.state == InputState.FAILED
    assert row.reason == FailureReason.APPROVAL_INVALID.value   # the approvals' reason
    archived = service.layout.failed / "_approve" / "a.starry.jpg"
    assert archived.is_file() and not Path(inp.work_path).exists()
    error = json.loads(archived.with_name("a.starry.jpg.error.json").read_text())
    assert "a.starry.jpg: the box has no preview of that name" in error["error"]
    failed = [f for f in heard if f.kind == "failed"]
    assert [(f.photo, f.reason) for f in failed] == [("_approve/a.starry.jpg",
                                                      "approval_invalid")]
    assert service.journal.jobs_for_input(inp.id) == []   # no source planned it anyway


def test_an_unforeseen_failure_planning_one_photo_fails_it_and_the_next_is_planned(
        service, monkeypatch):
    inbox = service.sources.named("inbox")
    plan = inbox.plan

    def poisoned(inp):
        if inp.relpath.endswith("poison.jpg"):
            raise KeyError("an EXIF tag nobody expected")
        return plan(inp)

    monkeypatch.setattr(inbox, "plan", poisoned)
    bad = claimed(service, "tubingen.jpg", "city/poison.jpg")
    good = claimed(service, "golden_gate.jpg", "city/fine.jpg")
    assert service.sources.plan(bad) == []
    queued = service.sources.plan(good)

    bad_row = service.journal.input(bad.id)
    assert (bad_row.state, bad_row.reason) == (InputState.FAILED, FailureReason.ERROR.value)
    error = json.loads((service.layout.failed / "city/poison.jpg.error.json").read_text())
    assert "an unexpected KeyError while it was planned" in error["error"]
    assert "Traceback" not in error["error"]          # the team's note has none
    assert (service.layout.failed / "city/poison.jpg").is_file()   # nothing lost
    assert len(queued) == 2                            # city/ has two outputs
    assert [j.state for j in service.journal.jobs_for_input(good.id)] == [JobState.QUEUED] * 2


@pytest.mark.parametrize("trouble", [
    OSError(errno.ENOSPC, "No space left on device"),
    __import__("sqlite3").OperationalError("database is locked"),
], ids=["disk_full", "journal_locked"])
def test_trouble_of_the_box_while_planning_reaches_the_loop_and_fails_no_photo(
        service, monkeypatch, trouble):
    inbox = service.sources.named("inbox")

    def box_trouble(inp):
        raise trouble

    monkeypatch.setattr(inbox, "plan", box_trouble)
    inp = claimed(service, "tubingen.jpg", "city/a.jpg")
    with pytest.raises(type(trouble)):
        service.sources.plan(inp)
    assert service.journal.input(inp.id).state == InputState.CLAIMED   # planned again later
    assert not any(service.layout.failed.rglob("*"))


class Taker:
    """A job source that only takes files: it records each take, or raises `fault`."""
    name, needs, failure_reason, catch_all = "taker", "outbox", FailureReason.ERROR, False
    fault: BaseException | None = None

    def __init__(self, context):
        self.takes = 0

    def owns(self, relpath):
        return False

    def take_due(self, stopping):
        self.takes += 1
        if self.fault is not None:
            raise self.fault

    def pending(self):
        return 0

    def plan(self, inp):
        return []

    def startable(self, ready, running):
        return ready


class Failing(Taker):
    name = "failing"
    fault = RuntimeError("the share's listing is garbled")


class FailingFull(Taker):
    name = "full"
    fault = OSError(errno.ENOSPC, "No space left on device")


def test_a_source_failing_to_take_files_is_logged_once_and_the_others_still_take(service):
    sources = Sources([Failing, Taker], service.sources.context)
    failing, taker = sources.all
    lines = []
    logger.add(lambda m: lines.append(str(m)), level="ERROR")
    for _ in range(3):
        sources.take_due(present=lambda folder: True, stopping=lambda: False)
    assert (failing.takes, taker.takes) == (3, 3)
    told = [line for line in lines if "failing: taking files failed" in line]
    assert len(told) == 1 and "the share's listing is garbled" in told[0]


def test_a_source_whose_folder_is_missing_is_not_asked(service):
    sources = Sources([Taker], service.sources.context)
    sources.take_due(present=lambda folder: folder != "outbox", stopping=lambda: False)
    sources.take_due(present=lambda folder: True, stopping=lambda: True)   # stopping
    assert sources.all[0].takes == 0


def test_a_full_disk_while_a_source_takes_files_reaches_the_loop(service):
    sources = Sources([FailingFull, Taker], service.sources.context)
    with pytest.raises(OSError):
        sources.take_due(present=lambda folder: True, stopping=lambda: False)
