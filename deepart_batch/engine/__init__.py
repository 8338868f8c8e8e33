"""The Gatys engine: tensors and RenderParams in, an image tensor and a loss trace out.

Nothing here touches paths, processes or logging set-up; callers own those.
"""

from .params import RenderParams, StyleInput
from .optimize import RenderResult, StepLosses, StyleTransfer
from .memory import MemoryLimitError, estimate_memory
from .precision import resolve_precision
from .vgg import VGGEncoder, canonical_layer

__all__ = [
    "RenderParams", "StyleInput", "RenderResult", "StepLosses", "StyleTransfer",
    "VGGEncoder", "canonical_layer", "MemoryLimitError", "estimate_memory",
    "resolve_precision",
]
