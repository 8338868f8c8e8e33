"""Environment variables a person may set, read here and nowhere else (test-only switches
live in deepart_batch.testing).

DEEPART_CACHE_DIR
    where decoded VGG19 weights are cached; else $XDG_CACHE_HOME/deepart-batch, else
    ~/.cache/deepart-batch.
DEEPART_RENDER_LOOP
    how the render loop runs (engine/graphs.LoopOptions.from_env): fast (default: CUDA
    graphs where the device replays them) or benchmark (also cudnn.benchmark). The loop
    before the CUDA-graph loop is the oracle in tests/support/lbfgs_oracle.py, not a switch.
OMP_NUM_THREADS
    OpenMP's own variable: where set, the most threads one CPU render worker uses. Unset,
    the CPU workers split the cores this process may run on (its CPU affinity, which a
    container's or a unit's CPU set narrows) between them.

Protocol variables (NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM, CUDA_VISIBLE_DEVICES) are
read where their protocol is implemented (ops/sdnotify.py, ops/logsetup.py, pool/).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR = "DEEPART_CACHE_DIR"
RENDER_LOOP = "DEEPART_RENDER_LOOP"


def weights_cache_dir() -> Path:
    """DEEPART_CACHE_DIR, else $XDG_CACHE_HOME/deepart-batch, else ~/.cache/deepart-batch."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deepart-batch"


def render_loop() -> str:
    """DEEPART_RENDER_LOOP, lower case; "" when unset."""
    return os.environ.get(RENDER_LOOP, "").strip().lower()


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_thread_cap() -> int | None:
    """OMP_NUM_THREADS as a positive int; None when unset or not a positive number."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
