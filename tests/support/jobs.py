"""Job specs for tests that write jobs into a journal without planning a photo."""

from __future__ import annotations

from deepart_batch.core.jobspec import JobSpec, StyleRef
from deepart_batch.core.params import RenderParams


def toy_spec(content: str = "/work/x.jpg", styles=(), params: dict | None = None) -> JobSpec:
    """A spec with the fields bookkeeping reads; `styles`: (name, path, weight) tuples."""
    return JobSpec(content=content, input=content.rsplit("/", 1)[-1],
                   styles=tuple(StyleRef(n, p, w) for n, p, w in styles),
                   params=RenderParams.from_dict(dict(params or {})), output_format="JPEG")
