"""Numeric precision: which one to use on a device, and the context that applies it.

Resolution is a pure function of injected device capabilities so it can be tested without
the hardware; the probes that read the real machine are separate and tiny.
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch

from ..errors import ParamsError
from ..core.params import PRECISIONS as REQUESTED

# CPU flags (as /proc/cpuinfo spells them) that make bf16 convolutions fast in oneDNN.
# Without them oneDNN has no bf16 kernels and PyTorch falls back to a reference
# convolution that measured ~100x slower than fp32 on an AVX2-only EPYC.
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
MIN_CUDA_BF16 = (8, 0)  # Ampere: bf16 tensor cores and TF32


def resolve_precision(requested: str, device_type: str,
                      cuda_capability: tuple[int, int] | None = None,
                      cpu_flags: Iterable[str] | None = None) -> str:
    """The precision a render runs at: "fp32", "bf16" or "tf32".

    `auto` picks bf16 where the device runs it fast (CPU with AVX512-BF16 or AMX; CUDA with
    compute capability >= 8.0), else fp32. `tf32` (CUDA >= 8.0 only, else fp32) keeps fp32
    tensors but lets cuDNN run the convolutions on TF32 tensor cores. An explicit `bf16` is
    honoured everywhere, even where it is slow. Gram matrices and losses are fp32 always.
    """
    if requested not in REQUESTED:
        raise ParamsError(f"precision must be one of {', '.join(REQUESTED)}, got {requested!r}")
    cuda = device_type == "cuda"
    ampere = cuda and cuda_capability is not None and tuple(cuda_capability) >= MIN_CUDA_BF16
    if requested == "bf16" or requested == "fp32":
        return requested
    if requested == "tf32":
        return "tf32" if ampere else "fp32"
    if cuda:
        return "bf16" if ampere else "fp32"
    if device_type == "cpu" and FAST_BF16_CPU_FLAGS & {f.lower() for f in (cpu_flags or ())}:
        return "bf16"
    return "fp32"


def cpu_flags() -> frozenset[str]:
    """This machine's CPU feature flags: /proc/cpuinfo where it exists, else torch's
    capability string (which names AVX512 but not bf16, so it never enables bf16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset({torch.backends.cpu.get_cpu_capability().lower()})


def device_precision(requested: str, device: torch.device) -> str:
    """resolve_precision() fed with the real device's capabilities."""
    if device.type == "cuda":
        return resolve_precision(requested, "cuda",
                                 cuda_capability=torch.cuda.get_device_capability(device))
    return resolve_precision(requested, device.type,
                             cpu_flags=cpu_flags() if requested == "auto" else ())


def autocast_dtype(precision: str) -> torch.dtype | None:
    return torch.bfloat16 if precision == "bf16" else None


@contextlib.contextmanager
def backend_flags(precision: str, device: torch.device) -> Iterator[None]:
    """Around a whole render (forward and backward): on CUDA, cuDNN's TF32 switch is set to
    match the precision and restored afterwards, because PyTorch's default lets
    convolutions use TF32 even in "fp32". Matmuls (the Grams) keep PyTorch's fp32 default."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old


def forward_autocast(precision: str, device: torch.device, cache: bool = True):
    """Around the network's forward pass only: bf16 autocast runs the convolutions in bf16;
    the caller computes Grams and losses outside it, in fp32. `cache` False re-casts the
    weights on every call, as a CUDA graph capture needs."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)
