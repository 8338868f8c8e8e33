"""Which worker processes to start, on which devices, with which environment."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from .. import testing
from ..core.environment import cpu_thread_cap, usable_cpus
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


# Asked of torch in a child process, so that the daemon parent never loads torch or CUDA.
_CUDA_PROBE = ("import json, torch; n = torch.cuda.device_count(); print(json.dumps("
               "[torch.cuda.get_device_properties(i).total_memory for i in range(n)]))")
_NVIDIA_SIGNS = ("/proc/driver/nvidia/gpus", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")


@functools.lru_cache(maxsize=1)
def cuda_inventory() -> tuple[int, ...]:
    """Total memory of each CUDA device this process sees (torch's count and order). A box
    with no NVIDIA driver has none, found without starting anything."""
    if not any(os.path.exists(p) for p in _NVIDIA_SIGNS):
        return ()
    try:
        done = subprocess.run([sys.executable, "-c", _CUDA_PROBE], capture_output=True,
                              text=True, timeout=300)
        return tuple(int(b) for b in json.loads(done.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return ()


def cuda_device_count() -> int:
    """Real count, unless DEEPART_FAKE_CUDA_COUNT stubs it (tests of the planning logic)."""
    fake = testing.fake_cuda_count()
    if fake is not None:
        return int(fake)
    return len(cuda_inventory())


# `jobs_per_device: auto` on a GPU. Measured on one H200, 1024 px default jobs, later jobs of
# each worker (benchmarks/results/gpu-loop.md): 2 workers 2,630 jobs/hour against 2,265 for
# one (one worker's host-side work and syncs overlap the other's kernels); 4 workers were
# slower than 1 over 8 jobs (each pays its own start-up, and kernels only time-slice).
AUTO_CUDA_JOBS = 2
AUTO_MEMORY_SHARE = 0.85   # of a GPU's memory that auto's workers may plan to fill


def auto_jobs_per_device(device: str, memory_bytes: int | None, job_bytes: int | None) -> int:
    """Workers for one device under `jobs_per_device: auto`: one on the CPU (a worker uses
    all its cores already); on a GPU AUTO_CUDA_JOBS, fewer where that many renders' memory
    estimates would not fit in AUTO_MEMORY_SHARE of its memory (never fewer than one)."""
    if not device.startswith("cuda"):
        return 1
    jobs = AUTO_CUDA_JOBS
    if memory_bytes and job_bytes:
        jobs = min(jobs, int(memory_bytes * AUTO_MEMORY_SHARE // job_bytes))
    return max(1, jobs)


def job_memory_bytes(params) -> int:
    """The memory estimate of one render with `params` on a square photo (the largest a
    long side of params.size can make) at fp32: what auto plans each worker to need."""
    from ..engine import budget
    p = params.validated()
    return budget.estimate_memory(p.size, p.size, p.content_layers + p.style_layers, "fp32",
                                  p.optimizer, p.lbfgs_history, p.pooling, p.style_layers)


def cuda_memory_bytes(index: int) -> int | None:
    found = cuda_inventory()
    return found[index] if 0 <= index < len(found) else None


def _visible_devices(visible: str | None) -> list[str] | None:
    """The daemon's own CUDA_VISIBLE_DEVICES as a list (indices, GPU-/MIG- UUIDs), or None
    when it is unset and cuda:N means physical GPU N."""
    if visible is None or not visible.strip():
        return None
    return [v.strip() for v in visible.split(",") if v.strip()]


def plan_workers(devices="auto", jobs_per_device: int | str = 1, cuda_count: int | None = None,
                 cpu_count: int | None = None, visible: str | None = None,
                 job_bytes: int | None = None,
                 cuda_memory: Callable[[int], int | None] = cuda_memory_bytes,
                 thread_cap: int | None = None) -> list[WorkerSpec]:
    """`auto` means every CUDA device, or else the CPU. Each CUDA worker sees only its own
    GPU through CUDA_VISIBLE_DEVICES; CPU workers split the cores this process may use
    between them, each at most OMP_NUM_THREADS threads where that is set (thread_cap).

    cuda:N counts the GPUs the daemon itself sees: where a box hands the service a share of
    its GPUs (CUDA_VISIBLE_DEVICES=2,3 in the unit), cuda:0 is GPU 2 and its worker gets
    CUDA_VISIBLE_DEVICES=2, not 0. `visible` defaults to the daemon's environment.
    jobs_per_device "auto" picks per device (auto_jobs_per_device) from `job_bytes`."""
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    inherited = _visible_devices(visible)
    cuda_count = cuda_device_count() if cuda_count is None else cuda_count
    cpu_count = cpu_count or usable_cpus()
    thread_cap = thread_cap or cpu_thread_cap()
    if devices == "auto":
        names = [f"cuda:{i}" for i in range(cuda_count)] or ["cpu"]
    else:
        names = list(devices)
    def per_device(name: str) -> int:
        if jobs_per_device != "auto":
            return max(1, jobs_per_device)
        m = re.fullmatch(r"cuda(?::(\d+))?", name)
        memory = cuda_memory(int(m.group(1) or 0)) if m and cuda_count else None
        return auto_jobs_per_device(name, memory, job_bytes)

    slots = [name for name in names for _ in range(per_device(name))]
    cpu_slots = sum(1 for n in slots if n == "cpu")
    threads = max(1, cpu_count // cpu_slots) if cpu_slots else 1
    threads = min(threads, thread_cap) if thread_cap else threads
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
