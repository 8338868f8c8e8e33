"""Holding: the setup's trouble (no rule, no valid manifest, a style file gone, the outbox
full or unwritable) holds a photo instead of failing it, and it is tried again with backoff
by itself.

What to do is decided by `policy.decide`; this module carries it out in the journal and
announces it (a PHOTO_HELD event: the team desk writes the note and notifies), and
announces a held photo that goes on (PHOTO_RELEASED: planned after its hold, or its held
render starting). It also keeps the photos that wait in the inbox itself while no
manifest is valid.
"""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger

from ...core.layout import campaign_of
from ...core.states import Category, FailureReason, InputState
from ..events import EventBus, PhotoHeld, PhotoReleased
from .policy import Outcome, PolicySettings, decide


class Holding:
    def __init__(self, journal, policy: PolicySettings, events: EventBus, manifest_name: str):
        self.journal = journal
        self.policy = policy
        self.events = events
        self.manifest_name = manifest_name
        self._in_inbox: dict[str, FailureReason] = {}   # inbox path -> why it waits there
        self._told: dict[str, FailureReason] = {}   # held in the inbox and announced (why),
        # until taken or gone
        self._released: set[int] = set()  # inputs announced released by this process

    # -- photos waiting in the inbox (no valid manifest, or not ours to take) -------------
    def hold_in_inbox(self, relpath: str, path: Path, detail: str,
                      reason: FailureReason = FailureReason.MANIFEST_INVALID) -> None:
        """The photo waits in the inbox: no valid manifest, or the service may not move it
        (inbox_permissions; the caller logs that once per folder). Announced once per photo
        (a note and a `held` event, like any hold), however often it is seen meanwhile."""
        if relpath not in self._in_inbox and reason is FailureReason.MANIFEST_INVALID:
            logger.warning("{}: held in the inbox until the manifest is valid", relpath)
        self._in_inbox[relpath] = reason
        if relpath not in self._told:
            self._told[relpath] = reason
            self.events.emit(PhotoHeld(photo=relpath, campaign=campaign_of(relpath),
                                       reason=reason, detail=detail, work_copy=path,
                                       first=True))

    def apply(self, config) -> None:
        """A reloaded config: the hold timings and max_attempts as they are now."""
        self.policy = PolicySettings.from_config(config)

    def release_from_inbox(self, relpath: str) -> FailureReason | None:
        """It no longer waits in the inbox (taken, or gone from it); why it waited, when the
        team was told (for `released_input` once it is planned)."""
        self._in_inbox.pop(relpath, None)
        return self._told.pop(relpath, None)

    def release_inbox(self) -> None:
        """The manifest changed: every photo waiting for it is looked at again."""
        for rel in self.in_inbox(FailureReason.MANIFEST_INVALID):
            del self._in_inbox[rel]

    def forget_gone(self, inbox: Path) -> None:
        """Photos held in the inbox that were removed from it meanwhile."""
        for rel in list(self._in_inbox):
            if not (inbox / rel).exists():
                self.release_from_inbox(rel)

    def in_inbox(self, reason: FailureReason | None = None) -> list[str]:
        """The inbox paths held there (for `reason`, or any), sorted."""
        return sorted(r for r, why in self._in_inbox.items() if reason in (None, why))

    def in_inbox_by_reason(self) -> dict[str, str]:
        """For status.json: inbox path -> FailureReason value."""
        return {rel: why.value for rel, why in self._in_inbox.items()}

    def in_inbox_reasons(self) -> dict[str, str]:
        """What the gallery shows for them."""
        return {rel: f"waiting in the inbox until {self.manifest_name} is valid"
                if why is FailureReason.MANIFEST_INVALID else
                "waiting in the inbox: the render box may not take it from its folder"
                for rel, why in self._in_inbox.items()}

    # -- claimed photos and jobs -------------------------------------------------------------
    def hold_input(self, inp, reason: FailureReason, detail: str) -> None:
        outcome = decide(reason, 0, inp.holds, self.policy)
        before = self.journal.hold_input(inp.id, reason, detail, time.time() + outcome.delay)
        first = before == 0
        log = logger.bind(reason=reason.value)
        log = log.warning if first else log.info
        log("{}: held ({}: {}); tried again in {:.0f} s or when the manifest changes",
            inp.relpath, reason.value, detail, outcome.delay)
        self.events.emit(PhotoHeld(photo=inp.relpath, campaign=inp.campaign, reason=reason,
                                   detail=detail, work_copy=Path(inp.work_path), first=first,
                                   input=inp.id, holds=before))

    def hold_job(self, job, outcome: Outcome, detail: str) -> None:
        before = self.journal.hold(job.id, outcome.reason, detail,
                                   time.time() + outcome.delay)
        first_for_job = before == 0
        inp = self.journal.input(job.input_id)
        first = first_for_job and not any(j.holds for j in self.journal.jobs_for_input(inp.id)
                                          if j.id != job.id) and not inp.holds
        log = logger.bind(reason=outcome.reason.value)
        (log.warning if first_for_job else log.info)(
            "job {} ({}) held: {}: {}; tried again in {:.0f} s", job.id, inp.relpath,
            outcome.reason.value, detail, outcome.delay)
        self.events.emit(PhotoHeld(photo=inp.relpath, campaign=inp.campaign,
                                   reason=outcome.reason, detail=detail,
                                   work_copy=Path(inp.work_path), first=first, jobs=(job.id,),
                                   input=inp.id, holds=inp.holds + before,
                                   styles=(job.slug,)))

    def released_input(self, held_inp, reason: FailureReason | None = None) -> None:
        """`held_inp` (as it was when its hold ended) was planned again: unless it is held
        again, it goes on and the team hears. `reason`: why it waited in the inbox."""
        inp = self.journal.input(held_inp.id)
        if inp.state != InputState.HELD:
            self._announce_release(inp, reason or FailureReason.parse(held_inp.reason))

    def released_job(self, job) -> None:
        """A job starts: when it was last held for the setup, its photo goes on."""
        reason = FailureReason.parse(job.reason)
        if job.holds and job.reason and reason.category is Category.SETUP:
            self._announce_release(self.journal.input(job.input_id), reason, (job.id,),
                                   (job.slug,))

    def _announce_release(self, inp, reason: FailureReason, jobs=(), styles=()) -> None:
        """Once per photo in this process; its id (input, holds so far) is the same after a
        restart, so a repeat of the same release is dropped by receivers."""
        if inp.id in self._released:
            return
        self._released.add(inp.id)
        holds = inp.holds + sum(j.holds for j in self.journal.jobs_for_input(inp.id))
        logger.info("{}: no longer held ({}): it goes on", inp.relpath, reason.value)
        self.events.emit(PhotoReleased(photo=inp.relpath, campaign=inp.campaign, reason=reason,
                                       jobs=tuple(jobs), input=inp.id, holds=holds,
                                       styles=tuple(styles)))

    def hold_job_for(self, job, reason: FailureReason, detail: str) -> None:
        """Hold a job for a setup reason found before it ran (a style file gone)."""
        self.hold_job(job, decide(reason, job.attempts, job.holds, self.policy), detail)

    def release_due_jobs(self) -> None:
        """Held jobs whose wait is over are queued again."""
        for job_id in self.journal.release_due():
            logger.info("job {}: trying again after a hold", job_id)

    def unhold_due_photos(self) -> list:
        """Held photos whose wait is over, taken off hold for the caller to plan again."""
        due = []
        for inp in self.journal.inputs_due():
            self.journal.unhold_input(inp.id)
            due.append(self.journal.input(inp.id))
        return due

    def release_all(self) -> int:
        """The manifest changed: every held job and photo is tried again now."""
        return self.journal.release_holds()
