"""How one stage's evaluation fits in memory: whole, checkpointed per VGG block, or tiled.

The planner tries them in that order (each is slower than the one before: checkpointing
adds one block forward per evaluation, tiling a second pass and the margins' overlap) and
takes the first whose estimate fits; a render is refused only when even the smallest tile
does not fit. Estimates reuse memory.py's per-layer walk and constants, and err high.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from . import memory
from .memory import (_OVERHEAD, _SAFETY, _TRANSIENT_LARGEST, MemoryLimitError, _dtype_bytes,
                     _layer_numel, _walk, activation_bytes, optimizer_state_bytes)
from .tiling import GRID, receptive_margin
from .vgg import LAYER_NAMES, canonical_layer

# L-BFGS history the planner may cut to (fewer pairs, same memory per pair).
MIN_HISTORY = 10
# Owned tile sides tried, largest first (each tile also computes a receptive-field margin).
TILE_SIDES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 64)


class EvalMode(str, enum.Enum):
    WHOLE = "whole"
    CHECKPOINTED = "checkpointed"
    TILED = "tiled"


@dataclass(frozen=True)
class EvalPlan:
    mode: EvalMode
    estimate: int        # bytes
    tile: int = 0        # owned tile side (px) when tiled
    history: int | None = None  # L-BFGS history when it had to be cut to fit, else None

    def describe(self) -> str:
        extra = f" ({self.tile} px tiles)" if self.mode is EvalMode.TILED else ""
        if self.history is not None:
            extra += f", lbfgs_history {self.history}"
        return f"{self.mode.value}{extra}"


def _whole_image_bytes(height, width, layers, optimizer, history) -> int:
    """What every mode keeps for the whole image: content targets and optimiser state."""
    content = sum(_layer_numel(height, width, n) * 4 for n in layers)
    return content + optimizer_state_bytes(3 * height * width, optimizer, history)


def estimate_checkpointed(height: int, width: int, layers, precision: str = "fp32",
                          optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                          style_layers=()) -> int:
    """Checkpointed per block: kept are each block's input and the requested layers; one
    block's activations at a time are alive again in the backward pass."""
    wanted = {canonical_layer(n) for n in layers}
    grams = {canonical_layer(n) for n in style_layers}
    last = max(wanted, key=LAYER_NAMES.index)
    size = _dtype_bytes(precision)
    kept = 3 * height * width * (4 + size)
    block, worst_block, largest = 0, 0, 0
    for name, channels, h, w in _walk(height, width, last):
        numel = channels * h * w
        if name.startswith("conv"):
            largest = max(largest, numel * size)
            continue
        here = numel * (size + (8 if name.startswith("pool") and pooling == "max" else 0))
        block += here
        if name in wanted:
            kept += numel * size + (numel * 4 if name in grams and size != 4 else 0)
        if name.startswith("pool"):
            kept += numel * size        # the next block's input
            worst_block, block = max(worst_block, block), 0
    worst_block = max(worst_block, block)
    total = (kept + worst_block + _TRANSIENT_LARGEST * largest
             + _whole_image_bytes(height, width, layers, optimizer, history) + _OVERHEAD)
    return int(total * _SAFETY)


def estimate_tiled(height: int, width: int, tile: int, layers, precision: str = "fp32",
                   optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                   style_layers=()) -> int:
    """One tile (owned side `tile` plus its margins) evaluated with autograd, plus the
    whole image's targets, gradient buffer and optimiser state."""
    side = tile + 2 * receptive_margin(layers)
    th, tw = min(height, side), min(width, side)
    saved, largest = activation_bytes(th, tw, layers, precision, pooling, style_layers)
    total = (saved + _TRANSIENT_LARGEST * largest + 2 * 3 * th * tw * 4
             + 3 * height * width * 4 * 2          # gradient buffer and the tv term's grad
             + _whole_image_bytes(height, width, layers, optimizer, history) + _OVERHEAD)
    return int(total * _SAFETY)


def _plan_at(height: int, width: int, limit: int, estimate_kw: dict) -> EvalPlan | None:
    whole = memory.estimate_memory(height, width, **estimate_kw)
    if whole <= limit:
        return EvalPlan(EvalMode.WHOLE, whole)
    ckpt = estimate_checkpointed(height, width, **estimate_kw)
    if ckpt <= limit:
        return EvalPlan(EvalMode.CHECKPOINTED, ckpt)
    for tile in TILE_SIDES:
        if tile < max(height, width):
            need = estimate_tiled(height, width, tile, **estimate_kw)
            if need <= limit:
                return EvalPlan(EvalMode.TILED, need, tile)
    return None


def plan_evaluation(height: int, width: int, limit: int, **estimate_kw) -> EvalPlan:
    """The first of whole, checkpointed, tiled (largest tile first) whose estimate fits in
    `limit` bytes; at print sizes the optimiser's whole-image vectors dominate, so L-BFGS's
    history is then halved down to MIN_HISTORY. Raises MemoryLimitError when nothing fits,
    naming a size that would."""
    history = estimate_kw.get("history", 100)
    plan = _plan_at(height, width, limit, estimate_kw)
    while plan is None and estimate_kw.get("optimizer", "lbfgs") == "lbfgs" \
            and history > MIN_HISTORY:
        history = max(MIN_HISTORY, history // 2)
        plan = _plan_at(height, width, limit, {**estimate_kw, "history": history})
        if plan is not None:
            plan = replace(plan, history=history)
    if plan is not None:
        return plan
    long_side = max(height, width)
    whole = memory.estimate_memory(height, width, **estimate_kw)
    ckpt = estimate_checkpointed(height, width, **estimate_kw)
    smallest = estimate_tiled(height, width, TILE_SIDES[-1], **estimate_kw)
    fit = largest_fitting_size(height, width, limit, **estimate_kw)
    hint = f"size {fit} would fit" if fit else "no size would fit"
    extra = (f"; lbfgs_history {estimate_kw.get('history')} -> {MIN_HISTORY} or optimizer "
             "adam also saves memory" if estimate_kw.get("optimizer", "lbfgs") == "lbfgs"
             and estimate_kw.get("history", 100) > MIN_HISTORY else "")
    raise MemoryLimitError(
        f"size {long_side} ({width}x{height} px) needs about {_gb(whole)} at "
        f"{estimate_kw.get('precision', 'fp32')} ({_gb(ckpt)} checkpointed, {_gb(smallest)} "
        f"in {TILE_SIDES[-1]} px tiles) but only {_gb(limit)} is available: {hint}{extra}")


def minimum_need(height: int, width: int, **estimate_kw) -> int:
    """The least memory any plan needs at this size (for capacity checks before queuing)."""
    if estimate_kw.get("optimizer", "lbfgs") == "lbfgs":
        estimate_kw = {**estimate_kw,
                       "history": min(MIN_HISTORY, estimate_kw.get("history", 100))}
    return min([memory.estimate_memory(height, width, **estimate_kw),
                estimate_checkpointed(height, width, **estimate_kw)]
               + [estimate_tiled(height, width, t, **estimate_kw) for t in TILE_SIDES
                  if t < max(height, width)])


def largest_fitting_size(height: int, width: int, limit: int, **estimate_kw) -> int:
    """The largest long side (>= 16) that some plan fits in `limit` bytes, else 0."""
    lo, hi = 15, max(height, width)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if minimum_need(*memory.long_side_shape(height, width, mid), **estimate_kw) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= 16 else 0


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"




def build_objective(plan: EvalPlan | None, encoder, content, target_grams: dict, p,
                    precision: str):
    """The stage objective the plan calls for; content targets computed the same way."""
    import torch

    from .checkpoint import CheckpointedEncoder
    from .objective import Objective
    from .tiling import TiledObjective, tiled_features
    mode = EvalMode.WHOLE if plan is None else plan.mode
    if mode is EvalMode.TILED:
        targets = tiled_features(encoder, content, p.content_layers, plan.tile) \
            if p.content_layers else {}
        return TiledObjective(encoder, targets, target_grams, p, plan.tile, precision)
    with torch.no_grad():
        targets = {k: v.float() for k, v in encoder(content, p.content_layers).items()} \
            if p.content_layers else {}
    if mode is EvalMode.CHECKPOINTED:
        encoder = CheckpointedEncoder(encoder)
    return Objective(encoder, targets, target_grams, p, precision)
