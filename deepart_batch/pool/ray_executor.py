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
from dataclasses import dataclass, field, replace
from pathlib import Path

import ray
from loguru import logger
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .. import testing
from ..errors import ConfigError
from .devices import WorkerSpec
from .events import ExecutorEvent, JobTrouble, Progress, RenderDone, SlotUp, job_lost
from .executor import Capacity, EventKind, PoolJob, SlotState, SlotView
from .ray_actor import RenderActor
from .ray_capacity import NOTHING_CAN_RENDER, actors_on, cluster_problem

_ACTOR_GONE = (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
               ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
               ray.exceptions.OwnerDiedError)
PROGRESS_EVERY = 0.5   # seconds between progress questions to a busy actor
_RemoteRenderActor = ray.remote(RenderActor)


@dataclass
class _Slot:
    spec: WorkerSpec
    node_id: str
    actor: object = None
    hello_ref: object = None
    info: SlotUp | None = None      # the actor's hello
    job: PoolJob | None = None
    render_ref: object = None
    progress_ref: object = None
    asked_at: float = 0.0
    assigned_at: float = 0.0
    progress: Progress | None = None
    cached_styles: set = field(default_factory=set)
    busy_seconds: float = 0.0
    draining: bool = False

    def view(self) -> SlotView:
        if self.job is not None:
            state = SlotState.BUSY
        elif not self.info:
            state = SlotState.STARTING
        else:
            state = SlotState.DRAINING if self.draining else SlotState.IDLE
        return SlotView(self.spec.id, self.device, self.spec.node,
                        state, self.job.job_id if self.job else None,
                        self.progress.values() if self.progress else None,
                        frozenset(self.cached_styles),
                        self.info.memory_bytes if self.info else 0,
                        self.info.pid if self.info else None, self.busy_seconds)

    @property
    def device(self) -> str:
        """The device the actor renders on, once it said hello (Ray picks the GPU)."""
        return self.info.device if self.info else self.spec.device


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
        self._slots: dict[str, _Slot] = {}
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
        draining = self._drain_list()
        for node_id, node in nodes.items():
            if node_id not in self._nodes:
                self._add_node(node_id, node)
            name = self._nodes[node_id]
            for slot in self._slots.values():
                if slot.node_id == node_id:
                    slot.draining = bool(draining & {name, node_id, node_id[:8],
                                                     node["NodeManagerAddress"]})
        return events

    def _add_node(self, node_id: str, node: dict) -> None:
        name = f"{node['NodeManagerAddress']}/{node_id[:8]}"
        self._nodes[node_id] = name
        resources = node.get("Resources", {})
        cpus = resources.get("CPU", 0)
        gpus, cpu_actors = actors_on(resources, self.cpu_actors_per_node, self.cpus_per_actor)
        if 0 < cpus and cpu_actors < self.cpu_actors_per_node:
            logger.warning("ray: node {} has {} CPU(s): {} CPU actor(s) of {} CPU(s), not {}",
                           name, cpus, cpu_actors, self.cpus_per_actor, self.cpu_actors_per_node)
        threads = max(1, int(self.cpus_per_actor))
        specs = [WorkerSpec(f"{node_id[:8]}/cuda#{i}", "cuda", "cuda:0", 1, {}, name, "ray")
                 for i in range(gpus)]
        specs += [WorkerSpec(f"{node_id[:8]}/cpu#{i}", "cpu", "cpu", threads, {}, name, "ray")
                  for i in range(cpu_actors)]
        for spec in specs:
            self._slots[spec.id] = slot = _Slot(spec, node_id)
            self._spawn(slot)
        logger.info("ray: node {} joined: {} GPU actor(s), {} CPU actor(s)", name, gpus,
                    cpu_actors)

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

    def _spawn(self, slot: _Slot) -> None:
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

    def _kill(self, slot: _Slot) -> None:
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

    def _drain_list(self) -> set[str]:
        """Node names, ids (or their first 8 characters) or addresses, one a line."""
        try:
            text = Path(self.drain_file).read_text() if self.drain_file else ""
        except OSError:
            return set()
        return {line.split("#")[0].strip() for line in text.splitlines()} - {""}

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
        styles = [self._style_ref(s.path) for s in job.spec.styles]
        slot.render_ref = slot.actor.render.remote(job, photo, mask, *styles)
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

    def _on_hello(self, slot: _Slot) -> list[ExecutorEvent]:
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

    def _on_progress(self, slot: _Slot) -> list[ExecutorEvent]:
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

    def _on_result(self, slot: _Slot) -> list[ExecutorEvent]:
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

    def _lose_job(self, slot: _Slot, kind: EventKind, message: str) -> JobTrouble | None:
        """Forget the slot's job (a late result is never read) and say why."""
        job = slot.job
        if job is None:
            return None
        slot.busy_seconds += time.monotonic() - slot.assigned_at
        slot.job, slot.progress = None, None
        return job_lost(kind, slot.spec.id, job.job_id, message, node=slot.spec.node)

    def _replace(self, slot: _Slot) -> list[ExecutorEvent]:
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
