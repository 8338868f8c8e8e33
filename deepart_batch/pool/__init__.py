"""Executors: where renders run. The protocol, the local device pool, the scheduler."""

from .devices import WorkerSpec, plan_workers
from .events import (ExecutorEvent, JobStarted, JobTimedOut, JobTrouble, NodeLost,
                     OutOfMemory, OutboxFailed, Progress, RenderDone, RenderFailed, SlotReady,
                     SlotUp, WorkerDied)
from .executor import (BACKENDS, Capacity, EventKind, Executor, PoolEvent, PoolJob, SlotState,
                       SlotView, capacity_problem, make_executor)
from .pool import DevicePool
from .scheduler import FairScheduler

__all__ = ["WorkerSpec", "plan_workers", "DevicePool", "PoolEvent", "PoolJob", "FairScheduler",
           "BACKENDS", "EventKind", "Executor", "ExecutorEvent", "SlotState", "SlotView",
           "make_executor", "Capacity", "capacity_problem", "JobStarted", "JobTimedOut",
           "JobTrouble", "NodeLost", "OutOfMemory", "OutboxFailed", "Progress", "RenderDone",
           "RenderFailed", "SlotReady", "SlotUp", "WorkerDied"]
