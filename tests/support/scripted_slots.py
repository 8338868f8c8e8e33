"""An executor of slots with set memory sizes that records what the daemon assigns (no
renders): for tests of dispatch alone, with a service from compose()."""

from __future__ import annotations

from deepart_batch.pool import Capacity, PoolJob, SlotState, SlotView


class ScriptedExecutor:
    """Slots with set memory sizes, recording what the daemon assigns (no renders)."""
    kind = "scripted"
    started_at = 0.0

    def __init__(self, slots):
        self._slots = slots
        self.assigned = []

    def slots(self):
        return list(self._slots)

    def assign(self, slot_id, job: PoolJob):
        self.assigned.append((slot_id, job.job_id))

    def capacity(self):
        return Capacity(len(self._slots))


def slot(id, memory, state=SlotState.IDLE):
    return SlotView(id, "cuda:0", f"node-{id}", state, memory_bytes=memory)
