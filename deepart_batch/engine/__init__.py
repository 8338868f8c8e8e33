"""The Gatys engine: tensors and RenderParams in, an image tensor and a loss trace out.

Nothing here touches paths, processes or logging set-up; callers own those. Names are
loaded on first use (PEP 562), so `from deepart_batch.engine import RenderParams` does not
import torch (the parameters live in core/params.py).
"""

from importlib import import_module

_EXPORTS = {
    "RenderParams": "..core.params", "StyleInput": ".params",
    "RenderResult": ".optimize", "StepLosses": ".optimize", "StyleTransfer": ".optimize",
    "MemoryLimitError": ".memory", "estimate_memory": ".memory",
    "resolve_precision": ".precision", "Region": ".regions", "RegionGuide": ".regions",
    "VGGEncoder": ".vgg", "canonical_layer": "..core.layers",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
