"""A loss curve from a report's trace, as numbers an inline SVG template draws.

Total loss on a log scale against the step; a coarse-to-fine schedule's sizes are drawn as
separate pieces (the loss of a larger image is not comparable), split by a thin line. Numbers only: no user text reaches the SVG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 240, 64, 4


@dataclass
class Curve:
    segments: list[str]         # one "x,y x,y ..." <polyline> per scale: sizes differ
    scale_marks: list[float]    # x positions where the next scale starts
    first: float
    last: float
    steps: int
    top: float = 0.0            # the loss at the top and at the bottom of the plot
    bottom: float = 0.0
    width: int = WIDTH
    height: int = HEIGHT


def loss_curve(trace: list[dict]) -> Curve | None:
    pts = [(int(t["step"]), float(t["total"]), t.get("scale", 0)) for t in trace
           if isinstance(t, dict) and isinstance(t.get("total"), (int, float))
           and isinstance(t.get("step"), int) and math.isfinite(t["total"]) and t["total"] > 0]
    if len(pts) < 2:
        return None
    steps = [p[0] for p in pts]
    logs = [math.log10(p[1]) for p in pts]
    x0, x1 = min(steps), max(steps)
    lo, hi = min(logs), max(logs)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5

    def x(step: int) -> float:
        return PAD + (step - x0) / max(1, x1 - x0) * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return PAD + (hi - value) / (hi - lo) * (HEIGHT - 2 * PAD)

    starts = [0] + [i for i in range(1, len(pts)) if pts[i][2] != pts[i - 1][2]]
    segments = [" ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in zip(steps[a:b], logs[a:b]))
                for a, b in zip(starts, starts[1:] + [len(pts)])]
    return Curve(segments=segments, scale_marks=[round(x(steps[i]), 1) for i in starts[1:]],
                 first=pts[0][1], last=pts[-1][1], steps=x1, top=10 ** hi, bottom=10 ** lo)
