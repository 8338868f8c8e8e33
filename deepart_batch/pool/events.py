"""Executor events, typed: one dataclass per EventKind.

A worker process makes them (sent over its pipe, or returned by a Ray actor) and an
executor hands them to the daemon from `poll`; the daemon makes OutboxFailed itself. Where
one crosses a process it travels as `to_dict()` (with a `kind` key) and comes back with
`ExecutorEvent.from_dict`, which refuses a kind or field it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..core.states import EventKind, FailureReason
from ..report import RenderReport


@dataclass(frozen=True)
class ExecutorEvent:
    """What every event says: which slot, and which job (None: news of the slot itself)."""
    worker: str              # the slot id
    job_id: int | None

    kind: ClassVar[EventKind]
    _by_kind: ClassVar[dict[EventKind, type["ExecutorEvent"]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "kind" in cls.__dict__:
            ExecutorEvent._by_kind[cls.kind] = cls

    def to_dict(self) -> dict:
        """The wire form (pickled by multiprocessing or Ray): plain values, bytes kept."""
        return {"kind": self.kind.value,
                **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_dict(cls, d: dict) -> "ExecutorEvent":
        """The event `d["kind"]` names; ValueError for an unknown kind or field."""
        data = dict(d)
        kind = EventKind(data.pop("kind"))
        event_type = ExecutorEvent._by_kind.get(kind)
        if event_type is None:
            raise ValueError(f"no event type for kind {kind.value!r}")
        known = {f.name for f in fields(event_type)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{kind.value} event: unknown field(s) {', '.join(unknown)}")
        return event_type(**event_type.decode(data))

    @classmethod
    def decode(cls, data: dict) -> dict:
        """Field values from their wire form (subclasses with typed fields override)."""
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, RenderReport):
        return value.to_dict()
    if isinstance(value, FailureReason):
        return value.value
    return value


@dataclass(frozen=True)
class SlotUp(ExecutorEvent):
    """A slot's process is up and warming: what it runs on (worker -> executor)."""
    kind = EventKind.HELLO
    pid: int
    device: str                 # what the user named: "cuda:0", "cpu"
    torch_device: str
    threads: int
    node: str
    cuda_visible_devices: str | None
    memory_bytes: int           # this slot's own device memory


@dataclass(frozen=True)
class SlotReady(ExecutorEvent):
    """Warmed: the slot takes jobs from now. `startup`: StartupClock.to_dict(), `warmed`:
    what the warming render ran (warming.py); both are shown as they are by `status`."""
    kind = EventKind.READY
    startup: dict
    warmed: dict


@dataclass(frozen=True)
class JobStarted(ExecutorEvent):
    """The worker, warmed up, began the job: job_timeout runs from here."""
    kind = EventKind.STARTED


@dataclass(frozen=True)
class Progress(ExecutorEvent):
    kind = EventKind.PROGRESS
    step: int
    total: int
    loss: float

    def values(self) -> dict:
        """What the journal and `status` keep of it."""
        return {"step": self.step, "total": self.total, "loss": self.loss}


@dataclass(frozen=True)
class OutOfMemory(ExecutorEvent):
    """The render ran out of memory; `action` says what it did next (on_oom). Sent when it
    tries again (smaller, or on the CPU): something the render survived. Every one, the
    last `fail` included, is an entry of the report's `events`."""
    kind = EventKind.EVENT
    device: str
    size: int
    time: float
    policy: str                 # on_oom
    action: str                 # "retry at 384px", "retry on cpu"

    def report_entry(self) -> dict:
        return {"event": "oom", "device": self.device, "size": self.size, "time": self.time,
                "policy": self.policy, "action": self.action}


@dataclass(frozen=True)
class RenderDone(ExecutorEvent):
    kind = EventKind.DONE
    report: RenderReport        # a RenderReport until the outbox writes it
    image: bytes                # the encoded output file
    render_seconds: float | None
    style_key: str              # what the slot's Gram cache now holds

    @classmethod
    def decode(cls, data: dict) -> dict:
        return {**data, "report": RenderReport.from_dict(data["report"])}


@dataclass(frozen=True)
class JobTrouble(ExecutorEvent):
    """A job that ended without an image; `reason` is what the policy decides on."""
    error: str
    reason: FailureReason

    @classmethod
    def decode(cls, data: dict) -> dict:
        return {**data, "reason": FailureReason.parse(data["reason"])} \
            if "reason" in data else data


@dataclass(frozen=True)
class RenderFailed(JobTrouble):
    """The render itself failed (a bad photo, out of memory after on_oom, an error)."""
    kind = EventKind.FAILED


@dataclass(frozen=True)
class JobLost(JobTrouble):
    """The executor gave the job up without an answer from its render; `node`: where it
    ran (a Ray node), when known. Each kind below sets the reason the policy reads."""
    reason: FailureReason = FailureReason.CRASHED
    node: str = ""


@dataclass(frozen=True)
class WorkerDied(JobLost):
    """The worker process or actor died mid-job."""
    kind = EventKind.CRASHED


@dataclass(frozen=True)
class JobTimedOut(JobLost):
    """The job passed job_timeout; its worker was killed."""
    kind = EventKind.TIMEOUT
    reason: FailureReason = FailureReason.TIMEOUT


@dataclass(frozen=True)
class NodeLost(JobLost):
    """The node running the job left the cluster: render it again elsewhere."""
    kind = EventKind.LOST


@dataclass(frozen=True)
class OutboxFailed(JobTrouble):
    """The daemon could not publish a finished render (full, unwritable, gone, unsafe)."""
    kind = EventKind.OUTBOX


def job_lost(kind: EventKind, worker: str, job_id: int, error: str,
             node: str = "") -> JobLost:
    """The event for a job its executor gave up on (CRASHED, TIMEOUT or LOST)."""
    event_type = {EventKind.CRASHED: WorkerDied, EventKind.TIMEOUT: JobTimedOut,
                  EventKind.LOST: NodeLost}[kind]
    return event_type(worker, job_id, error, node=node)
