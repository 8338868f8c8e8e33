"""The Ray executor: one render actor per GPU of every node in a Ray cluster (plus CPU actors
if configured), driven by the daemon on the head box.

The daemon stays the only watcher, journal owner and outbox writer. Each job's photo and
style bytes go to an actor through the object store; the image bytes and report come back
the same way and the daemon publishes them like a local render. Actor death, node loss and
job_timeout come back as CRASHED, LOST and TIMEOUT events, which the daemon requeues through
the journal; a result that arrives after such an event is dropped, so nothing is published
twice. Nodes are looked up every `discover_seconds`: new ones get actors, gone ones are
dropped, and nodes listed in the drain file finish their job and take no new one.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import ray
from loguru import logger
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .. import testing
from ..errors import ConfigError
from .events import ExecutorEvent, JobTrouble, Progress, RenderDone, job_lost
from .executor import Capacity, EventKind, PoolJob, SlotView
from .ray_actor import RenderActor
from .ray_capacity import NOTHING_CAN_RENDER, cluster_problem
from .ray_slots import RaySlot, is_draining, node_name, node_slots, read_drain_list

_ACTOR_GONE = (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
               ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
               ray.exceptions.OwnerDiedError)
PROGRESS_EVERY = 0.5   # seconds between progress questions to a busy actor
_RemoteRenderActor = ray.remote(RenderActor)


class RayExecutor:
    """Implements pool.executor.Executor on a Ray cluster."""
    kind = "ray"

    def __init__(self, address: str = "auto", namespace: str = "deepart-batch",
                 weights: str = "bundled", job_timeout: float = 3600, on_oom: str = "smaller",
                 cpu_actors_per_node: int = 0, cpus_per_actor: float = 1.0,
                 discover_seconds: float = 10.0, drain_file: Path | None = None):
        self.address, self.namespace = address, namespace
        self.weights, self.job_timeout, self.on_oom = weights, job_timeout, on_oom
        self.cpu_actors_per_node, self.cpus_per_actor = cpu_actors_per_node, cpus_per_actor
        self.discover_seconds, self.drain_file = discover_seconds, drain_file
        self.fault = testing.injected_fault_text()   # tests of the failure paths
        self.started_at = time.monotonic()
        self._slots: dict[str, RaySlot] = {}
        self._nodes: dict[str, str] = {}        # alive node id -> its name in reports
        self._styles: dict[tuple, object] = {}  # (path, mtime, size) -> ObjectRef of its bytes
        self._discovered_at = 0.0
        self._connected = False

    @classmethod
    def from_config(cls, config, parent_logger=None) -> "RayExecutor":
        from ..settings.config_check import ignored_settings
        if ignored := ignored_settings(config):
            logger.warning(ignored)
        ex = config.executor
        return cls(ex.address, ex.namespace, config.weights, config.job_timeout,
                   config.on_oom, ex.cpu_actors_per_node, ex.cpus_per_actor,
                   ex.discover_seconds, ex.drain_file or Path(config.state_dir) / "drain-nodes")

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        # ray.init installs its own SIGTERM handler, which aborts the process; the daemon's
        # (drain, then stop) must stay in charge of its signals.
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            ray.init(address=self.address, namespace=self.namespace, ignore_reinit_error=True,
                     logging_level="WARNING", configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"executor.address: cannot join the Ray cluster at {self.address!r} "
                f"({_first_line(exc)}); start its head with `ray start --head` on this box, "
                f"or set executor.address to the head's host:port") from None
        finally:
            for sig, handler in saved.items():
                if handler is not None:
                    signal.signal(sig, handler)
        self._connected = True
        logger.info("ray: connected to the cluster at {}", self.address)
        self._discover()
        if not self._slots:
            logger.error("ray: {}", self.capacity().why_none)

    @classmethod
    def capacity_problem(cls, config) -> str | None:
        """`validate`: ray_capacity.cluster_problem."""
        return cluster_problem(config.executor)

    def capacity(self) -> Capacity:
        if self._slots:
            return Capacity(len(self._slots))
        return Capacity(0, NOTHING_CAN_RENDER.format(address=self.address,
                                                      nodes=len(self._nodes)))

    def shutdown(self, grace: float = 10.0) -> None:
        for slot in list(self._slots.values()):
            self._kill(slot)
        self._slots.clear()
        if ray.is_initialized():
            ray.shutdown()
        self._connected = False

    # -- nodes and actors ---------------------------------------------------------------
    def _discover(self) -> list[ExecutorEvent]:
        """New nodes get actors; gone nodes are dropped (their jobs come back as LOST)."""
        self._discovered_at = time.monotonic()
        try:
            nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
            self._connected = True
        except Exception as exc:   # the head is unreachable: keep what we have, say so
            logger.error("ray: cannot list the cluster's nodes: {}", exc)
            self._connected = False
            return []
        events = []
        for node_id in list(self._nodes):
            if node_id not in nodes:
                events += self._drop_node(node_id)
        drain = read_drain_list(self.drain_file)
        for node_id, node in nodes.items():
            if node_id not in self._nodes:
                self._add_node(node_id, node)
            draining = is_draining(drain, node_id, node)
            for slot in self._slots.values():
                if slot.node_id == node_id:
                    slot.draining = draining
        return events

    def _add_node(self, node_id: str, node: dict) -> None:
        self._nodes[node_id] = name = node_name(node_id, node)
        slots = node_slots(node_id, node, self.cpu_actors_per_node, self.cpus_per_actor)
        for slot in slots:
            self._slots[slot.spec.id] = slot
            self._spawn(slot)
        gpus = sum(1 for slot in slots if slot.spec.device == "cuda")
        logger.info("ray: node {} joined: {} GPU actor(s), {} CPU actor(s)", name, gpus,
                    len(slots) - gpus)

    def _drop_node(self, node_id: str) -> list[ExecutorEvent]:
        name = self._nodes.pop(node_id)
        events = []
        gone = [s for s in self._slots.values() if s.node_id == node_id]
        for slot in gone:
            event = self._lose_job(slot, EventKind.LOST, f"node {name} left the Ray cluster")
            events += [event] if event else []
            self._kill(slot)
            del self._slots[slot.spec.id]
        logger.warning("ray: node {} left the cluster: dropped its {} actor(s); {} running "
                       "job(s) go back to the queue", name, len(gone), len(events))
        return events

    def _spawn(self, slot: RaySlot) -> None:
        gpu = slot.spec.device == "cuda"
        options = dict(num_gpus=1 if gpu else 0, num_cpus=1 if gpu else self.cpus_per_actor,
                       max_concurrency=2, max_restarts=0, max_task_retries=0,
                       scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id,
                                                                          soft=False))
        slot.actor = _RemoteRenderActor.options(**options).remote(
            slot.spec, self.weights, self.on_oom, self.fault)
        slot.hello_ref = slot.actor.hello.remote()
        slot.info, slot.job, slot.render_ref, slot.progress_ref = None, None, None, None
        slot.progress, slot.cached_styles = None, set()

    def _kill(self, slot: RaySlot) -> None:
        if slot.render_ref is not None:
            try:
                ray.cancel(slot.render_ref)
            except Exception:  # already finished or its actor is gone
                pass
        if slot.actor is not None:
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:
                pass
        slot.actor = slot.render_ref = slot.progress_ref = slot.hello_ref = None

    # -- work ---------------------------------------------------------------------------
    def slots(self) -> list[SlotView]:
        return [s.view() for s in self._slots.values()]

    def all_ready(self) -> bool:
        return bool(self._slots) and all(s.info for s in self._slots.values())

    def healthy(self) -> bool:
        return self._connected

    def running_jobs(self) -> list[int]:
        return [s.job.job_id for s in self._slots.values() if s.job is not None]

    def assign(self, slot_id: str, job: PoolJob) -> None:
        slot = self._slots[slot_id]
        if slot.job is not None or not slot.info or slot.draining:
            raise RuntimeError(f"slot {slot_id} is not idle; cannot take job {job.job_id}")
        photo = ray.put(Path(job.spec.content).read_bytes())
        # the region mask's claimed copy travels as the photo does (b"": no mask)
        mask = ray.put(Path(job.spec.mask).read_bytes() if job.spec.mask else b"")
        # and so does a print's approved preview, which it starts from (b"": not a print)
        init = ray.put(Path(job.spec.init_from).read_bytes() if job.spec.init_from else b"")
        styles = [self._style_ref(s.path) for s in job.spec.styles]
        slot.render_ref = slot.actor.render.remote(job, photo, mask, init, *styles)
        slot.job, slot.assigned_at, slot.progress = job, time.monotonic(), None
        slot.asked_at = slot.assigned_at

    def _style_ref(self, path: str):
        """A style's bytes go into the object store once, not once per job."""
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in self._styles:
            self._styles[key] = ray.put(Path(path).read_bytes())
        return self._styles[key]

    def poll(self, timeout: float = 0.5) -> list[ExecutorEvent]:
        events: list[ExecutorEvent] = []
        if time.monotonic() - self._discovered_at >= self.discover_seconds:
            events += self._discover()
        self._ask_progress()
        owners = {}
        for slot in self._slots.values():
            for ref in (slot.hello_ref, slot.render_ref, slot.progress_ref):
                if ref is not None:
                    owners[ref] = slot
        if not owners:
            time.sleep(timeout)
            return events + self._check_timeouts()
        ready, rest = ray.wait(list(owners), num_returns=1, timeout=timeout)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in ready:
            slot = owners[ref]
            if slot.spec.id not in self._slots or slot.actor is None:
                continue   # dropped by an event handled earlier in this loop
            if ref is slot.hello_ref:
                events += self._on_hello(slot)
            elif ref is slot.render_ref:
                events += self._on_result(slot)
            elif ref is slot.progress_ref:
                events += self._on_progress(slot)
        return events + self._check_timeouts()

    def _ask_progress(self) -> None:
        now = time.monotonic()
        for slot in self._slots.values():
            if slot.job is not None and slot.progress_ref is None and \
                    now - slot.asked_at >= PROGRESS_EVERY:
                slot.progress_ref, slot.asked_at = slot.actor.progress.remote(), now

    def _on_hello(self, slot: RaySlot) -> list[ExecutorEvent]:
        ref, slot.hello_ref = slot.hello_ref, None
        try:
            slot.info = ExecutorEvent.from_dict(ray.get(ref))
        except _ACTOR_GONE as exc:
            logger.error("ray: actor {} on {} did not start: {}", slot.spec.id, slot.spec.node,
                         _first_line(exc))
            return self._replace(slot)
        logger.info("ray: actor {} up on {} (pid {}, device {}, {:.1f} GiB)", slot.spec.id,
                    slot.spec.node, slot.info.pid, slot.info.device,
                    slot.info.memory_bytes / 2**30)
        return []

    def _on_progress(self, slot: RaySlot) -> list[ExecutorEvent]:
        ref, slot.progress_ref = slot.progress_ref, None
        try:
            answer = ray.get(ref)
        except _ACTOR_GONE:
            return []   # the render's own reference reports the death
        if slot.job is None:
            return []
        events = []
        for event in map(ExecutorEvent.from_dict, answer):
            if isinstance(event, Progress):
                if event == slot.progress:
                    continue
                slot.progress = event
            events.append(event)
        return events

    def _on_result(self, slot: RaySlot) -> list[ExecutorEvent]:
        job, ref = slot.job, slot.render_ref
        try:
            message = ExecutorEvent.from_dict(ray.get(ref))
        except _ACTOR_GONE as exc:
            node_gone = not self._node_alive(slot.node_id)
            kind = EventKind.LOST if node_gone else EventKind.CRASHED
            what = (f"node {slot.spec.node} left the Ray cluster" if node_gone else
                    f"actor {slot.spec.id} on {slot.spec.node} died: {_first_line(exc)}")
            logger.warning("ray: job {}: {}", job.job_id, what)
            event = self._lose_job(slot, kind, what)
            return [event] + (self._discover() if node_gone else self._replace(slot))
        slot.busy_seconds += time.monotonic() - slot.assigned_at
        if isinstance(message, RenderDone) and message.style_key:
            slot.cached_styles.add(message.style_key)
        slot.job = slot.render_ref = None
        slot.progress = slot.progress_ref = None
        return [replace(message, worker=slot.spec.id, job_id=job.job_id)]

    def _check_timeouts(self) -> list[ExecutorEvent]:
        events = []
        now = time.monotonic()
        for slot in list(self._slots.values()):
            if slot.job is not None and now - slot.assigned_at > self.job_timeout:
                logger.warning("ray: job {} on {} passed job_timeout ({} s): cancelling it and "
                               "killing the actor", slot.job.job_id, slot.spec.id,
                               self.job_timeout)
                events.append(self._lose_job(slot, EventKind.TIMEOUT,
                                             f"ran longer than job_timeout ({self.job_timeout} s)"))
                self._replace(slot)
        return events

    def _lose_job(self, slot: RaySlot, kind: EventKind, message: str) -> JobTrouble | None:
        """Forget the slot's job (a late result is never read) and say why."""
        job = slot.job
        if job is None:
            return None
        slot.busy_seconds += time.monotonic() - slot.assigned_at
        slot.job, slot.progress = None, None
        return job_lost(kind, slot.spec.id, job.job_id, message, node=slot.spec.node)

    def _replace(self, slot: RaySlot) -> list[ExecutorEvent]:
        """A new actor on the same node, if the node is still there."""
        self._kill(slot)
        if self._node_alive(slot.node_id):
            self._spawn(slot)
        else:
            self._slots.pop(slot.spec.id, None)
        return []

    def _node_alive(self, node_id: str) -> bool:
        try:
            return any(n["NodeID"] == node_id and n.get("Alive") for n in ray.nodes())
        except Exception:
            return False

    # -- observability ------------------------------------------------------------------
    def status(self) -> list[dict]:
        return [s.view().to_dict() for s in self._slots.values()]

    def busy_seconds(self) -> dict[str, float]:
        now = time.monotonic()
        totals: dict[str, float] = {}
        for s in self._slots.values():
            key = f"{s.spec.node} {s.device}"
            extra = now - s.assigned_at if s.job else 0.0
            totals[key] = totals.get(key, 0.0) + s.busy_seconds + extra
        return totals


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
