"""A worker's start-up, part by part, and the warming it does before its first job.

Between its hello and its first job a worker loads the weights (mapped from the decode
cache), builds the trunks on its device and, when warming is on, renders once on a
synthetic photo so that the first real job finds its kernels loaded and (on CUDA) the
graphs of the configured stage shapes captured. The slot says `warming` meanwhile.

Warming is `executor.warm`: None (the default) warms on CUDA and not on the CPU. On the
CPU a worker's first evaluation costs about what a later one does (0.34-0.40 against
0.30-0.34 CPU seconds for a one-evaluation render at 128 px) while the warming render costs
0.34-0.36 (benchmarks/results/worker-startup.md), so it costs more than it saves; on CUDA
the first job pays cold kernels and three graph captures (4.4 s against 2.8 s).
A slot warming longer than pool.START_GRACE after its hello is started again.
"""

from __future__ import annotations

import resource
import time
from dataclasses import replace

from ..core.params import RenderParams

# The photo shape warming renders: a 4:3 landscape, the commonest camera frame. A job of
# another aspect captures its own stage shapes on its first run, as before.
WARM_ASPECT = (3, 4)   # height, width


def warm_enabled(warm: bool | None, torch_device: str) -> bool:
    """executor.warm, with None meaning: on CUDA yes, on the CPU no."""
    return torch_device.startswith("cuda") if warm is None else bool(warm)


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class StartupClock:
    """Wall and CPU seconds (this process, all threads) of each named part, in order."""

    def __init__(self):
        self.parts: list[dict] = []
        self._wall, self._cpu = time.monotonic(), _cpu_seconds()
        self.started = self._wall

    def mark(self, name: str) -> None:
        wall, cpu = time.monotonic(), _cpu_seconds()
        self.parts.append({"part": name, "wall_s": round(wall - self._wall, 4),
                           "cpu_s": round(cpu - self._cpu, 4)})
        self._wall, self._cpu = wall, cpu

    def to_dict(self) -> dict:
        return {"parts": self.parts, "wall_s": round(time.monotonic() - self.started, 4),
                "cpu_s": round(sum(p["cpu_s"] for p in self.parts), 4)}


def warm_params(params: RenderParams | None, torch_device: str):
    """What the warming render runs: on CUDA the configured job with one evaluation per
    stage (every stage's graph is captured at its shape); on the CPU one evaluation at the
    smallest stage only, single-scale."""
    from ..engine.schedule import plan_stages
    p = (params or RenderParams()).validated()
    stages = plan_stages(p.size, p.scales, p.scale_steps, p.steps)
    if torch_device.startswith("cuda"):
        return replace(p, steps=len(stages), scales=tuple(s.fraction for s in stages),
                       scale_steps=(1,) * len(stages)).validated()
    return replace(p, size=stages[0].size, steps=1, scales=(1.0,), scale_steps=None).validated()


def warm_render(engine, params: RenderParams | None, torch_device: str) -> dict:
    """One throwaway render on a synthetic photo and style (see warm_params); returns
    what ran: its size, stages and step kinds."""
    import torch
    from ..engine import StyleInput
    p = warm_params(params, torch_device)
    h, w = WARM_ASPECT
    scale = p.size / max(h, w)
    shape = (1, 3, max(16, round(h * scale)), max(16, round(w * scale)))
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(shape, generator=gen)
    style = torch.rand(shape, generator=gen)
    result = engine.render(content, [StyleInput(style)], p)
    return {"size": p.size, "evaluations": result.evaluations,
            "steps": result.loop.get("steps")}
