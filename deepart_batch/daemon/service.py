"""The service loop: tick, dispatch, drain. Everything else is a collaborator.

`watch` runs it until SIGTERM; `run --once` runs it until everything present is finished.
Each tick: recovery after a full state_dir, the manifest and held photos, intake of
settled files (`Admission`), dispatch to the executor, its events to `Outcomes`, and a
TICK event for what operators see. Holds are `Holding`'s, start-up and full-disk recovery
`Recovery`'s. The team, the gallery and ops are receivers of named events (events.py).
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from loguru import logger

from ..core.cards import photo_jobs
from ..core.layout import StateLayout
from ..core.states import DaemonEvent, FailureReason, InputState, JobState
from ..gallery.writer import GalleryWriter
from ..journal import JournalBusy
from ..ops.sdnotify import Notifier
from ..pool import Executor, FairScheduler, PoolJob, make_executor
from ..pool.scheduler import Candidate
from ..settings.config import Config
from ..settings.manifest import ManifestStore
from ..weights import weights_identity
from . import bulkpass, planner
from .admission import Admission
from .approvals import Approvals
from .cards import Cards
from .earlystop import early_stop_requested
from .events import EventBus
from .folders import FolderWatch, require_folders, wait_for_folders
from .guard import box_trouble, unrenderable
from .holding import Holding
from .lock import (BULK, DAEMON, AlreadyRunning, StopRequested,  # noqa: F401  (the cli
                   take_lock)                                     # imports them here)
from .logcontext import for_job
from .ops_hooks import OpsHooks
from .outcomes import Outcomes, RunSummary  # noqa: F401  (RunSummary: the cli reads it)
from .policy import PolicySettings
from .recovery import Recovery, open_journal
from .reload import reload_config
from .team import TeamDesk
from .watch import InboxWatcher

# The exit codes of `run --once` and `watch` (README, "Exit codes"); 2 is the command line's
# (a bad config or option), 130 an interrupt before the loop started.
EXIT_OK, EXIT_FAILURES, EXIT_OBSERVER_DIED, EXIT_LOCKED = 0, 1, 3, 75
EXIT_NO_DEVICE = 69   # run --once: this setup can render nothing (sysexits EX_UNAVAILABLE)


class Service:
    _reload_requested = False            # SIGHUP (systemctl reload), handled by the next tick

    def __init__(self, config: Config, once: bool = False, notifier: Notifier | None = None):
        self.config = config
        self.once = once
        self.notifier = notifier or Notifier()
        self.layout = StateLayout(Path(config.state_dir))
        for d in (self.layout.work, self.layout.done, self.layout.failed):  # not the outbox
            d.mkdir(parents=True, exist_ok=True)
        self._lock_ready_sent = False
        self._lock_fh = take_lock(self.layout.lock, BULK if once else DAEMON,
                                  None if once else self._wait_for_lock, early_stop_requested)
        self.layout.claims.mkdir(exist_ok=True)
        self.journal = open_journal(self.layout, config.journal_busy_seconds)
        self.status_file = self.layout.status_file
        self.manifests = ManifestStore(config.manifest, config.styles_dir, config)
        self.watcher = InboxWatcher(
            config.inbox, config.watch.settle_seconds, config.watch.ignore,
            config.watch.polling, config.watch.poll_interval,
            exclude=(Path(config.manifest), Path(str(config.manifest) + ".error.json")))
        self.pool: Executor = make_executor(config, parent_logger=logger)
        self.scheduler = FairScheduler()
        self.stopping = False
        self.folders: FolderWatch | None = None   # from run(), once the folders are there
        self._no_device: str | None = None        # why nothing can render, while it lasts
        self._last_rescan = time.monotonic()
        self.events = EventBus()
        self.team = TeamDesk(config)
        self.team.connect(self.events)
        policy = PolicySettings(config.max_attempts, config.problems.hold_seconds,
                                config.problems.hold_max_seconds)
        self.holding = Holding(self.journal, policy, self.events, config.manifest.name)
        self.outcomes = Outcomes(config, self.journal, self.layout, self.holding, self.events,
                                 policy)
        self.summary = self.outcomes.summary
        weights_id = weights_identity(config.weights)
        self.approvals = Approvals(config, self.journal, self.layout, self.outcomes, weights_id)
        self.cards = Cards(config, self.journal, self.layout, self.outcomes, weights_id, once)
        self.admission = Admission(config, self.journal, self.layout, self.watcher,
                                   self.manifests, self.holding, self.outcomes, self.events,
                                   weights_id, approvals=self.approvals, cards=self.cards)
        self.recovery = Recovery(config, self.layout, self.journal, self.manifests,
                                 self.admission, self.outcomes, lambda: self.pool.running_jobs())

    # -- what tests and tools call on a service that is not running ------------------------
    def take(self, path: Path) -> None:
        self.admission.take(path)

    def recover(self) -> None:
        self.recovery.at_start()

    # -- dispatch -------------------------------------------------------------------------
    def dispatch(self) -> None:
        if self.folders is not None and self.folders.is_missing("outbox"):
            self._hold_ready(FailureReason.FOLDER_MISSING, self.folders.missing["outbox"])
            return   # nothing is rendered that could not be published
        if not self._can_render():
            return
        slots = self.pool.slots()
        idle = [s for s in slots if s.idle]
        if not idle or self.stopping:
            return
        largest = max((s.memory_bytes for s in slots), default=0)
        by_id = {j.id: j for j in self.cards.startable(self.journal.jobs_ready(),
                                                       self.journal.jobs_in(JobState.RUNNING))}
        for job in [j for j in by_id.values() if j.spec is None]:   # undecodable row
            del by_id[job.id]
            problem = job.spec_problem or "no render settings were stored"
            self.outcomes.refuse(job, *unrenderable(job, ValueError(problem)))
        while idle and by_id:
            cand = self.scheduler.pick([Candidate(j.id, j.campaign, j.priority,
                                                  j.spec.style_key)
                                        for j in by_id.values()], idle[0].cached_styles)
            job = by_id.pop(cand.job_id)
            gone = [Path(s.path).name for s in job.spec.styles if not Path(s.path).is_file()]
            if gone:
                self.manifests.note_missing(s.path for s in job.spec.styles
                                            if not Path(s.path).is_file())
                self.holding.hold_job_for(job, FailureReason.STYLE_MISSING, ", ".join(gone))
                continue
            refusal = self._refusal(job, largest)
            if refusal:
                self.outcomes.refuse(job, *refusal)
                continue
            fits = [s for s in idle if not planner.too_large(job.spec, s.memory_bytes)]
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

    def _hold_ready(self, reason: FailureReason, detail: str) -> None:
        for job in self.journal.jobs_ready():
            self.holding.hold_job_for(job, reason, detail)

    def _can_render(self) -> bool:
        """False while the executor has no slot at all: ready jobs are held (no_device),
        said once; when a slot appears, held work is tried again at once."""
        capacity = self.pool.capacity()
        if capacity.slots == 0:
            if self._no_device is None:
                logger.error("{}; photos are held (no_device) until a render device joins",
                             capacity.why_none)
            self._no_device = capacity.why_none
            self._hold_ready(FailureReason.NO_DEVICE, capacity.why_none)
            return False
        if self._no_device is not None:
            logger.info("{} render slot(s) now; held photos are tried again", capacity.slots)
            self._no_device = None
            self.holding.release_all()
        return True

    def waiting(self) -> list[str]:
        """What keeps the daemon from working (status, the systemd STATUS line)."""
        return (self.folders.problems() if self.folders else []) + \
            ([self._no_device] if self._no_device else [])

    def _folder_back(self, folder: str, **_) -> None:
        if folder == "inbox":
            self.watcher.scan() if self.once else self.watcher.restart()
        self.holding.release_all()   # held for folder_missing: tried again now

    def _refusal(self, job, capacity_bytes: int) -> tuple[str, str] | None:
        if job.attempts >= self.config.max_attempts:  # e.g. it took the daemon down each time
            return FailureReason.INTERRUPTED, (
                f"interrupted {job.attempts} time(s) without finishing "
                f"(max_attempts {self.config.max_attempts}); last: {job.error or job.reason}")
        try:
            too_large = planner.too_large(job.spec, capacity_bytes)
        except Exception as exc:   # a stored spec that no longer validates: that job only
            if box_trouble(exc):
                raise
            return unrenderable(job, exc)
        return ("too_large", too_large) if too_large else None

    # -- the loop -----------------------------------------------------------------------
    def request_stop(self, *_):
        """A signal handler: it only sets the flag. Logging here could re-enter a log line
        the main thread is writing (loguru refuses, and the line is lost); the loop says it."""
        self.stopping = True

    def request_reload(self, *_):
        self._reload_requested = True

    def _wait_for_lock(self, message: str) -> bool:
        """Waiting for a bulk pass is a started service that waits, not a slow start:
        READY once (so systemd's start timeout does not kill it), then status and pings."""
        if not self._lock_ready_sent:
            self.notifier.ready(message)
            self._lock_ready_sent = True
        self.notifier.status(message)
        self.notifier.watchdog()
        return not early_stop_requested()

    def _connect_receivers(self) -> None:
        """Ops and the gallery, after recovery: they read a journal that agrees with the disk."""
        OpsHooks(self.config, self.journal, self.pool, self.watcher, self.manifests,
                 self.notifier, self.status_file, self.once,
                 self.holding.in_inbox_by_reason, waiting=self.waiting).connect(self.events)
        if self.once:
            bulkpass.PassProgress(self.journal, self.summary).connect(self.events)
        gallery = GalleryWriter(self.config, held=self.holding.in_inbox_reasons)
        self.events.connect(lambda **_: gallery.start(), DaemonEvent.STARTED)
        self.events.connect(lambda **_: gallery.close(), DaemonEvent.STOPPED)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        if early_stop_requested():
            self.request_stop()
        if self.once:
            require_folders(self.config)
        else:
            wait_for_folders(self.config, self.notifier, self.status_file, lambda: self.stopping)
            if self.stopping:
                self.journal.close()
                return EXIT_OK
        self.folders = FolderWatch({"inbox": self.config.inbox, "outbox": self.config.outbox,
                                    "state": self.layout.root}, self.events,
                                   guard=("outbox", "state"))
        self.events.connect(self._folder_back, DaemonEvent.FOLDER_BACK)
        self.manifests.reload_if_changed()
        self.recover()
        self._connect_receivers()
        self.events.emit(DaemonEvent.STARTED)  # the gallery's pages are written from now on
        ready_sent = False
        try:
            if self.once and self.manifests.current is None:
                message = (f"{self.config.manifest} is not valid (see "
                           f"{self.config.manifest}.error.json); files stay in the inbox")
                self._summarise(message, "ERROR")
                return EXIT_FAILURES
            if self.stopping:  # SIGTERM during start-up: nothing is running yet
                logger.info("stop requested during start-up: exiting")
                return EXIT_OK
            self.pool.start()
            if self.once and self.pool.capacity().slots == 0:  # never wait on what cannot come
                message = (f"{self.pool.capacity().why_none}; photos stay in the inbox")
                self._summarise(message, "ERROR")
                return EXIT_NO_DEVICE
            if self.once:
                self.watcher.scan()
            else:
                self.watcher.start()
            while not self.stopping:
                if not self.once and not self.watcher.alive() and \
                        not self.folders.is_missing("inbox"):
                    logger.critical("the inbox observer died; exiting so systemd restarts us")
                    return EXIT_OBSERVER_DIED
                if not ready_sent and self.pool.all_ready():
                    self.events.emit(DaemonEvent.READY)
                    ready_sent = True
                try:
                    self.tick()
                except JournalBusy as exc:   # a backup tool or a person holds it: go on
                    logger.warning("tick skipped: {}; the daemon goes on", exc)
                    self.recovery.redo_later("the journal is free again")
                except (sqlite3.OperationalError, OSError) as exc:
                    self.recovery.state_full(exc, lambda: self.stopping)  # else re-raised
                if self.once and self._finished():
                    break
            return self._drain() if self.stopping else self._finish_once()
        finally:
            self.watcher.stop()
            self.pool.shutdown(grace=5)
            self.events.emit(DaemonEvent.STOPPED)
            if self.once:
                self._count_what_is_left()
                self.events.emit(DaemonEvent.PASS_FINISHED, counts={
                    "photos_done": self.summary.inputs_done,
                    "photos_failed": self.summary.inputs_failed,
                    "photos_held": self.summary.held, "renders": self.summary.jobs_done})
            self.journal.close()
            self.team.close(wait=10 if self.once else 5)

    def tick(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            reload_config(self)
        self.folders.check()
        if self.folders.is_missing("state"):   # the journal's folder: touch nothing
            self.events.emit(DaemonEvent.TICK, stopping=self.stopping)
            time.sleep(0.2)
            return
        self.recovery.reconcile_if_pending()
        if self.manifests.reload_if_changed():
            self.holding.release_inbox()
            if self.holding.release_all():
                logger.info("manifest reloaded: trying held photos again now")
        arrived = self.manifests.styles_arrived()
        if arrived and self.holding.release_all():
            logger.info("painting(s) {} arrived: trying held photos again now",
                        ", ".join(arrived))
        self.holding.release_due_jobs()
        if self.manifests.current is not None and not self.stopping:
            for inp in self.holding.unhold_due_photos():
                self.admission.plan_again(inp)
        now = time.monotonic()
        inbox_there = not self.folders.is_missing("inbox")
        if not self.once and inbox_there and \
                now - self._last_rescan >= self.config.watch.rescan_seconds:
            self.watcher.scan()
            self.holding.forget_gone(self.watcher.inbox)
            self._last_rescan = now
        if inbox_there:
            self.admission.take_settled(lambda: self.stopping)
        if not self.folders.is_missing("outbox"):   # never re-created by us
            self.approvals.take_settled(lambda: self.stopping)
            if not self.stopping:
                self.cards.take_due(lambda: self.stopping)   # watch only, behind photos
        if self.manifests.current is None:
            for rel in self.holding.in_inbox(FailureReason.MANIFEST_INVALID):  # keep them
                # in the settle table
                self.watcher.notice(self.watcher.inbox / rel)
        self.dispatch()
        for event in self.pool.poll(timeout=0.2):
            self.outcomes.handle(event)
        self.events.emit(DaemonEvent.TICK, stopping=self.stopping)

    def _finished(self) -> bool:
        counts = self.journal.counts()
        held = self.manifests.current is None and \
            self.holding.in_inbox(FailureReason.MANIFEST_INVALID)
        return (self.watcher.pending() == 0 and self.approvals.pending() == 0
                and not photo_jobs(self.journal.jobs_ready())   # cards: watch's
                and counts[JobState.RUNNING] == 0 and not held)

    def _drain(self) -> int:
        logger.info("stop requested: taking no new files, draining running jobs")
        deadline = time.monotonic() + self.config.drain_seconds
        self.events.emit(DaemonEvent.STOPPING)
        while self.pool.running_jobs() and time.monotonic() < deadline:
            for event in self.pool.poll(timeout=0.5):
                self.outcomes.handle(event)
            self.events.emit(DaemonEvent.TICK, stopping=True,  # status says "draining"
                             drain_left=max(0.0, deadline - time.monotonic()))
        for job_id in self.pool.running_jobs():
            self.journal.requeue(job_id, "shutdown", "daemon stopped before it finished",
                                 refund_attempt=True)
            logger.warning("job {} did not finish within drain_seconds: queued again", job_id)
        if self.once:
            self.summary.stopped = True
            self._count_what_is_left()
            return bulkpass.exit_code(self.summary)
        return EXIT_OK

    def _summarise(self, message: str, level: str) -> None:
        """A line of the bulk pass's summary: logged now, repeated at the end."""
        logger.opt(depth=1).log(level, message)   # the caller's place in the record
        self.summary.failures.append(message)

    def _count_what_is_left(self) -> None:
        """For the bulk pass's summary and exit code: held, queued, untaken."""
        s = self.summary
        untaken = self.holding.in_inbox(FailureReason.INBOX_PERMISSIONS)
        s.held = len(photo_jobs(self.journal.held())) + \
            len(self.journal.inputs_in(InputState.HELD)) + \
            len(self.holding.in_inbox(FailureReason.MANIFEST_INVALID))
        s.left_jobs = len(photo_jobs(self.journal.jobs_in(JobState.QUEUED, JobState.RUNNING,
                                                          JobState.WAITING)))
        s.left_photos = self.watcher.pending() + len(untaken)

    def _finish_once(self) -> int:
        held_jobs = photo_jobs(self.journal.held())
        if held_jobs:
            message = (f"{len(held_jobs)} job(s) held: {held_jobs[0].error}; their photos wait "
                       f"in {self.layout.work} and are rendered by the next run or the daemon")
            self._summarise(message, "WARNING")
        held_photos = self.journal.inputs_in(InputState.HELD)
        if held_photos:
            message = (f"{len(held_photos)} photo(s) held ({held_photos[0].reason}: "
                       f"{held_photos[0].error}); see deepart-batch status and "
                       f"{self.config.problems.folder}/ in the outbox")
            self._summarise(message, "WARNING")
        untaken = self.holding.in_inbox(FailureReason.INBOX_PERMISSIONS)
        if untaken:
            message = (f"{len(untaken)} photo(s) left in the inbox: the service may not take "
                       f"them from their folder (inbox_permissions), e.g. {untaken[0]}; see "
                       f"\"Permissions\" in the README")
            self._summarise(message, "WARNING")
        self._count_what_is_left()
        return bulkpass.exit_code(self.summary)
