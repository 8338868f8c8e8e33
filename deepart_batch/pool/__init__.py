"""Executors: where renders run. The protocol, the local device pool, the scheduler."""

from .devices import WorkerSpec, plan_workers
from .executor import (BACKENDS, Capacity, EventKind, Executor, ExecutorEvent, PoolEvent,
                       PoolJob, SlotState, SlotView, WorkerMessage, capacity_problem,
                       make_executor)
from .pool import DevicePool
from .scheduler import FairScheduler

__all__ = ["WorkerSpec", "plan_workers", "DevicePool", "PoolEvent", "PoolJob", "FairScheduler",
           "BACKENDS", "EventKind", "Executor", "ExecutorEvent", "SlotState", "SlotView",
           "WorkerMessage", "make_executor", "Capacity", "capacity_problem"]
