"""Coarse-to-fine schedule: which sizes a render optimises at and for how many evaluations.

Why coarse to fine: a single-scale render only finds style structure about as large as
VGG's receptive fields at the full size; starting from a render at a quarter and at half
the size gives the large brush structure (whole swirls across a sky). It is not a shortcut
to a lower Gatys loss - the deep Gram losses punish the blur of upsampling, so the
full-size stage rebuilds the fine texture and, per full-size evaluation, tracks a
single-scale run (benchmarks/results/engine.md). With the split below the coarse stages
take about 30% of a 512 px render's time (35 s of 122 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The default scales, and their check, are core/params.py's (RenderParams.scales).
# Share of the total evaluations given to each scale, coarsest first, for the default split
# (the last entry is the full size). Fewer scales use the last entries.
DEFAULT_SHARES: tuple[float, ...] = (0.4, 0.3, 0.3)
# Scales whose long side would be under this are skipped: relu5_1 sees 1/16 of the input,
# and below ~64 px its Gram matrix is built from a handful of positions.
MIN_SCALE_SIDE = 64


@dataclass(frozen=True)
class Stage:
    index: int       # position in the plan, recorded in StepLosses.scale
    fraction: float  # of the requested size
    size: int        # long side, pixels
    steps: int       # evaluations at this scale
    above_look: bool = False  # a detail stage above the look size (look.py)


def default_split(steps: int, n: int) -> tuple[int, ...]:
    """Split `steps` over `n` scales by DEFAULT_SHARES (renormalised); rounding goes to the
    finest scale so the total is exact."""
    shares = DEFAULT_SHARES[-n:] if n <= len(DEFAULT_SHARES) else \
        (DEFAULT_SHARES[0],) * (n - len(DEFAULT_SHARES)) + DEFAULT_SHARES
    total = sum(shares)
    counts = [math.floor(steps * s / total) for s in shares[:-1]]
    return (*counts, steps - sum(counts))


def plan_stages(size: int, scales, scale_steps, steps: int,
                min_side: int = MIN_SCALE_SIDE) -> list[Stage]:
    """The stages of one render. Scales under `min_side` are skipped; with explicit
    scale_steps their evaluations move to the next scale, so the total stays `steps`."""
    kept = [f for f in scales if f == 1.0 or round(size * f) >= min_side]
    if scale_steps is None:
        counts = default_split(steps, len(kept))
    else:
        counts, carry = [], 0
        for f, n in zip(scales, scale_steps):
            carry += n
            if f in kept:
                counts.append(carry)
                carry = 0
    return [Stage(i, f, size if f == 1.0 else round(size * f), n)
            for i, (f, n) in enumerate(zip(kept, counts))]
