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

from ..errors import ParamsError

DEFAULT_SCALES: tuple[float, ...] = (0.25, 0.5, 1.0)
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


def check_schedule(scales, scale_steps, steps: int):
    """Validate `scales` / `scale_steps`; return them as tuples. Raises ParamsError."""
    try:
        scales = tuple(float(f) for f in scales)
    except (TypeError, ValueError):
        raise ParamsError(f"scales must be a list of numbers, got {scales!r}") from None
    if not scales or any(not (0 < f <= 1) or math.isnan(f) for f in scales):
        raise ParamsError(f"scales must be fractions of size in (0, 1], got {list(scales)}")
    if any(b <= a for a, b in zip(scales, scales[1:])) or scales[-1] != 1.0:
        raise ParamsError(f"scales must increase and end at 1.0 (the full size), "
                          f"got {list(scales)}")
    if scale_steps is None:
        return scales, None
    try:
        scale_steps = tuple(scale_steps)
    except TypeError:
        raise ParamsError(f"scale_steps must be a list of integers, got {scale_steps!r}") \
            from None
    if len(scale_steps) != len(scales) or any(
            not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in scale_steps):
        raise ParamsError(f"scale_steps must give one integer >= 0 per scale "
                          f"({len(scales)}), got {list(scale_steps)}")
    if sum(scale_steps) != steps:
        raise ParamsError(f"scale_steps sum to {sum(scale_steps)} but steps is {steps}; "
                          f"steps is the total budget, so set steps={sum(scale_steps)}")
    return scales, scale_steps


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
