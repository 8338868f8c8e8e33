"""The service loop: tick, dispatch, drain. Everything else is a collaborator.

`watch` runs it until SIGTERM; `run --once` runs it until everything present is finished.
Each tick: recovery after a full state_dir, the manifest and held photos, the job sources'
settled files (`Sources`, sources/), dispatch to the executor, its events to `Outcomes`,
and a TICK event for what operators see. Holds are `Holding`'s, start-up and full-disk
recovery `Recovery`'s. The team, the gallery and ops are receivers of named events
(events.py). compose.py builds all of these; the service builds nothing.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Callable

from loguru import logger

from ..core.layout import StateLayout
from ..core.states import FailureReason, JobState
from ..core.style_card_names import STYLES_FOLDER
from ..journal import JournalBusy
from ..ops.sdnotify import Notifier
from ..pool import Executor, FairScheduler, PoolJob
from ..pool.scheduler import Candidate
from ..settings.config import Config
from ..settings.manifest import ManifestStore
from .admin.bulk_pass import PassEnd
from .admin.recovery import Recovery
from .admin.reload import reload_config
from .earlystop import early_stop_requested
from .events import EventBus, PassFinished, Ready, Started, Stopped, Stopping, Tick
from .logcontext import for_job
from .outcomes.results import Outcomes
from .receivers.team import TeamDesk
from .schedule import planner
from .schedule.holding import Holding
from .settle.folder_presence import FolderWatch, require_folders, wait_for_folders
from .settle.watch import InboxWatcher
from .sources.guard import box_trouble, unrenderable
from .sources.registry import Sources

# The exit codes of `run --once` and `watch` (README, "Exit codes"); 2 is the command line's
# (a bad config or option), 130 an interrupt before the loop started.
EXIT_OK, EXIT_FAILURES, EXIT_OBSERVER_DIED, EXIT_LOCKED = 0, 1, 3, 75
EXIT_NO_DEVICE = 69   # run --once: this setup can render nothing (sysexits EX_UNAVAILABLE)
SCAN_AHEAD = 4        # queued jobs read per campaign beyond the idle slots: the scheduler's
                      # style affinity looks this far into a campaign's queue


class Service:
    _reload_requested = False            # SIGHUP (systemctl reload), handled by the next tick

    def __init__(self, *, config: Config, once: bool, notifier: Notifier,
                 layout: StateLayout, lock, journal, manifests: ManifestStore,
                 watcher: InboxWatcher, pool: Executor, scheduler: FairScheduler,
                 events: EventBus, team: TeamDesk, holding: Holding, outcomes: Outcomes,
                 sources: Sources, recovery: Recovery, folders: FolderWatch,
                 receivers: Callable[[], list], bulk: PassEnd, make_cards: bool = True):
        """What compose() built (compose.py); the service builds nothing."""
        self.config, self.once, self.notifier, self.layout = config, once, notifier, layout
        self._lock_fh = lock
        self.journal, self.manifests, self.watcher = journal, manifests, watcher
        self.pool, self.scheduler, self.events, self.team = pool, scheduler, events, team
        self.holding, self.outcomes, self.sources = holding, outcomes, sources
        self.recovery, self.folders, self._receivers = recovery, folders, receivers
        self.status_file = layout.status_file
        self.summary, self.bulk = outcomes.summary, bulk   # the bulk pass's end: bulk's
        self.make_cards = make_cards   # False: `run --once --no-cards` leaves card jobs
        self.stopping = False
        self._no_device: str | None = None        # why nothing can render, while it lasts
        self._last_rescan = time.monotonic()

    # -- what tests and tools call on a service that is not running ------------------------
    def take(self, path: Path) -> None:
        self.sources.named("inbox").take(path)

    def recover(self) -> None:
        self.recovery.at_start()

    # -- dispatch -------------------------------------------------------------------------
    def dispatch(self) -> None:
        if self.folders.is_missing("outbox"):
            self._hold_ready(FailureReason.FOLDER_MISSING, self.folders.missing["outbox"])
            return   # nothing is rendered that could not be published
        if not self._can_render():
            return
        slots = self.pool.slots()
        idle = [s for s in slots if s.idle]
        if not idle or self.stopping:
            return
        largest = max((s.memory_bytes for s in slots), default=0)
        if largest > 0:   # what no device of the pool can hold is refused, never chosen
            for job in self.journal.ready_too_large(largest):
                self.outcomes.refuse(job, *(self._refusal(job, largest) or (
                    FailureReason.TOO_LARGE, f"needs about {job.need_bytes / 2**30:.1f} GiB "
                    f"but the largest device has {largest / 2**30:.1f} GiB - lower the size "
                    "in the manifest")))
        skipped: set[int] = set()   # fit only a busy slot: they wait for it
        below = None                # the priority levels above this are used up
        while idle:
            fits = None if any(s.memory_bytes <= 0 for s in idle) else \
                max(s.memory_bytes for s in idle)
            priority, heads = self.journal.ready_heads(len(idle) + SCAN_AHEAD + len(skipped),
                                                       fits, below)
            if priority is None:
                return
            if not self._start_some([j for j in self.sources.startable(
                    heads, self.journal.running()) if j.id not in skipped],
                    idle, largest, skipped):
                below = priority   # none of these could start: the next priority down

    def _start_some(self, ready: list, idle: list, largest: int, skipped: set[int]) -> bool:
        """Start ready jobs on idle slots, the scheduler choosing; returns whether any job
        left the queue (started, held or refused), so the caller reads the heads again."""
        by_id = {j.id: j for j in ready}
        moved = False
        for job in [j for j in by_id.values() if j.spec is None]:   # undecodable row
            del by_id[job.id]
            problem = job.spec_problem or "no render settings were stored"
            self.outcomes.refuse(job, *unrenderable(job, ValueError(problem)))
            moved = True
        while idle and by_id:
            cand = self.scheduler.pick([Candidate(j.id, j.campaign, j.priority,
                                                  j.spec.style_key)
                                        for j in by_id.values()], idle[0].cached_styles)
            job = by_id.pop(cand.job_id)
            gone = [Path(s.path).name for s in job.spec.styles if not Path(s.path).is_file()]
            refusal = self._refusal(job, largest)   # guarded: a spec that no longer checks
            fits = [] if refusal else [s for s in idle
                                       if not planner.too_large(job.spec, s.memory_bytes)]
            if not gone and not refusal and not fits:
                skipped.add(job.id)
                continue  # fits a busy slot with more memory: it waits for that one
            moved = True   # from here the job leaves the queue
            if gone:
                self.manifests.note_missing(s.path for s in job.spec.styles
                                            if not Path(s.path).is_file())
                self.holding.hold_job_for(job, FailureReason.STYLE_MISSING, ", ".join(gone))
                continue
            if refusal:
                self.outcomes.refuse(job, *refusal)
                continue
            slot = next((s for s in fits if cand.style_key in s.cached_styles), fits[0])
            idle.remove(slot)
            with self.journal.transaction():   # a release is kept for the team with it
                self.journal.mark_running(job.id, slot.id, slot.device)
                self.holding.released_job(job)
            self.pool.assign(slot.id, PoolJob(job.id, job.attempts + 1, job.spec, cand.style_key,
                                              job.campaign, job.priority))
            for_job(self.journal, job).info(
                "job {} ({} [{}]) -> {} on {} (attempt {})", job.id,
                self.journal.input(job.input_id).relpath, job.slug, slot.id, slot.node,
                job.attempts + 1)
        return moved

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
        return self.folders.problems() + \
            ([self._no_device] if self._no_device else [])

    def _folder_back(self, folder: str) -> None:
        """A folder is back: its work resumes (a direct call: receivers only hear of it)."""
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

    def _connect_receivers(self) -> None:
        """Ops and the gallery, after recovery: they read a journal that agrees with the disk."""
        for receiver in self._receivers():
            receiver.connect(self.events)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        # the claim renames a photo under a read lease, whose break is signalled (SIGIO,
        # which would end the daemon): ignored, the lease is held for one rename only
        signal.signal(signal.SIGIO, signal.SIG_IGN)
        if early_stop_requested():
            self.request_stop()
        if self.once:
            require_folders(self.config)
        else:
            wait_for_folders(self.config, self.notifier, self.status_file, lambda: self.stopping)
            if self.stopping:
                self.journal.close()
                return EXIT_OK
        self.folders.start()
        self.manifests.reload_if_changed()
        self.recover()
        self._connect_receivers()
        self.events.emit(Started())  # the gallery's pages are written from now on
        ready_sent = False
        try:
            if self.once and self.manifests.current is None:
                message = (f"{self.config.manifest} is not valid (see "
                           f"{self.config.manifest}.error.json); files stay in the inbox")
                self.bulk.note(message, "ERROR")
                return EXIT_FAILURES
            if self.stopping:  # SIGTERM during start-up: nothing is running yet
                logger.info("stop requested during start-up: exiting")
                return EXIT_OK
            self.pool.start()
            if self.once and self.pool.capacity().slots == 0:  # never wait on what cannot come
                message = (f"{self.pool.capacity().why_none}; photos stay in the inbox")
                self.bulk.note(message, "ERROR")
                return EXIT_NO_DEVICE
            self.sources.start_watching(self.once)   # each watching source its own
            while not self.stopping:
                dead = [] if self.once else self.sources.dead_observers(
                    lambda key: not self.folders.is_missing(key))
                if dead:
                    logger.critical("the {} observer died; exiting so systemd restarts us",
                                    " and ".join(dead))
                    return EXIT_OBSERVER_DIED
                if not ready_sent and self.pool.all_ready():
                    self.events.emit(Ready())
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
            return self._drain() if self.stopping else self.bulk.finish()
        finally:
            self.sources.stop_watching()
            self.pool.shutdown(grace=5)
            self.events.emit(Stopped())
            if self.once:
                self.bulk.count_what_is_left()
                self.events.emit(PassFinished(photos_done=self.summary.inputs_done,
                                              photos_failed=self.summary.inputs_failed,
                                              photos_held=self.summary.held,
                                              renders=self.summary.jobs_done))
            self.journal.close()
            self.team.close(wait=10 if self.once else 5)

    def tick(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            reload_config(self.config, (self.holding, self.outcomes, self.team))
        for folder in self.folders.check():
            self._folder_back(folder)
        if self.folders.is_missing("state"):   # the journal's folder: touch nothing
            self.events.emit(Tick(stopping=self.stopping))
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
                self.sources.plan_again(inp)
                self.holding.released_input(inp)
        now = time.monotonic()
        inbox_there = not self.folders.is_missing("inbox")
        if not self.once and inbox_there and \
                now - self._last_rescan >= self.config.watch.rescan_seconds:
            self.watcher.scan()
            self.holding.forget_gone(self.watcher.inbox)
            self._last_rescan = now
        # each source whose folder is there (the outbox is never re-created by us)
        self.sources.take_due(lambda key: not self.folders.is_missing(key),
                              lambda: self.stopping)
        if self.manifests.current is None:
            for rel in self.holding.in_inbox(FailureReason.MANIFEST_INVALID):  # keep them
                # in the settle table
                self.watcher.notice(self.watcher.inbox / rel)
        self.dispatch()
        for event in self.pool.poll(timeout=0.2):
            self.outcomes.handle(event)
        self.events.emit(Tick(stopping=self.stopping))

    def _finished(self) -> bool:
        counts = self.journal.counts()
        held = self.manifests.current is None and \
            self.holding.in_inbox(FailureReason.MANIFEST_INVALID)
        ready = counts[JobState.QUEUED] > 0 if self.make_cards else \
            self.journal.ready_outside(STYLES_FOLDER)
        return (self.sources.pending() == 0 and not ready
                and counts[JobState.RUNNING] == 0 and not held)

    def _drain(self) -> int:
        logger.info("stop requested: taking no new files, draining running jobs")
        deadline = time.monotonic() + self.config.drain_seconds
        self.events.emit(Stopping())
        while self.pool.running_jobs() and time.monotonic() < deadline:
            for event in self.pool.poll(timeout=0.5):
                self.outcomes.handle(event)
            self.events.emit(Tick(stopping=True,  # status says "draining"
                                  drain_left=max(0.0, deadline - time.monotonic())))
        for job_id in self.pool.running_jobs():
            self.journal.requeue(job_id, "shutdown", "daemon stopped before it finished",
                                 refund_attempt=True)
            logger.warning("job {} did not finish within drain_seconds: queued again", job_id)
        if self.once:
            return self.bulk.stopped()
        return EXIT_OK
