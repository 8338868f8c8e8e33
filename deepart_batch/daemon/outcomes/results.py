"""Outcomes: what happens after a render (or a refusal) - publish, retry, hold, fail - and
when a photo is finished, archiving it to done/ or failed/.

What to do after trouble is `policy.decide`'s; holds go through `Holding`. Every step that
the team sees is announced on the event bus (PHOTO_DONE, PHOTO_FAILED, JOB_DONE,
JOB_FAILED, JOB_RETRIED); the counts for `run --once` are kept in `RunSummary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from ...core.layout import StateLayout
from ...core.states import ACTIVE_JOB_STATES, FailureReason, InputState, JobState
from ...core.style_card_names import is_card, is_card_job
from ...core.timefmt import iso, now_iso
from ...paths import FolderMissing, UnsafePathError, is_disk_full
from ...pool import (ExecutorEvent, JobTrouble, OutOfMemory, OutboxFailed, Progress, RenderDone,
                     RenderFailed)
from ...report import JobInfo
from ..sources import claim
from . import archive, publish
from ..schedule import planner
from ..events import EventBus, JobDone, JobFailed, JobRetried, PhotoDone, PhotoFailed
from ..schedule.holding import Holding
from ..logcontext import about_event, about_input, for_job, for_people
from ..schedule.policy import Action, PolicySettings, decide


@dataclass
class RunSummary:
    inputs_done: int = 0
    inputs_failed: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    duplicates: int = 0
    held: int = 0          # photos (or renders) waiting for the setup
    left_photos: int = 0   # files still in the inbox, not taken (unreadable, no manifest)
    left_jobs: int = 0     # renders still queued when the pass ended
    stopped: bool = False  # SIGTERM before the end
    cards_done: int = 0    # style card renders made (kept out of the photos' counts)
    cards_failed: int = 0  # style card renders or paintings that failed
    failures: list[str] = field(default_factory=list)


class Outcomes:
    def __init__(self, config, journal, layout: StateLayout, holding: Holding,
                 events: EventBus, policy: PolicySettings):
        self.config = config
        self.journal = journal
        self.layout = layout
        self.holding = holding
        self.events = events
        self.policy = policy
        self.summary = RunSummary()

    def apply(self, config) -> None:
        """A reloaded config: retries and holds by the policy as it is now."""
        self.config, self.policy = config, PolicySettings.from_config(config)

    # -- executor events -----------------------------------------------------------------
    @about_event
    def handle(self, event: ExecutorEvent) -> None:
        if event.job_id is None:
            return
        if isinstance(event, Progress):
            self.journal.set_progress(event.job_id, event.values())
            return
        if isinstance(event, OutOfMemory):
            logger.warning("job {}: {}", event.job_id, event.report_entry())
            return
        job = self.journal.job(event.job_id)
        if isinstance(event, RenderDone):
            try:
                self.publish(job, event)
            except UnsafePathError as exc:  # a link inside the outbox points elsewhere
                event = RenderFailed(event.worker, job.id, f"not written outside the outbox: "
                                     f"{exc}; replace that link with a real folder",
                                     FailureReason.UNSAFE_PATH)
            except FolderMissing as exc:  # the share is gone: nothing made in its place
                event = OutboxFailed(event.worker, job.id, exc.strerror,
                                     FailureReason.FOLDER_MISSING)
            except OSError as exc:  # outbox full or unwritable: not the photo's fault (held)
                full = is_disk_full(exc)
                event = OutboxFailed(
                    event.worker, job.id,
                    f"the outbox is full ({exc}); nothing was published; held and "
                    f"retried (the photo is not failed for this)" if full else
                    f"cannot write outputs: {exc}",
                    FailureReason.DISK_FULL if full else FailureReason.OUTBOX_UNWRITABLE)
            else:  # archiving errors are not the render's: it stays done
                self.maybe_archive(job.input_id)
                self.settle_duplicates(job.id)
                return
        self._after_trouble(job, event)

    def _after_trouble(self, job, event: JobTrouble) -> None:
        reason, error = self.reason_of(job, event), event.error
        inp = self.journal.input(job.input_id)
        error = for_people(error, inp.work_path, inp.relpath)   # never the internal work name
        outcome = decide(reason, job.attempts, job.holds, self.policy)
        if outcome.action is Action.HOLD:
            self.holding.hold_job(job, outcome, error)
            return
        if outcome.action is Action.RETRY:
            self.journal.requeue(job.id, reason.value, error)
            logger.bind(reason=reason.value).warning("job {} {} on attempt {}: queued again",
                                                     job.id, reason, job.attempts)
            self.events.emit(JobRetried(job=job.id, reason=reason, detail=error))
            return
        if reason in (FailureReason.CRASHED, FailureReason.TIMEOUT):
            error = f"{error}; gave up after {job.attempts} attempt(s) (max_attempts)"
        logger.bind(reason=reason.value).error("job {} failed ({}): {}", job.id, reason.value,
                                               error)
        self.fail_job(job, reason.value, error)

    def reason_of(self, job, event: JobTrouble) -> FailureReason:
        """The event's reason as a member; a style file that is gone or unreadable is the
        setup's trouble, even when the worker reports it as a bad input."""
        reason = event.reason
        if reason is FailureReason.IMAGE:
            error = event.error
            if any(not Path(s.path).is_file() or s.path in error for s in job.spec.styles):
                return FailureReason.STYLE_MISSING
        return reason

    def publish(self, job, event: RenderDone) -> None:
        inp = self.journal.input(job.input_id)
        report = event.report
        report.published(JobInfo(id=job.id, input=inp.relpath, campaign=inp.campaign,
                                 slug=job.slug, attempt=job.attempts),
                         photo=inp.relpath, output_path=job.output_path,
                         timings={"queued": iso(job.queued_at, "milliseconds"),
                                  "started": iso(job.started_at, "milliseconds"),
                                  "finished": now_iso()},
                         outbox=self.config.outbox, styles_dir=self.config.styles_dir)
        publish.publish(Path(job.output_path), event.image, report.to_dict(),
                       Path(job.report_path), outbox=Path(self.config.outbox))
        self.journal.mark_done(job.id, event.render_seconds)
        if is_card_job(job):
            self.summary.cards_done += 1
        else:
            self.summary.jobs_done += 1
        logger.info("job {} done: {}", job.id, job.output_path)
        self.events.emit(JobDone(job=job.id, photo=inp.relpath, output=job.output_path))

    def fail_job(self, job, reason: str, error: str) -> None:
        """Give one job up (after policy, or refused before it ran), then see whether its
        photo is finished and settle the identical drops that waited for it."""
        self.journal.mark_failed(job.id, reason, error)
        if is_card_job(job):
            self.summary.cards_failed += 1
        else:
            self.summary.jobs_failed += 1
        self.events.emit(JobFailed(job=job.id, reason=reason, detail=error))
        self.maybe_archive(job.input_id)
        self.settle_duplicates(job.id)

    def refuse(self, job, reason: str, error: str) -> None:
        """A job that must not run here (too large, interrupted too often)."""
        for_job(self.journal, job).error("job {} refused: {}", job.id, error)
        self.fail_job(job, reason, error)

    def settle_duplicates(self, job_id: int | None) -> None:
        """Identical drops that waited for this job's render get its outcome, then archive."""
        for input_id in planner.settle_duplicates(self.journal, job_id):
            self.maybe_archive(input_id)

    # -- a finished photo -----------------------------------------------------------------
    @about_input
    def maybe_archive(self, input_id: int) -> None:
        inp = self.journal.input(input_id)
        if inp.state != InputState.CLAIMED:
            return
        all_jobs = self.journal.jobs_for_input(input_id)
        if not all_jobs or any(j.state in ACTIVE_JOB_STATES for j in all_jobs):
            return
        failed = [j for j in all_jobs if j.state == JobState.FAILED]
        if failed:
            self.fail_input(input_id, failed[0].reason or "error",
                            "; ".join(f"{j.slug}: {j.error}" for j in failed),
                            [{"job": j.id, "style": j.slug, "reason": j.reason,
                              "error": j.error} for j in failed])
            return
        self.archive_done(input_id)

    @about_input
    def fail_input(self, input_id: int, reason: str, message: str, jobs_failed=()) -> None:
        """failed/ with an error report beside it and one in the outbox. The target is
        recorded before the move, so a crash anywhere here is finished at the next start."""
        inp = self.journal.input(input_id)
        reason = FailureReason.parse(reason).value
        message = message.replace(inp.work_path, inp.relpath)  # the name people know
        target = Path(inp.archived_to) if inp.archived_to else \
            archive.archive_target(self.layout.failed, inp.relpath, str(input_id))
        error = {"input": inp.relpath, "reason": reason, "error": message, "time": now_iso(),
                 "failed_jobs": list(jobs_failed), "archived_to": str(target)}
        self.journal.archive_intent(input_id, str(target), message)
        archive.archive(Path(inp.work_path), target, error)
        # before the journal says failed: a crash until then tells the team again at start
        self.events.emit(PhotoFailed(photo=inp.relpath, campaign=inp.campaign, reason=reason,
                                     detail=message, archived=target,
                                     jobs=tuple(j["job"] for j in jobs_failed),
                                     time=error["time"], input=input_id, holds=inp.holds,
                                     styles=tuple(j["style"] for j in jobs_failed)))
        self.journal.archive_input(input_id, InputState.FAILED, str(target), message, reason)
        claim.remove_claim_note(self.layout.claims, inp.work_path)
        if is_card(inp.relpath) and reason != FailureReason.RESERVED_NAME.value:
            self.summary.cards_failed += 0 if jobs_failed else 1   # not a failed photo
        else:
            self.summary.inputs_failed += 1
        self.summary.failures.append(message if message.startswith(inp.relpath) else
                                     f"{inp.relpath}: {message}")   # name the photo

    def _kept_copy(self, inp) -> Path | None:
        """The copy in done/ of an earlier input with this name and these bytes (a preview
        approved again, a photo dropped again): shared, not archived once more."""
        if is_card(inp.relpath):
            return None
        earlier = [i.archived_to for i in reversed(self.journal.history(inp.relpath))
                   if i.id != inp.id and i.state == InputState.DONE and i.archived_to
                   and i.sha256 == inp.sha256
                   and self.layout.done in Path(i.archived_to).parents]
        return archive.kept_copy(earlier, inp.sha256)

    def archive_done(self, input_id: int) -> None:
        inp = self.journal.input(input_id)
        all_jobs = self.journal.jobs_for_input(input_id)
        target = Path(inp.archived_to) if inp.archived_to else self._kept_copy(inp) or \
            archive.archive_target(self.layout.done, inp.relpath, str(input_id))
        self.journal.archive_intent(input_id, str(target), None)
        if is_card(inp.relpath):   # the painting stays in styles_dir: no copy in done/
            archive.discard(Path(inp.work_path))
        else:
            archive.archive(Path(inp.work_path), target)
        self.journal.archive_input(input_id, InputState.DONE, str(target))
        claim.remove_claim_note(self.layout.claims, inp.work_path)
        if not is_card(inp.relpath):
            self.summary.inputs_done += 1
        self.summary.duplicates += sum(1 for j in all_jobs if j.reason == "duplicate")
        logger.info("{}: all {} job(s) done; {}", inp.relpath, len(all_jobs),
                    "its work copy removed" if is_card(inp.relpath) else f"archived to {target}")
        self.events.emit(PhotoDone(photo=inp.relpath, campaign=inp.campaign,
                                   outputs=tuple(j.output_path for j in all_jobs),
                                   jobs=tuple(j.id for j in all_jobs), input=input_id,
                                   holds=inp.holds, styles=tuple(j.slug for j in all_jobs)))
