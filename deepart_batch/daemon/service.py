"""The service loop: watch -> intake -> journal -> pool -> outbox -> archive, one tick at a time.

`watch` runs it until SIGTERM; `run --once` runs it until everything present is finished.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from ..settings.config import Config
from ..gallery.writer import GalleryWriter
from ..settings.manifest import ManifestStore
from ..ops.sdnotify import Notifier
from ..paths import UnsafePathError, is_disk_full, safe_text
from ..core.timefmt import now_iso
from ..pool import EventKind, Executor, ExecutorEvent, FairScheduler, PoolJob, make_executor
from ..pool.scheduler import Candidate
from ..weights import weights_identity
from . import intake, outbox, planner as jobs, recovery
from .earlystop import early_stop_requested
from .faultpoints import crash_point
from .folders import require_folders, wait_for_folders
from .logcontext import about_event, about_input, about_path, for_job, for_people
from .lock import BULK, DAEMON, AlreadyRunning, take_lock  # noqa: F401  (cli imports it here)
from .ops_hooks import OpsHooks
from .policy import Action, PolicySettings, decide
from .holding import HoldingMixin
from .restart import RecoveryMixin
from ..core.states import ACTIVE_JOB_STATES, FailureReason
from ..core.states import plain as plain_text
from .team import TeamDesk
from .watch import InboxWatcher

EXIT_OK, EXIT_FAILURES, EXIT_OBSERVER_DIED, EXIT_LOCKED = 0, 1, 3, 75


@dataclass
class RunSummary:
    inputs_done: int = 0
    inputs_failed: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    duplicates: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)


class Service(HoldingMixin, RecoveryMixin):
    def __init__(self, config: Config, once: bool = False, notifier: Notifier | None = None):
        self.config = config
        self.once = once
        self.notifier = notifier or Notifier()
        state = Path(config.state_dir)
        self.work_dir, self.done_dir, self.failed_dir = state / "work", state / "done", state / "failed"
        for d in (self.work_dir, self.done_dir, self.failed_dir):  # not the outbox: see folders
            d.mkdir(parents=True, exist_ok=True)
        self._lock_fh = take_lock(state / "daemon.lock", BULK if once else DAEMON,
                                  None if once else self._wait_for_lock)
        self.claims_dir = state / "claims"
        self.claims_dir.mkdir(exist_ok=True)
        self.journal = self._open_journal(state / "journal.sqlite")
        self.status_file = state / "status.json"
        self.manifests = ManifestStore(config.manifest, config.styles_dir, config)
        self.watcher = InboxWatcher(
            config.inbox, config.watch.settle_seconds, config.watch.ignore,
            config.watch.polling, config.watch.poll_interval,
            exclude=(Path(config.manifest), Path(str(config.manifest) + ".error.json")))
        self.pool: Executor = make_executor(config, parent_logger=logger)
        self.scheduler = FairScheduler()
        self.weights_id = weights_identity(config.weights)
        self.style_shas: dict[str, str] = {}
        self.summary = RunSummary()
        self.stopping = False
        self._held: set[str] = set()
        self._take_errors: dict[str, str] = {}  # inbox path -> last error, logged once
        self._reconcile = False                 # after a full state_dir: check the journal
        self._state_full_count = 0              # times in a row the state_dir was full
        self._last_rescan = time.monotonic()
        self.policy = PolicySettings(config.max_attempts, config.problems.hold_seconds,
                                     config.problems.hold_max_seconds)
        self.team = TeamDesk(config)

    # -- intake -------------------------------------------------------------------------
    @about_path
    def take(self, path: Path) -> None:
        raw_rel = self.watcher.relpath(path)
        rel = safe_text(raw_rel)  # any name the filesystem allows; the journal holds UTF-8
        if rel != raw_rel:
            logger.warning("{}: the name is not valid UTF-8; it is recorded and archived as "
                           "{!r}", raw_rel.encode("utf-8", "surrogateescape"), rel)
        manifest = self.manifests.current
        if manifest is None:
            if rel not in self._held:
                logger.warning("{}: held in the inbox until the manifest is valid", rel)
                self._held.add(rel)
            return
        limits = self.config.limits
        refusal = intake.inspect(path, rel, limits.max_file_bytes, limits.max_input_pixels,
                                 limits.formats)
        campaign = intake.campaign_of(rel)
        work = self.work_dir / intake.work_name(rel, f"{time.time_ns():x}")
        input_id = self.journal.begin_claim(rel, campaign, str(work))
        try:
            recovery.write_claim_note(self.claims_dir, work, rel)
            intake.move_file(path, work)
        except BaseException as exc:  # it stays in the inbox: no row, no note
            self.journal.drop_input(input_id)
            recovery.remove_claim_note(self.claims_dir, work)
            if isinstance(exc, FileNotFoundError):
                return
            raise
        if refusal is not None:
            logger.warning("refused {}", refusal.message)
            self.journal.finish_claim(input_id, "")
            self._fail_input(input_id, refusal.reason, refusal.message)
            return
        self.journal.finish_claim(input_id, intake.sha256_of(work))
        crash_point("after_claim_move")
        self._held.discard(rel)
        queued = self._plan(self.journal.input(input_id))
        logger.info("took {} ({} job(s) queued)", rel, len(queued))
        self._maybe_archive(input_id)

    @about_input
    def _fail_input(self, input_id: int, reason: str, message: str, jobs_failed=()) -> None:
        """failed/ with an error report beside it and one in the outbox. The target is
        recorded before the move, so a crash anywhere here is finished at the next start."""
        inp = self.journal.input(input_id)
        reason = FailureReason.parse(reason).value
        message = message.replace(inp.work_path, inp.relpath)  # the name people know
        target = Path(inp.archived_to) if inp.archived_to else \
            intake.archive_target(self.failed_dir, inp.relpath, str(input_id))
        error = {"input": inp.relpath, "reason": reason, "error": message, "time": now_iso(),
                 "failed_jobs": list(jobs_failed), "archived_to": str(target)}
        self.journal.archive_intent(input_id, str(target), message)
        intake.archive(Path(inp.work_path), target, error)
        plain = self.team.failed(inp.relpath, inp.campaign, reason, message, target,
                                 [j["job"] for j in jobs_failed])
        team_error = {"input": inp.relpath, "time": error["time"], **plain,
                      "error": plain_text(message)}  # no server paths in the team's folder
        if outbox.publish_error(Path(self.config.outbox), inp.relpath, team_error,
                                self.config.output.reports == "subfolder") is None:
            logger.warning("{}: could not write its error report into the outbox; it is in "
                           "{}", inp.relpath, target.with_name(target.name + intake.ERROR_SUFFIX))
        self.journal.archive_input(input_id, "failed", str(target), message, reason)
        recovery.remove_claim_note(self.claims_dir, inp.work_path)
        self.summary.inputs_failed += 1
        self.summary.failures.append(message if message.startswith(inp.relpath) else
                                     f"{inp.relpath}: {message}")   # name the photo

    @about_input
    def _maybe_archive(self, input_id: int) -> None:
        inp = self.journal.input(input_id)
        if inp.state != "claimed":
            return
        all_jobs = self.journal.jobs_for_input(input_id)
        if not all_jobs or any(j.state in ACTIVE_JOB_STATES for j in all_jobs):
            return
        failed = [j for j in all_jobs if j.state == "failed"]
        if failed:
            self._fail_input(input_id, failed[0].reason or "error",
                             "; ".join(f"{j.slug}: {j.error}" for j in failed),
                             [{"job": j.id, "style": j.slug, "reason": j.reason,
                               "error": j.error} for j in failed])
            return
        self._archive_done(input_id)

    def _archive_done(self, input_id: int) -> None:
        inp = self.journal.input(input_id)
        all_jobs = self.journal.jobs_for_input(input_id)
        target = Path(inp.archived_to) if inp.archived_to else \
            intake.archive_target(self.done_dir, inp.relpath, str(input_id))
        self.journal.archive_intent(input_id, str(target), None)
        intake.archive(Path(inp.work_path), target)
        self.journal.archive_input(input_id, "done", str(target))
        recovery.remove_claim_note(self.claims_dir, inp.work_path)
        self.summary.inputs_done += 1
        self.summary.duplicates += sum(1 for j in all_jobs if j.reason == "duplicate")
        logger.info("{}: all {} job(s) done; archived to {}", inp.relpath, len(all_jobs), target)
        self.team.done(inp.relpath, inp.campaign, [j.output_path for j in all_jobs],
                       [j.id for j in all_jobs])

    def _settle_duplicates(self, job_id: int | None) -> None:
        """Identical drops that waited for this job's render get its outcome, then archive."""
        for input_id in jobs.settle_duplicates(self.journal, job_id):
            self._maybe_archive(input_id)

    # -- dispatch and results -----------------------------------------------------------
    def dispatch(self) -> None:
        slots = self.pool.slots()
        idle = [s for s in slots if s.idle]
        if not idle or self.stopping:
            return
        largest = max((s.memory_bytes for s in slots), default=0)
        queued = self.journal.jobs_ready()
        by_id = {j.id: j for j in queued}
        while idle and by_id:
            cand = self.scheduler.pick([Candidate(j.id, j.campaign, j.priority,
                                                  j.spec.get("style_key", ""))
                                        for j in by_id.values()], idle[0].cached_styles)
            job = by_id.pop(cand.job_id)
            gone = [Path(s["path"]).name for s in job.spec.get("styles", ())
                    if not Path(s["path"]).is_file()]
            if gone:
                self._hold_job(job, decide(FailureReason.STYLE_MISSING, job.attempts, job.holds,
                                           self.policy), ", ".join(gone))
                continue
            refusal = self._refusal(job, largest)
            if refusal:
                self.journal.mark_failed(job.id, *refusal)
                self.summary.jobs_failed += 1
                for_job(self.journal, job).error("job {} refused: {}", job.id, refusal[1])
                self._maybe_archive(job.input_id)
                self._settle_duplicates(job.id)
                continue
            fits = [s for s in idle if not jobs.too_large(job.spec, s.memory_bytes)]
            if not fits:
                continue  # fits a busy slot with more memory: it waits for that one
            slot = next((s for s in fits if cand.style_key in s.cached_styles), fits[0])
            idle.remove(slot)
            self.journal.mark_running(job.id, slot.id, slot.device)
            self.pool.assign(slot.id, PoolJob(job.id, job.attempts + 1, job.spec, cand.style_key,
                                              job.campaign, job.priority))
            for_job(self.journal, job).info(
                "job {} ({} [{}]) -> {} on {} (attempt {})", job.id,
                self.journal.input(job.input_id).relpath, job.slug, slot.id, slot.node,
                job.attempts + 1)

    def _refusal(self, job, capacity_bytes: int) -> tuple[str, str] | None:
        if job.attempts >= self.config.max_attempts:  # e.g. it took the daemon down each time
            return "interrupted", (f"interrupted {job.attempts} time(s) without finishing "
                                   f"(max_attempts {self.config.max_attempts}); last: "
                                   f"{job.error or job.reason}")
        too_large = jobs.too_large(job.spec, capacity_bytes)
        return ("too_large", too_large) if too_large else None

    @about_event
    def handle(self, event: ExecutorEvent) -> None:
        if event.job_id is None:
            return
        if event.kind is EventKind.PROGRESS:
            self.journal.set_progress(event.job_id, event.data)
            return
        if event.kind is EventKind.EVENT:
            logger.warning("job {}: {}", event.job_id, event.data)
            return
        job = self.journal.job(event.job_id)
        if event.kind is EventKind.DONE:
            try:
                self._publish(job, event)
            except UnsafePathError as exc:  # a link inside the outbox points elsewhere
                event = ExecutorEvent(EventKind.FAILED, event.worker, job.id, {
                    "reason": "unsafe_path", "error": f"not written outside the outbox: {exc}; "
                    "replace that link with a real folder"})
            except OSError as exc:  # outbox full or unwritable: not the photo's fault (held)
                full = is_disk_full(exc)
                event = ExecutorEvent(EventKind.OUTBOX, event.worker, job.id, {
                    "reason": "disk_full" if full else "outbox_unwritable",
                    "error": f"the outbox is full ({exc}); nothing was published; held and "
                             f"retried (the photo is not failed for this)" if full else
                             f"cannot write outputs: {exc}"})
            else:  # archiving errors are not the render's: it stays done
                self._maybe_archive(job.input_id)
                self._settle_duplicates(job.id)
                return
        reason, error = self._reason_of(job, event), event.data.get("error", "")
        inp = self.journal.input(job.input_id)
        error = for_people(error, inp.work_path, inp.relpath)   # never the internal work name
        outcome = decide(reason, job.attempts, job.holds, self.policy)
        if outcome.action is Action.HOLD:
            self._hold_job(job, outcome, error)
            return
        if outcome.action is Action.RETRY:
            self.journal.requeue(job.id, reason.value, error)
            logger.warning("job {} {} on attempt {}: queued again", job.id, reason, job.attempts)
            return
        reason = reason.value
        if FailureReason(reason) in (FailureReason.CRASHED, FailureReason.TIMEOUT):
            error = f"{error}; gave up after {job.attempts} attempt(s) (max_attempts)"
        self.journal.mark_failed(job.id, reason, error)
        self.summary.jobs_failed += 1
        logger.error("job {} failed ({}): {}", job.id, reason, error)
        self._maybe_archive(job.input_id)
        self._settle_duplicates(job.id)

    def _publish(self, job, event) -> None:
        inp = self.journal.input(job.input_id)
        report = event.data["report"]
        report["job"].update({"id": job.id, "input": inp.relpath, "campaign": inp.campaign,
                              "slug": job.slug, "attempt": job.attempts})
        report["input"]["path"] = inp.relpath
        report["output"] = {**(report.get("output") or {}), "path": job.output_path}
        report["timings"].update({"queued": _iso(job.queued_at), "started": _iso(job.started_at),
                                  "finished": now_iso()})
        outbox.publish(Path(job.output_path), event.data["image"], report, Path(job.report_path),
                       outbox=Path(self.config.outbox))
        self.journal.mark_done(job.id, event.data.get("render_seconds"))
        self.summary.jobs_done += 1
        logger.info("job {} done: {}", job.id, job.output_path)

    # -- the loop -----------------------------------------------------------------------
    def request_stop(self, *_):
        if not self.stopping:
            logger.info("stop requested: taking no new files, draining running jobs")
        self.stopping = True

    def _wait_for_lock(self, message: str) -> bool:
        self.notifier.status(message)
        self.notifier.watchdog()
        return True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if early_stop_requested():
            self.request_stop()
        if self.once:
            require_folders(self.config)
        else:
            wait_for_folders(self.config, self.notifier, self.status_file, lambda: self.stopping)
            if self.stopping:
                self.journal.close()
                return EXIT_OK
        self.manifests.reload_if_changed()
        self.recover()
        self.ops = OpsHooks(self)
        self.gallery = GalleryWriter(self.config, held=lambda: dict.fromkeys(
            self._held, f"waiting in the inbox until {self.config.manifest.name} is valid"))
        self.gallery.start()   # rewrites the pages now and after every journal change
        ready_sent = False
        try:
            if self.once and self.manifests.current is None:
                message = (f"{self.config.manifest} is not valid (see "
                           f"{self.config.manifest}.error.json); files stay in the inbox")
                logger.error(message)
                self.summary.failures.append(message)
                return EXIT_FAILURES
            if self.stopping:  # SIGTERM during start-up: nothing is running yet
                logger.info("stop requested during start-up: exiting")
                return EXIT_OK
            self.pool.start()
            if self.once:
                self.watcher.scan()
            else:
                self.watcher.start()
            while not self.stopping:
                if not self.once and not self.watcher.alive():
                    logger.critical("the inbox observer died; exiting so systemd restarts us")
                    return EXIT_OBSERVER_DIED
                if not ready_sent and self.pool.all_ready():
                    self.notifier.ready()
                    ready_sent = True
                try:
                    self.tick()
                except (sqlite3.OperationalError, OSError) as exc:
                    if not is_disk_full(exc):
                        raise
                    self._state_full(exc)
                if self.once and self._finished():
                    break
            return self._drain() if self.stopping else self._finish_once()
        finally:
            self.watcher.stop()
            self.pool.shutdown(grace=5)
            self.ops.close()
            self.gallery.close()
            if self.once:
                self.summary.held = sum(self.journal.held_by_reason().values())
                self.team.pass_finished({"photos_done": self.summary.inputs_done,
                                         "photos_failed": self.summary.inputs_failed,
                                         "photos_held": self.summary.held,
                                         "renders": self.summary.jobs_done})
            self.journal.close()
            self.team.close(wait=10 if self.once else 5)

    def tick(self) -> None:
        if self._reconcile:
            self._reconcile_after_full()
        if self.manifests.reload_if_changed():
            self._held.clear()
            if self.journal.release_holds():
                logger.info("manifest reloaded: trying held photos again now")
        self._retry_held()
        now = time.monotonic()
        if not self.once and now - self._last_rescan >= self.config.watch.rescan_seconds:
            self.watcher.scan()
            self._last_rescan = now
        for path in self.watcher.settled():
            if self.stopping:
                break
            try:
                self.take(path)
                self._take_errors.pop(str(path), None)
            except OSError as exc:  # e.g. no permission to move it off the share
                if is_disk_full(exc):
                    raise
                if self._take_errors.get(str(path)) != str(exc):  # once, not every rescan
                    logger.error("{}: cannot take it ({}); it stays in the inbox and is "
                                 "retried at each rescan", safe_text(str(path)), exc)
                self._take_errors[str(path)] = str(exc)
        if self.manifests.current is None and self._held:
            for rel in list(self._held):   # keep held files in the settle table
                self.watcher.notice(self.watcher.inbox / rel)
        self.dispatch()
        for event in self.pool.poll(timeout=0.2):
            self.handle(event)
        self.ops.tick()

    def _finished(self) -> bool:
        counts = self.journal.counts()
        held = self.manifests.current is None and self._held
        return (self.watcher.pending() == 0 and len(self.journal.jobs_ready()) == 0
                and counts["running"] == 0 and not held)

    def _drain(self) -> int:
        deadline = time.monotonic() + self.config.drain_seconds
        self.notifier.stopping()
        while self.pool.running_jobs() and time.monotonic() < deadline:
            self.notifier.extend_timeout(min(30, deadline - time.monotonic()) + 5)
            for event in self.pool.poll(timeout=0.5):
                self.handle(event)
            self.ops.tick()  # status says "draining" meanwhile
        for job_id in self.pool.running_jobs():
            self.journal.requeue(job_id, "shutdown", "daemon stopped before it finished",
                                 refund_attempt=True)
            logger.warning("job {} did not finish within drain_seconds: queued again", job_id)
        return EXIT_OK

    def _finish_once(self) -> int:
        held_jobs = self.journal.held()
        if held_jobs:
            message = (f"{len(held_jobs)} job(s) held: {held_jobs[0].error}; their photos wait "
                       f"in {self.work_dir} and are rendered by the next run or the daemon")
            logger.warning(message)
            self.summary.failures.append(message)
        held_photos = self.journal.inputs_in("held")
        if held_photos:
            message = (f"{len(held_photos)} photo(s) held ({held_photos[0].reason}: "
                       f"{held_photos[0].error}); see deepart-batch status and "
                       f"{self.config.problems.folder}/ in the outbox")
            logger.warning(message)
            self.summary.failures.append(message)
        failed = self.summary.jobs_failed or self.summary.inputs_failed
        return EXIT_FAILURES if failed or held_jobs or held_photos else EXIT_OK


def _iso(ts: float | None) -> str | None:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") if ts else None
