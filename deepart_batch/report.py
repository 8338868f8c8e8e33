"""The JSON report written beside every output: one versioned dataclass."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field

SCHEMA = "deepart-batch/report/v1"


def versions() -> dict:
    import PIL
    import torch
    import torchvision

    from . import __version__
    return {"deepart_batch": __version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "pillow": PIL.__version__,
            "python": platform.python_version()}


@dataclass
class FileRef:
    path: str
    sha256: str
    name: str | None = None      # style name from the manifest, when there is one
    weight: float | None = None  # blend weight, for styles


@dataclass
class RenderReport:
    status: str                              # done | failed
    input: FileRef | None
    styles: list[FileRef]
    params: dict
    weights: dict                            # {"source":..., "sha256":..., "id":...}
    device: str
    seed: int
    precision: str = "fp32"                  # what params.precision resolved to here
    memory: dict = field(default_factory=dict)    # peak_bytes, method, estimate_bytes
    loop: dict = field(default_factory=dict)  # render-loop options that ran (engine/graphs.py)
    timings: dict = field(default_factory=dict)   # ISO times, seconds per phase and scale
    trace: list[dict] = field(default_factory=list)
    final: dict | None = None
    output: dict | None = None               # {"path", "width", "height", "format"}
    error: str | None = None
    job: dict = field(default_factory=dict)  # job id, attempt, worker: filled by the daemon
    events: list[dict] = field(default_factory=list)  # e.g. OOM retries
    versions: dict = field(default_factory=versions)
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)
