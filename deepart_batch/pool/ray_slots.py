"""The render slots of a Ray cluster, one per actor: what a node gets (an actor per GPU, and
CPU actors as configured), how a slot looks to the daemon, and which nodes the drain file
names. No Ray here: the executor (ray_executor.py) spawns, asks and kills the actors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from .devices import WorkerSpec
from .events import Progress, SlotUp
from .executor import PoolJob, SlotState, SlotView
from .ray_capacity import actors_on


@dataclass
class RaySlot:
    """One actor's slot: its spec and node, the actor's refs, and the job it renders."""
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


def node_name(node_id: str, node: dict) -> str:
    """A node as reports and logs name it: its address and the start of its id."""
    return f"{node['NodeManagerAddress']}/{node_id[:8]}"


def node_slots(node_id: str, node: dict, cpu_actors_per_node: int,
               cpus_per_actor: float) -> list[RaySlot]:
    """The slots a node of `ray.nodes()` gets, GPU actors first; a node with fewer CPUs
    than the configured CPU actors need gets fewer, and says so."""
    name = node_name(node_id, node)
    resources = node.get("Resources", {})
    cpus = resources.get("CPU", 0)
    gpus, cpu_actors = actors_on(resources, cpu_actors_per_node, cpus_per_actor)
    if 0 < cpus and cpu_actors < cpu_actors_per_node:
        logger.warning("ray: node {} has {} CPU(s): {} CPU actor(s) of {} CPU(s), not {}",
                       name, cpus, cpu_actors, cpus_per_actor, cpu_actors_per_node)
    threads = max(1, int(cpus_per_actor))
    specs = [WorkerSpec(f"{node_id[:8]}/cuda#{i}", "cuda", "cuda:0", 1, {}, name, "ray")
             for i in range(gpus)]
    specs += [WorkerSpec(f"{node_id[:8]}/cpu#{i}", "cpu", "cpu", threads, {}, name, "ray")
              for i in range(cpu_actors)]
    return [RaySlot(spec, node_id) for spec in specs]


def read_drain_list(drain_file: Path | None) -> set[str]:
    """The drain file's entries: node names, ids (or their first 8 characters) or
    addresses, one a line, `#` comments; none when there is no file."""
    try:
        text = Path(drain_file).read_text() if drain_file else ""
    except OSError:
        return set()
    return {line.split("#")[0].strip() for line in text.splitlines()} - {""}


def is_draining(drain: set[str], node_id: str, node: dict) -> bool:
    """Whether the drain list names this node, by any of the names it accepts."""
    return bool(drain & {node_name(node_id, node), node_id, node_id[:8],
                         node["NodeManagerAddress"]})
