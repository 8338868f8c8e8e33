"""The executor protocol: what the daemon may know about where renders run.

The daemon owns the watcher, the journal and the outbox; an executor only renders. It
talks to the daemon through this module alone: jobs in (`assign`), typed events out
(`poll`, one dataclass per kind: events.py), and a read-only view of its slots. A backend
is one module with a class that implements `Executor` and a `from_config` constructor,
plus its name in `BACKENDS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.jobspec import JobSpec
from ..core.states import EventKind, SlotState  # noqa: F401  (importers)
from ..errors import ConfigError
from .events import ExecutorEvent


PoolEvent = ExecutorEvent   # the name the local pool has always used


@dataclass
class PoolJob:
    """One render as an executor sees it: the journal's spec plus the attempt number.
    `spec` may be given as the journal's stored dict; it is restored to a JobSpec."""
    job_id: int
    attempt: int
    spec: JobSpec
    style_key: str = ""
    campaign: str = ""
    priority: int = 0

    def __post_init__(self):
        self.spec = JobSpec.of(self.spec)


@dataclass(frozen=True)
class SlotView:
    """A read-only picture of one slot (a local worker process or a Ray actor)."""
    id: str
    device: str              # what the user named: "cuda:0", "cpu"
    node: str                # host name (local) or node address/id (Ray)
    state: SlotState
    job_id: int | None = None
    progress: dict | None = None
    cached_styles: frozenset = frozenset()
    memory_bytes: int = 0    # this slot's own device memory (0 until it said hello)
    pid: int | None = None
    busy_seconds: float = 0.0

    @property
    def idle(self) -> bool:
        return self.state is SlotState.IDLE

    def to_dict(self) -> dict:
        """status.json's `workers` entries (the keys `status` has always printed)."""
        return {"worker": self.id, "device": self.device, "node": self.node, "pid": self.pid,
                "state": self.state.value, "job": self.job_id, "progress": self.progress,
                "memory_bytes": self.memory_bytes, "busy_seconds": round(self.busy_seconds, 3)}


@dataclass(frozen=True)
class Capacity:
    """How many slots can render here at all (starting ones count; busy ones too). Zero
    means this setup can render nothing, and `why_none` says why in one line: the daemon
    then holds photos (no_device) or a bulk pass exits, instead of waiting forever."""
    slots: int
    why_none: str = ""

    def to_dict(self) -> dict:
        return {"slots": self.slots, "why_none": self.why_none}


@runtime_checkable
class Executor(Protocol):
    """Where jobs render. The daemon calls these from its main thread only."""
    kind: str                 # "local", "ray": written into reports and status
    started_at: float         # time.monotonic() at construction, for the uptime metric

    def start(self) -> None: ...
    def slots(self) -> list[SlotView]: ...
    def all_ready(self) -> bool: ...
    def assign(self, slot_id: str, job: PoolJob) -> None: ...
    def poll(self, timeout: float = 0.5) -> list[ExecutorEvent]: ...
    def running_jobs(self) -> list[int]: ...
    def capacity(self) -> Capacity: ...    # after start(); may change (Ray nodes come, go)
    def healthy(self) -> bool: ...
    def status(self) -> list[dict]: ...
    def busy_seconds(self) -> dict[str, float]: ...
    def shutdown(self, grace: float = 10.0) -> None: ...


# kind -> "module:Class"; the class has from_config(config, parent_logger). Imported lazily,
# so the local daemon never imports ray.
BACKENDS = {
    "local": "deepart_batch.pool.pool:DevicePool",
    "ray": "deepart_batch.pool.ray_executor:RayExecutor",
}


def executor_class(kind: str) -> type:
    """The class `kind` names: a key of BACKENDS, or a dotted path package.module:Class or
    package.module.Class (the way rq takes a worker class)."""
    path = BACKENDS.get(kind, kind)
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"executor.kind {kind!r}: cannot import {name} from {module} "
                         f"({exc}); use local, ray or package.module:Class") from None


def make_executor(config, parent_logger=None) -> Executor:
    """The executor `config.executor.kind` names."""
    return executor_class(config.executor.kind).from_config(config, parent_logger)


def capacity_problem(config) -> str | None:
    """For `validate`, without starting anything: one line when the executor the config
    names could render nothing (its class's `capacity_problem(config)`); None when it can,
    or when that cannot be told now (also for a class without that method)."""
    check = getattr(executor_class(config.executor.kind), "capacity_problem", None)
    return check(config) if check else None
