"""The local executor: one spawned worker process per device slot of this box.

Parent side: spawn, assign, watch for crashes and timeouts, respawn."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from loguru import logger

from ..core.params import RenderParams
from .devices import WorkerSpec, plan_workers
from .events import (ExecutorEvent, JobStarted, JobTrouble, Progress, RenderDone,
                     SlotReady, SlotUp, job_lost)
from .executor import Capacity, EventKind, PoolJob, SlotState, SlotView
from .worker import worker_main


START_GRACE = 600.0   # seconds a worker may take to load weights before its job times out
# A worker that said READY waits on its pipe and says STARTED the moment a job arrives. One
# that has not within TAKE_SECONDS of being given the job is hung (SIGSTOP, a stuck
# driver): it is killed and respawned, and the job goes to the new worker once it is
# ready, not counted as an attempt (the job never began). START_GRACE is for a worker
# still loading its weights, never for one that said it is ready.
TAKE_SECONDS = 10.0


@dataclass
class _Worker:
    spec: WorkerSpec
    process: mp.Process | None = None
    conn: object = None
    job: PoolJob | None = None
    assigned_at: float = 0.0
    started_at: float | None = None   # when the worker began the job (after its warm-up)
    sent_at: float | None = None      # when the job went down the pipe to a ready worker
    hung_on: int | None = None        # the job a hung worker held: its respawn gets it
    info: SlotUp | None = None        # its hello: the process and device it runs on
    cached_styles: set = field(default_factory=set)
    busy_seconds: float = 0.0
    progress: Progress | None = None
    spawned_at: float = 0.0
    warmed: bool = False     # said READY after its hello: takes jobs (warming.py)
    hello_at: float = 0.0
    startup: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return bool(self.info) and self.warmed and self.job is None and self.alive

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def view(self) -> SlotView:
        state = SlotState.BUSY if self.job else (
            SlotState.IDLE if self.ready else
            SlotState.WARMING if self.info and self.alive else SlotState.STARTING)
        return SlotView(self.spec.id, self.spec.device, self.spec.node, state,
                        self.job.job_id if self.job else None,
                        self.progress.values() if self.progress else None,
                        frozenset(self.cached_styles),
                        self.info.memory_bytes if self.info else 0,
                        self.info.pid if self.info else None, self.busy_seconds)


@contextmanager
def _environment(extra: dict):
    """Spawned children copy os.environ at start(); set the worker's pinning just for that."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class DevicePool:
    """Implements pool.executor.Executor with worker processes on this box."""
    kind = "local"

    def __init__(self, specs: list[WorkerSpec], weights: str = "bundled",
                 job_timeout: float = 3600, on_oom: str = "smaller", log_level: str = "INFO",
                 parent_logger=None, warm: bool | None = None,
                 warm_params: RenderParams | None = None):
        self.ctx = mp.get_context("spawn")
        self._workers = [_Worker(s) for s in specs]
        self.weights = weights
        self.job_timeout = job_timeout
        self.on_oom = on_oom
        self.log_level = log_level
        self.parent_logger = parent_logger  # an enqueued loguru logger workers write through
        self.warm = warm                    # executor.warm: None = on CUDA only (warming.py)
        self.warm_params = warm_params      # the configured job, whose stages warming renders
        self.started_at = time.monotonic()

    @classmethod
    def from_config(cls, config, parent_logger=None) -> "DevicePool":
        return cls(plan_workers(config.devices, config.jobs_per_device,
                                job_bytes=_auto_job_bytes(config)), config.weights,
                   config.job_timeout, config.on_oom, config.logging.level,
                   parent_logger=parent_logger, warm=config.executor.warm,
                   warm_params=config.render_params())

    @classmethod
    def capacity_problem(cls, config) -> None:
        """The config refuses an empty `devices`, and a device this box lacks fails at
        start with its own message: nothing more to tell here."""
        return None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Every worker is spawned at once (start() returns before any says hello); they
        import, load and warm in parallel, and each takes jobs when it says READY."""
        for w in self._workers:
            self._spawn(w)

    def _spawn(self, w: _Worker) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=worker_main, name=f"deepart-worker {w.spec.id}",
                                args=(w.spec, child, self.weights, self.on_oom, self.log_level,
                                      self.parent_logger, self.warm, self.warm_params),
                                daemon=True)
        with _environment(w.spec.env):
            proc.start()
        child.close()
        w.process, w.conn, w.info, w.job, w.progress = proc, parent, None, None, None
        w.cached_styles, w.warmed, w.startup, w.sent_at = set(), False, {}, None
        w.spawned_at = time.monotonic()

    def _kill(self, w: _Worker) -> None:
        if w.process is not None and w.process.is_alive():
            w.process.kill()
        if w.process is not None:
            w.process.join(timeout=10)
        if w.conn is not None:
            w.conn.close()

    def shutdown(self, grace: float = 10.0) -> None:
        for w in self._workers:
            if w.alive:
                try:
                    w.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
        deadline = time.monotonic() + grace
        for w in self._workers:
            if w.process is not None:
                w.process.join(timeout=max(0.1, deadline - time.monotonic()))
            self._kill(w)

    # -- work ---------------------------------------------------------------------------
    def slots(self) -> list[SlotView]:
        return [w.view() for w in self._workers]

    def running_jobs(self) -> list[int]:
        return [w.job.job_id for w in self._workers if w.job is not None]

    def all_ready(self) -> bool:
        return all(w.info for w in self._workers)

    def capacity(self) -> Capacity:
        return Capacity(len(self._workers), "" if self._workers else
                        "no render worker is planned on this box (devices)")

    def healthy(self) -> bool:
        return all(w.process is not None for w in self._workers)

    def assign(self, slot_id: str, job: PoolJob) -> None:
        w = next(w for w in self._workers if w.spec.id == slot_id)
        if not w.ready:
            raise RuntimeError(f"slot {slot_id} is not idle; cannot take job {job.job_id}")
        w.job, w.assigned_at, w.progress, w.started_at = job, time.monotonic(), None, None
        self._send(w)

    def _send(self, w: _Worker) -> None:
        w.sent_at = time.monotonic()
        w.conn.send(w.job)

    def poll(self, timeout: float = 0.5) -> list[ExecutorEvent]:
        events: list[ExecutorEvent] = []
        conns = {w.conn: w for w in self._workers if w.conn is not None and not w.conn.closed}
        for conn in wait(list(conns), timeout=timeout) if conns else []:
            w = conns[conn]
            while True:
                try:
                    if not conn.poll():
                        break
                    message = ExecutorEvent.from_dict(conn.recv())
                except (EOFError, OSError):
                    break  # the liveness check below reports the crash
                if isinstance(message, JobStarted):
                    if w.job is not None and w.job.job_id == message.job_id:
                        w.started_at, w.hung_on = time.monotonic(), None
                    continue
                events.append(self._on_message(w, message))
        events.extend(self._check_health())
        return events

    def _on_message(self, w: _Worker, message: ExecutorEvent) -> ExecutorEvent:
        if isinstance(message, SlotUp):
            w.info, w.hello_at = message, time.monotonic()
            logger.info("worker {} up (pid {}, device {}, CUDA_VISIBLE_DEVICES={!r})",
                        w.spec.id, message.pid, message.torch_device,
                        message.cuda_visible_devices)
        elif isinstance(message, SlotReady):
            w.warmed, w.startup = True, dict(message.startup or {},
                                             spawn_to_ready_s=round(time.monotonic() -
                                                                    w.spawned_at, 3))
            logger.info("worker {} ready {:.1f} s after its spawn ({})", w.spec.id,
                        w.startup["spawn_to_ready_s"], ", ".join(
                            f"{p['part']} {p['wall_s']:.1f} s" for p in
                            w.startup.get("parts", [])))
            if w.job is not None:   # the job its hung predecessor never began
                logger.info("job {} goes to the respawned worker {}", w.job.job_id, w.spec.id)
                self._send(w)
        elif isinstance(message, Progress):
            w.progress = message
        elif isinstance(message, (RenderDone, JobTrouble)):
            w.busy_seconds += time.monotonic() - w.assigned_at
            if isinstance(message, RenderDone) and message.style_key:
                w.cached_styles.add(message.style_key)
            w.job, w.progress = None, None
        return message

    def _check_health(self) -> list[ExecutorEvent]:
        events = []
        now = time.monotonic()
        for w in self._workers:
            if self._hung(w, now):
                events.extend(self._replace_hung(w, now))
            elif w.job is not None and self._overdue(w, now):
                logger.warning("job {} on {} passed job_timeout ({} s): killing the worker",
                               w.job.job_id, w.spec.id, self.job_timeout)
                events.append(self._restart(w, EventKind.TIMEOUT,
                                            f"ran longer than job_timeout ({self.job_timeout} s)"))
            elif w.info and not w.warmed and w.alive and now - w.hello_at > START_GRACE:
                logger.warning("worker {} still warming {:.0f} s after its hello: restarting it",
                               w.spec.id, now - w.hello_at)
                events.append(self._restart(w, EventKind.CRASHED, "stuck warming"))  # a
                # job only when it is the respawn of a hung worker: given back as a crash
            elif w.process is not None and not w.process.is_alive():
                code = w.process.exitcode
                logger.warning("worker {} died (exit code {})", w.spec.id, code)
                events.append(self._restart(w, EventKind.CRASHED,
                                            f"worker process died with exit code {code}"))
        return [e for e in events if e is not None]

    def _hung(self, w: _Worker, now: float) -> bool:
        """Ready, given a job, and silent about it for TAKE_SECONDS."""
        return (w.job is not None and w.started_at is None and w.warmed
                and w.sent_at is not None and now - w.sent_at > TAKE_SECONDS)

    def _replace_hung(self, w: _Worker, now: float) -> list[ExecutorEvent]:
        """Kill and respawn a hung worker. Its job never began: the respawned worker gets
        it when ready, no attempt counted. A second hang on the same job gives the job
        back to the daemon as a crash, to be retried (on any slot) as crashes are."""
        job = w.job
        pid = w.info.pid if w.info else None
        if w.hung_on == job.job_id:
            logger.warning("worker {} (pid {}) hung again before it began job {}: "
                           "restarting it; the job is given back", w.spec.id, pid, job.job_id)
            return [self._restart(w, EventKind.CRASHED, (
                f"worker {w.spec.id} hung twice before it began the job (did not take it "
                f"within {TAKE_SECONDS:.0f} s)"))]
        logger.warning("worker {} (pid {}) said it was ready but has not taken job {} "
                       "{:.0f} s after it was given: it is hung; killing and respawning it "
                       "(the job waits for it and is not counted as an attempt)",
                       w.spec.id, pid, job.job_id, now - w.sent_at)
        self._kill(w)
        self._spawn(w)
        w.job, w.hung_on = job, job.job_id   # sent again on the new worker's READY
        return []

    def _overdue(self, w: _Worker, now: float) -> bool:
        """job_timeout counts from when the worker began the job, not from its assignment: a
        respawned worker loading its weights is not the job's fault. A ready worker that does
        not begin is hung (`_hung`, TAKE_SECONDS); this is the last net behind that and the
        warming rule: a job that never began is given START_GRACE more."""
        if w.started_at is not None:
            return now - w.started_at > self.job_timeout
        return now - w.assigned_at > self.job_timeout + START_GRACE

    def _restart(self, w: _Worker, kind: EventKind, message: str) -> JobTrouble | None:
        job, w.hung_on = w.job, None
        if job is not None:
            w.busy_seconds += time.monotonic() - w.assigned_at
        self._kill(w)
        self._spawn(w)
        if job is None:
            return None
        return job_lost(kind, w.spec.id, job.job_id, message)

    # -- observability ------------------------------------------------------------------
    def status(self) -> list[dict]:
        return [w.view().to_dict() for w in self._workers]

    def busy_seconds(self) -> dict[str, float]:
        now = time.monotonic()
        totals: dict[str, float] = {}
        for w in self._workers:
            extra = now - w.assigned_at if w.job else 0.0
            totals[w.spec.device] = totals.get(w.spec.device, 0.0) + w.busy_seconds + extra
        return totals


def end_helper_processes(timeout: float = 10.0) -> None:
    """End, and wait for, the processes multiprocessing started beside this one; call it
    last, once the workers are shut down and the enqueued log sinks are removed.

    Every spawn, and every spawn-context lock (loguru's enqueued sinks hold some), starts
    multiprocessing's resource tracker: a python child that exits only after the last
    process holding its pipe has exited. Left alone it ends just after the daemon, but
    systemd (KillMode=mixed) SIGKILLs whatever is left in the cgroup the moment the main
    process is gone, and logs that it had to. So: join spawned children still alive (kill
    the ones that will not go), let the locks that are gone send their last unregister,
    then close the tracker's pipe and reap it (ResourceTracker._stop, the stdlib's own way
    to stop it, in every CPython from 3.8). A lock finalized after this would start a new
    tracker; hence "last".
    """
    for child in mp.active_children():
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join(timeout)
    gc.collect()
    from multiprocessing import resource_tracker
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def _auto_job_bytes(config) -> int | None:
    """What `jobs_per_device: auto` plans per worker: the default job's memory estimate."""
    if config.jobs_per_device != "auto":
        return None
    from .devices import job_memory_bytes
    return job_memory_bytes(config.render_params())
