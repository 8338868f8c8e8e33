"""Memory on a device: the refusal that uses budget.py's estimate before any allocation,
what a device has free now, and the measurement of what a render actually used.

The pure arithmetic lives in budget.py (no torch: the daemon's planner uses it); its names
are re-exported here for the engine's callers.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import torch

from .budget import (MemoryLimitError, activation_bytes, estimate_forward_memory,  # noqa: F401
                     estimate_memory, gib, largest_whole_size, layer_numel, long_side_shape,
                     optimizer_state_bytes)

largest_fitting_size = largest_whole_size   # the name check_fits' callers have always used


def check_fits(height: int, width: int, limit: int, **estimate_kw) -> int:
    """Raise MemoryLimitError naming a size that would fit; return the estimate if it fits."""
    need = estimate_memory(height, width, **estimate_kw)
    if need <= limit:
        return need
    fit = largest_whole_size(height, width, limit, **estimate_kw)
    hint = (f"size {fit} would fit" if fit else "no size would fit")
    extra = (f"; lbfgs_history {estimate_kw.get('history')} -> 10 or optimizer adam also "
             "saves memory" if estimate_kw.get("optimizer", "lbfgs") == "lbfgs" else "")
    raise MemoryLimitError(
        f"size {max(height, width)} ({width}x{height} px) needs about {gib(need)} at "
        f"{estimate_kw.get('precision', 'fp32')} but only {gib(limit)} is available: "
        f"{hint}{extra}")


def available_memory(device: torch.device) -> int:
    """Bytes a render may use now: CUDA free memory plus what PyTorch's cache holds
    unused; on the CPU, MemAvailable from /proc/meminfo (else free pages)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class PeakMemory:
    """What a render used at its peak, and how that was measured.

    CUDA: torch.cuda.max_memory_allocated() during the render ("cuda_max_allocated").
    CPU: the peak growth of the process's resident set over its size when the render
    started, sampled every `interval` s by a thread ("rss_growth_sampled"). It includes
    allocator slack and misses memory the process already held from earlier renders.
    """
    device: torch.device
    interval: float = 0.005
    bytes: int = 0
    method: str = "none"

    def __enter__(self) -> "PeakMemory":
        self._stop = threading.Event()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self.method = "cuda_max_allocated"
            return self
        self._base = _rss_bytes()
        if self._base is None:
            return self
        self.method, self._peak = "rss_growth_sampled", self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes() or 0)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.method == "cuda_max_allocated":
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        elif self.method == "rss_growth_sampled":
            self._thread.join()
            self.bytes = max(0, max(self._peak, _rss_bytes() or 0) - self._base)
