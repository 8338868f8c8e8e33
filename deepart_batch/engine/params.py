"""The engine's style inputs: tensors with their blend weights. The render parameters are
core/params.py (torch-free: the job spec carries them across processes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class StyleInput:
    """One style image (RGB 0-1, shape 1x3xHxW) and its blend weight."""
    image: torch.Tensor
    weight: float = 1.0
