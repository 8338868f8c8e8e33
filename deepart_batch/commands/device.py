"""--device auto|cpu|cuda|cuda:N -> the device a one-off render runs on (imports torch)."""

from __future__ import annotations

from ..errors import ParamsError


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"--device {name}: no CUDA device is available here; use cpu")
    return name
