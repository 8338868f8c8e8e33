"""The device pool: one spawned worker process per device slot, fed by a fair scheduler."""

from .devices import WorkerSpec, plan_workers
from .pool import DevicePool, PoolEvent, PoolJob
from .scheduler import FairScheduler

__all__ = ["WorkerSpec", "plan_workers", "DevicePool", "PoolEvent", "PoolJob", "FairScheduler"]
