"""Memory: a pure estimate of what one render needs, the refusal that uses it before any
allocation, and the measurement of what a render actually used.

The estimate walks the VGG19 trunk layer by layer, counting what autograd keeps for the
backward pass (every ReLU and pooling output, max-pool indices), the largest transients of
one evaluation, and the optimiser's state. Its constants were calibrated against measured
peaks (benchmarks/engine.py --memory) and it errs high.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import torch

from ..errors import ParamsError
from .vgg import LAYER_NAMES, canonical_layer

_CHANNELS = {"conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "conv5": 512}
# Transient buffers of one evaluation, in units of the largest activation: the pre-ReLU conv
# output, oneDNN's reordered input/output copies, and the gradients alive in the backward.
_TRANSIENT_LARGEST = 5.0
_SAFETY = 1.15                 # measured peaks stayed under the estimate by this margin
_OVERHEAD = 256 << 20          # allocator slack, oneDNN primitive caches, small tensors


class MemoryLimitError(ParamsError):
    """The render would not fit; raised before anything big is allocated."""


def _dtype_bytes(precision: str) -> int:
    return 2 if precision == "bf16" else 4


def optimizer_state_bytes(numel: int, optimizer: str, history: int) -> int:
    """L-BFGS keeps 2 vectors per history entry plus ~8 working vectors (direction,
    gradients, line-search copies, the best iterate); Adam keeps 2 moments plus ~4."""
    vectors = 2 * history + 8 if optimizer == "lbfgs" else 6
    return vectors * numel * 4


def _walk(height: int, width: int, last: str):
    """(layer, channels, h, w) of each layer's output, up to `last`."""
    h, w, channels = height, width, 3
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            channels = _CHANNELS[name[:5]]
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        yield name, channels, h, w


def activation_bytes(height: int, width: int, layers, precision: str = "fp32",
                     pooling: str = "max", style_layers=()) -> tuple[int, int]:
    """(bytes autograd keeps for the backward pass, bytes of the largest activation)."""
    wanted = {canonical_layer(n) for n in layers}
    grams = {canonical_layer(n) for n in style_layers}
    last = max(wanted, key=LAYER_NAMES.index)
    size = _dtype_bytes(precision)
    saved = 3 * height * width * (4 + size)  # preprocessed input (+ its bf16 copy)
    largest = 0
    for name, channels, h, w in _walk(height, width, last):
        if name.startswith("conv"):
            largest = max(largest, channels * h * w * size)
        elif name.startswith("relu"):
            saved += channels * h * w * size
        else:
            saved += channels * h * w * (size + (8 if pooling == "max" else 0))
        if name in grams and size != 4:
            saved += channels * h * w * 4  # the fp32 copy a Gram matrix keeps
    return saved, largest


def estimate_memory(height: int, width: int, layers, precision: str = "fp32",
                    optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                    style_layers=()) -> int:
    """Bytes one optimisation at height x width needs at its peak (pure; errs high).

    `layers` are all layers the objective reads (content and style); the trunk is cut after
    the deepest. `precision` is the resolved one (fp32, tf32 or bf16).
    """
    saved, largest = activation_bytes(height, width, layers, precision, pooling, style_layers)
    numel = 3 * height * width
    content_targets = sum(_layer_numel(height, width, n) * 4 for n in layers)
    total = (saved + _TRANSIENT_LARGEST * largest + content_targets
             + optimizer_state_bytes(numel, optimizer, history) + _OVERHEAD)
    return int(total * _SAFETY)


def estimate_forward_memory(height: int, width: int, layers, precision: str = "fp32") -> int:
    """Bytes of one no-grad forward pass (a style image's targets): a few of the largest
    activations alive at once, plus the requested outputs."""
    _, largest = activation_bytes(height, width, layers, precision)
    outputs = sum(_layer_numel(height, width, n) * 4 for n in layers)
    return int((3 * largest + outputs + _OVERHEAD) * _SAFETY)


def _layer_numel(height: int, width: int, layer: str) -> int:
    layer = canonical_layer(layer)
    *_, (_, channels, h, w) = _walk(height, width, layer)
    return channels * h * w


def long_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The height and width an image gets when its long side is scaled to `size`."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def largest_fitting_size(height: int, width: int, limit: int, **estimate_kw) -> int:
    """The largest long side (>= 16) whose estimate fits in `limit` bytes, else 0."""
    lo, hi = 15, max(height, width)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_memory(*long_side_shape(height, width, mid), **estimate_kw) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= 16 else 0


def check_fits(height: int, width: int, limit: int, **estimate_kw) -> int:
    """Raise MemoryLimitError naming a size that would fit; return the estimate if it fits."""
    need = estimate_memory(height, width, **estimate_kw)
    if need <= limit:
        return need
    fit = largest_fitting_size(height, width, limit, **estimate_kw)
    hint = (f"size {fit} would fit" if fit else "no size would fit")
    extra = (f"; lbfgs_history {estimate_kw.get('history')} -> 10 or optimizer adam also "
             "saves memory" if estimate_kw.get("optimizer", "lbfgs") == "lbfgs" else "")
    raise MemoryLimitError(
        f"size {max(height, width)} ({width}x{height} px) needs about {_gb(need)} at "
        f"{estimate_kw.get('precision', 'fp32')} but only {_gb(limit)} is available: "
        f"{hint}{extra}")


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


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
