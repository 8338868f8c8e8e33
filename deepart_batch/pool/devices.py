"""Which worker processes to start, on which devices, with which environment."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True)
class WorkerSpec:
    id: str                  # e.g. "cuda:1#0", "cpu#1"
    device: str              # what the user named: "cuda:1" or "cpu"
    torch_device: str        # inside the worker: "cuda:0" (pinned) or "cpu"
    threads: int             # torch.set_num_threads for CPU workers
    env: dict = field(default_factory=dict)
    node: str = field(default_factory=socket.gethostname)  # named in reports and status
    executor: str = "local"  # the backend that runs it (pool.executor.BACKENDS)


def cuda_device_count() -> int:
    """Real count, unless DEEPART_FAKE_CUDA_COUNT stubs it (tests of the planning logic)."""
    fake = os.environ.get("DEEPART_FAKE_CUDA_COUNT")
    if fake is not None:
        return int(fake)
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:
        return 0


def _visible_devices(visible: str | None) -> list[str] | None:
    """The daemon's own CUDA_VISIBLE_DEVICES as a list (indices, GPU-/MIG- UUIDs), or None
    when it is unset and cuda:N means physical GPU N."""
    if visible is None or not visible.strip():
        return None
    return [v.strip() for v in visible.split(",") if v.strip()]


def plan_workers(devices="auto", jobs_per_device: int = 1, cuda_count: int | None = None,
                 cpu_count: int | None = None, visible: str | None = None) -> list[WorkerSpec]:
    """`auto` means every CUDA device, or else the CPU. Each CUDA worker sees only its own
    GPU through CUDA_VISIBLE_DEVICES; CPU workers split the cores between them.

    cuda:N counts the GPUs the daemon itself sees: where a box hands the service a share of
    its GPUs (CUDA_VISIBLE_DEVICES=2,3 in the unit), cuda:0 is GPU 2 and its worker gets
    CUDA_VISIBLE_DEVICES=2, not 0. `visible` defaults to the daemon's environment."""
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    inherited = _visible_devices(visible)
    cuda_count = cuda_device_count() if cuda_count is None else cuda_count
    cpu_count = cpu_count or os.cpu_count() or 1
    if devices == "auto":
        names = [f"cuda:{i}" for i in range(cuda_count)] or ["cpu"]
    else:
        names = list(devices)
    slots = [name for name in names for _ in range(max(1, jobs_per_device))]
    cpu_slots = sum(1 for n in slots if n == "cpu")
    threads = max(1, cpu_count // cpu_slots) if cpu_slots else 1
    specs, seen = [], {}
    for name in slots:
        n = seen[name] = seen.get(name, -1) + 1
        if name == "cpu":
            specs.append(WorkerSpec(f"cpu#{n}", "cpu", "cpu", threads,
                                    {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads)}))
            continue
        m = re.fullmatch(r"cuda(?::(\d+))?", name)
        if not m:
            raise ConfigError(f"devices: {name!r} is not a device; use auto, cpu, cuda or cuda:N")
        index = int(m.group(1) or 0)
        if index >= cuda_count:
            raise ConfigError(f"devices: {name} does not exist; this box has {cuda_count} "
                              "CUDA device(s)")
        pinned = inherited[index] if inherited and index < len(inherited) else str(index)
        specs.append(WorkerSpec(f"cuda:{index}#{n}", f"cuda:{index}", "cuda:0", 1,
                                {"CUDA_VISIBLE_DEVICES": pinned}))
    return specs
