"""The service loop: watch -> intake -> journal -> pool -> outbox -> archive, one tick at a time.

`watch` runs it until SIGTERM; `run --once` runs it until everything present is finished.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from ..config import Config
from ..manifest import ManifestStore
from ..ops.sdnotify import Notifier
from ..pipeline import now_iso
from ..pool import DevicePool, FairScheduler, PoolEvent, PoolJob, plan_workers
from ..pool.scheduler import Candidate
from ..weights import weights_identity
from . import intake, jobs, outbox
from .journal import Journal
from .ops_hooks import OpsHooks
from .policy import Action, PolicySettings, decide
from .states import ACTIVE_JOB_STATES, FailureReason
from .team import TeamDesk
from .watch import InboxWatcher

EXIT_OK, EXIT_FAILURES, EXIT_OBSERVER_DIED, EXIT_LOCKED = 0, 1, 3, 75


class AlreadyRunning(RuntimeError):
    pass


@dataclass
class RunSummary:
    inputs_done: int = 0
    inputs_failed: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    duplicates: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)


class Service:
    def __init__(self, config: Config, once: bool = False, notifier: Notifier | None = None):
        self.config = config
        self.once = once
        self.notifier = notifier or Notifier()
        state = Path(config.state_dir)
        self.work_dir, self.done_dir, self.failed_dir = state / "work", state / "done", state / "failed"
        for d in (self.work_dir, self.done_dir, self.failed_dir, Path(config.outbox)):
            d.mkdir(parents=True, exist_ok=True)
        self._lock_fh = _take_lock(state / "daemon.lock")
        self.journal = Journal(state / "journal.sqlite")
        self.status_file = state / "status.json"
        self.manifests = ManifestStore(config.manifest, config.styles_dir, config)
        self.watcher = InboxWatcher(
            config.inbox, config.watch.settle_seconds, config.watch.ignore,
            config.watch.polling, config.watch.poll_interval,
            exclude=(Path(config.manifest), Path(str(config.manifest) + ".error.json")))
        self.pool = DevicePool(plan_workers(config.devices, config.jobs_per_device),
                               config.weights, config.job_timeout, config.on_oom,
                               config.logging.level, parent_logger=logger)
        self.scheduler = FairScheduler()
        self.weights_id = weights_identity(config.weights)
        self.style_shas: dict[str, str] = {}
        self.summary = RunSummary()
        self.stopping = False
        self._held: set[str] = set()
        self._last_rescan = time.monotonic()
        self.policy = PolicySettings(config.max_attempts, config.problems.hold_seconds,
                                     config.problems.hold_max_seconds)
        self.team = TeamDesk(config)

    # -- start-up -----------------------------------------------------------------------
    def recover(self) -> None:
        """Make the journal and the disk agree after a crash, before taking new files."""
        requeued = self.journal.recover_running()
        if requeued:
            logger.warning("{} job(s) were running when the daemon stopped: queued again", requeued)
        self.journal.release_holds()  # a new start tries held photos at once
        self._settle_duplicates(None)  # ones whose original finished just before a crash
        for inp in self.journal.inputs_in("claiming"):
            if Path(inp.work_path).exists():
                self.journal.finish_claim(inp.id, intake.sha256_of(Path(inp.work_path)))
            else:
                self.journal.drop_input(inp.id)  # never moved: it is still in the inbox
        manifest = self.manifests.current
        for inp in self.journal.inputs_in("claimed"):
            if not self.journal.jobs_for_input(inp.id) and manifest is not None:
                self._plan(self.journal.input(inp.id))
            self._maybe_archive(inp.id)
        removed = outbox.clean_temp_files(Path(self.config.outbox))
        if removed:
            logger.info("removed {} temp file(s) left in the outbox by an interrupted write", removed)

    # -- intake -------------------------------------------------------------------------
    def take(self, path: Path) -> None:
        rel = self.watcher.relpath(path)
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
        work = self.work_dir / f"{time.time_ns()}-{path.name}"
        input_id = self.journal.begin_claim(rel, campaign, str(work))
        try:
            intake.move_file(path, work)
        except FileNotFoundError:
            self.journal.drop_input(input_id)
            return
        if refusal is not None:
            logger.warning("refused {}", refusal.message)
            self.journal.finish_claim(input_id, "")
            self._fail_input(input_id, refusal.reason, refusal.message)
            return
        self.journal.finish_claim(input_id, intake.sha256_of(work))
        self._held.discard(rel)
        queued = self._plan(self.journal.input(input_id))
        logger.info("took {} ({} job(s) queued)", rel, len(queued))
        self._maybe_archive(input_id)

    def _plan(self, inp) -> list[int]:
        """Jobs for a claimed photo, or hold it when the setup is not ready for it."""
        manifest = self.manifests.current
        rule = manifest.match(inp.relpath)
        if rule is None:
            self._hold_input(inp, FailureReason.NO_RULE, f"no manifest rule matches "
                                                         f"{inp.relpath}")
            return []
        missing = sorted({Path(manifest.styles[name].image).name for output in rule.outputs
                          for name in output.styles
                          if not Path(manifest.styles[name].image).is_file()})
        if missing:
            self._hold_input(inp, FailureReason.STYLE_MISSING, ", ".join(missing))
            return []
        try:
            with self.journal.transaction():  # all of its jobs or none
                return jobs.plan(self.journal, self.config, manifest, inp, self.weights_id,
                                 self.style_shas)
        except Exception as exc:  # e.g. a style image deleted since the manifest loaded
            reason = FailureReason.STYLE_MISSING if isinstance(exc, OSError) else \
                FailureReason.MANIFEST_INVALID
            self._hold_input(inp, reason, str(exc))
            return []

    def _hold_input(self, inp, reason: FailureReason, detail: str) -> None:
        outcome = decide(reason, 0, inp.holds, self.policy)
        first = self.journal.hold_input(inp.id, reason, detail,
                                        time.time() + outcome.delay) == 0
        log = logger.warning if first else logger.info
        log("{}: held ({}: {}); tried again in {:.0f} s or when the manifest changes",
            inp.relpath, reason.value, detail, outcome.delay)
        self.team.held(inp.relpath, inp.campaign, reason, detail, Path(inp.work_path), first)

    def _retry_held(self) -> None:
        """Held jobs whose wait is over are queued; held photos are planned again."""
        for job_id in self.journal.release_due():
            logger.info("job {}: trying again after a hold", job_id)
        if self.manifests.current is None or self.stopping:
            return
        for inp in self.journal.inputs_due():
            self.journal.unhold_input(inp.id)
            queued = self._plan(self.journal.input(inp.id))
            if queued:
                logger.info("{}: no longer held ({} job(s) queued)", inp.relpath, len(queued))
            self._maybe_archive(inp.id)

    def _fail_input(self, input_id: int, reason: str, message: str, jobs_failed=()) -> None:
        inp = self.journal.input(input_id)
        reason = FailureReason.parse(reason).value
        error = {"input": inp.relpath, "reason": reason, "error": message, "time": now_iso(),
                 "failed_jobs": list(jobs_failed)}
        target = intake.archive(Path(inp.work_path), self.failed_dir, inp.relpath,
                                str(input_id), error)
        error["archived_to"] = str(target)
        plain = self.team.failed(inp.relpath, inp.campaign, reason, message, target,
                                 [j["job"] for j in jobs_failed])
        outbox.publish_error(Path(self.config.outbox), inp.relpath,
                             {"input": inp.relpath, "time": error["time"], **plain})
        self.journal.archive_input(input_id, "failed", str(target), message, reason)
        self.summary.inputs_failed += 1
        self.summary.failures.append(message)

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
        target = intake.archive(Path(inp.work_path), self.done_dir, inp.relpath, str(input_id))
        self.journal.archive_input(input_id, "done", str(target))
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
        idle = self.pool.idle()
        if not idle or self.stopping:
            return
        queued = self.journal.jobs_in("queued")
        by_id = {j.id: j for j in queued}
        while idle and by_id:
            worker = idle[0]
            cand = self.scheduler.pick([Candidate(j.id, j.campaign, j.priority,
                                                  j.spec.get("style_key", ""))
                                        for j in by_id.values()], worker.cached_styles)
            job = by_id.pop(cand.job_id)
            gone = [Path(s["path"]).name for s in job.spec.get("styles", ())
                    if not Path(s["path"]).is_file()]
            if gone:
                self._hold_job(job, decide(FailureReason.STYLE_MISSING, job.attempts, job.holds,
                                           self.policy), ", ".join(gone))
                continue
            refusal = self._refusal(job)
            if refusal:
                self.journal.mark_failed(job.id, *refusal)
                self.summary.jobs_failed += 1
                logger.error("job {} refused: {}", job.id, refusal[1])
                self._maybe_archive(job.input_id)
                self._settle_duplicates(job.id)
                continue
            affine = [w for w in idle if cand.style_key in w.cached_styles]
            worker = affine[0] if affine else worker
            idle.remove(worker)
            self.journal.mark_running(job.id, worker.spec.id, worker.spec.device)
            self.pool.assign(worker, PoolJob(job.id, job.attempts + 1, job.spec, cand.style_key,
                                             job.campaign, job.priority))
            logger.info("job {} ({} [{}]) -> {} (attempt {})", job.id, Path(job.spec["content"]).name,
                        job.slug, worker.spec.id, job.attempts + 1)

    def _refusal(self, job) -> tuple[str, str] | None:
        if job.attempts >= self.config.max_attempts:  # e.g. it took the daemon down each time
            return "interrupted", (f"interrupted {job.attempts} time(s) without finishing "
                                   f"(max_attempts {self.config.max_attempts}); last: "
                                   f"{job.error or job.reason}")
        too_large = jobs.too_large(job.spec, self.pool.capacity_bytes())
        return ("too_large", too_large) if too_large else None

    def handle(self, event) -> None:
        if event.job_id is None:
            return
        if event.kind == "progress":
            self.journal.set_progress(event.job_id, event.data)
            return
        if event.kind == "event":
            logger.warning("job {}: {}", event.job_id, event.data)
            return
        job = self.journal.job(event.job_id)
        if event.kind == "done":
            try:
                self._publish(job, event)
            except OSError as exc:  # outbox unwritable or full: not the photo's fault
                full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
                event = PoolEvent("outbox", event.worker, job.id, {
                    "reason": "disk_full" if full else "outbox_unwritable",
                    "error": f"cannot write outputs: {exc}"})
            else:  # archiving errors are not the render's: it stays done
                self._maybe_archive(job.input_id)
                self._settle_duplicates(job.id)
                return
        reason, error = self._reason_of(job, event), event.data.get("error", "")
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

    def _reason_of(self, job, event) -> FailureReason:
        """The event's reason as a member; a style file that is gone or unreadable is the
        setup's trouble, even when the worker reports it as a bad input."""
        reason = FailureReason.parse(event.data.get("reason") or event.kind)
        if reason is FailureReason.IMAGE:
            error = event.data.get("error", "")
            if any(not Path(s["path"]).is_file() or s["path"] in error
                   for s in job.spec.get("styles", ())):
                return FailureReason.STYLE_MISSING
        return reason

    def _hold_job(self, job, outcome, detail: str) -> None:
        first_for_job = self.journal.hold(job.id, outcome.reason, detail,
                                          time.time() + outcome.delay) == 0
        inp = self.journal.input(job.input_id)
        first = first_for_job and not any(j.holds for j in self.journal.jobs_for_input(inp.id)
                                          if j.id != job.id) and not inp.holds
        (logger.warning if first_for_job else logger.info)(
            "job {} ({}) held: {}: {}; tried again in {:.0f} s", job.id, inp.relpath,
            outcome.reason.value, detail, outcome.delay)
        self.team.held(inp.relpath, inp.campaign, outcome.reason, detail, Path(inp.work_path),
                       first, [job.id])

    def _publish(self, job, event) -> None:
        inp = self.journal.input(job.input_id)
        report = event.data["report"]
        report["job"].update({"id": job.id, "input": inp.relpath, "campaign": inp.campaign,
                              "slug": job.slug, "attempt": job.attempts})
        report["input"]["path"] = inp.relpath
        report["output"] = {**(report.get("output") or {}), "path": job.output_path}
        report["timings"].update({"queued": _iso(job.queued_at), "started": _iso(job.started_at),
                                  "finished": now_iso()})
        outbox.publish(Path(job.output_path), event.data["image"], report)
        self.journal.mark_done(job.id, event.data.get("render_seconds"))
        self.summary.jobs_done += 1
        logger.info("job {} done: {}", job.id, job.output_path)

    # -- the loop -----------------------------------------------------------------------
    def request_stop(self, *_):
        if not self.stopping:
            logger.info("stop requested: taking no new files, draining running jobs")
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.manifests.reload_if_changed()
        self.recover()
        self.ops = OpsHooks(self)
        ready_sent = False
        try:
            if self.once and self.manifests.current is None:
                message = (f"{self.config.manifest} is not valid (see "
                           f"{self.config.manifest}.error.json); files stay in the inbox")
                logger.error(message)
                self.summary.failures.append(message)
                return EXIT_FAILURES
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
                self.tick()
                if self.once and self._finished():
                    break
            return self._drain() if self.stopping else self._finish_once()
        finally:
            self.watcher.stop()
            self.pool.shutdown(grace=5)
            self.ops.close()
            if self.once:
                self.summary.held = sum(self.journal.held_by_reason().values())
                self.team.pass_finished({"photos_done": self.summary.inputs_done,
                                         "photos_failed": self.summary.inputs_failed,
                                         "photos_held": self.summary.held,
                                         "renders": self.summary.jobs_done})
            self.journal.close()
            self.team.close(wait=10 if self.once else 5)

    def tick(self) -> None:
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
            except OSError as exc:  # e.g. no permission to move it off the share
                logger.error("{}: cannot take it ({}); it stays in the inbox and is retried "
                             "at the next rescan", path, exc)
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
        return (self.watcher.pending() == 0 and counts["queued"] == 0
                and counts["running"] == 0 and not held)

    def _drain(self) -> int:
        deadline = time.monotonic() + self.config.drain_seconds
        self.notifier.stopping()
        while self.pool.busy() and time.monotonic() < deadline:
            self.notifier.extend_timeout(min(30, deadline - time.monotonic()) + 5)
            for event in self.pool.poll(timeout=0.5):
                self.handle(event)
            self.ops.tick()  # status says "draining" meanwhile
        for w in self.pool.busy():
            self.journal.requeue(w.job.job_id, "shutdown", "daemon stopped before it finished",
                                 refund_attempt=True)
            logger.warning("job {} did not finish within drain_seconds: queued again", w.job.job_id)
        return EXIT_OK

    def _finish_once(self) -> int:
        held = self.journal.held_by_reason()
        for reason, n in held.items():
            self.summary.failures.append(f"{n} held ({reason}): see deepart-batch status and "
                                         f"{self.config.problems.folder}/ in the outbox")
        failed = self.summary.jobs_failed or self.summary.inputs_failed or held
        return EXIT_FAILURES if failed else EXIT_OK


def _iso(ts: float | None) -> str | None:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") if ts else None


def _take_lock(path: Path):
    """One process per state_dir: a bulk run never overlaps the daemon or another bulk run."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise AlreadyRunning(f"{path.parent} is in use by deepart-batch pid {holder}; "
                             "a run is still going, so this one does not start") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh
