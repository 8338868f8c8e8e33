"""Memory arithmetic without torch: what one render needs, and which evaluation plan fits.

The daemon's planner refuses jobs too large for every device before any worker sees them,
so this module stays free of torch (the daemon parent never imports it). The estimate walks
the VGG19 trunk layer by layer, counting what autograd keeps for the backward pass (every
ReLU and pooling output, max-pool indices), the largest transients of one evaluation, and
the optimiser's state. Its constants were calibrated against measured peaks
(benchmarks/engine.py --memory) and it errs high.

Evaluation plans: whole, checkpointed per VGG block, or tiled, tried in that order (each is
slower than the one before); a render is refused only when even the smallest tile does not
fit (engine/fit.py builds the objective a plan asks for).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ..errors import ParamsError
from ..core.layers import LAYER_NAMES, canonical_layer

CHANNELS = {"conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "conv5": 512}
# Transient buffers of one evaluation, in units of the largest activation: the pre-ReLU conv
# output, oneDNN's reordered input/output copies, and the gradients alive in the backward.
TRANSIENT_LARGEST = 5.0
SAFETY = 1.15                 # measured peaks stayed under the estimate by this margin
OVERHEAD = 256 << 20          # allocator slack, oneDNN primitive caches, small tensors
GRID = 16  # pool1..pool4: tile origins on multiples of 16 keep every pooling window aligned
# L-BFGS history the planner may cut to (fewer pairs, same memory per pair).
MIN_HISTORY = 10
# Owned tile sides tried, largest first (each tile also computes a receptive-field margin).
TILE_SIDES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 64)


class MemoryLimitError(ParamsError):
    """The render would not fit; raised before anything big is allocated."""


def dtype_bytes(precision: str) -> int:
    return 2 if precision == "bf16" else 4


def optimizer_state_bytes(numel: int, optimizer: str, history: int) -> int:
    """L-BFGS keeps 2 vectors per history entry plus ~8 working vectors (direction,
    gradients, line-search copies, the best iterate); Adam keeps 2 moments plus ~4."""
    vectors = 2 * history + 8 if optimizer == "lbfgs" else 6
    return vectors * numel * 4


def walk(height: int, width: int, last: str):
    """(layer, channels, h, w) of each layer's output, up to `last`."""
    h, w, channels = height, width, 3
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            channels = CHANNELS[name[:5]]
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        yield name, channels, h, w


def layer_numel(height: int, width: int, layer: str) -> int:
    """Elements of one layer's output for a height x width input."""
    layer = canonical_layer(layer)
    *_, (_, channels, h, w) = walk(height, width, layer)
    return channels * h * w


def activation_bytes(height: int, width: int, layers, precision: str = "fp32",
                     pooling: str = "max", style_layers=()) -> tuple[int, int]:
    """(bytes autograd keeps for the backward pass, bytes of the largest activation)."""
    wanted = {canonical_layer(n) for n in layers}
    grams = {canonical_layer(n) for n in style_layers}
    last = max(wanted, key=LAYER_NAMES.index)
    size = dtype_bytes(precision)
    saved = 3 * height * width * (4 + size)  # preprocessed input (+ its bf16 copy)
    largest = 0
    for name, channels, h, w in walk(height, width, last):
        if name.startswith("conv"):
            largest = max(largest, channels * h * w * size)
        elif name.startswith("relu"):
            saved += channels * h * w * size
        else:
            saved += channels * h * w * (size + (8 if pooling == "max" else 0))
        if name in grams and size != 4:
            saved += channels * h * w * 4  # the fp32 copy a Gram matrix keeps
    return saved, largest


def estimate_memory(height: int, width: int, layers, precision: str = "fp32",
                    optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                    style_layers=()) -> int:
    """Bytes one optimisation at height x width needs at its peak (pure; errs high).

    `layers` are all layers the objective reads (content and style); the trunk is cut after
    the deepest. `precision` is the resolved one (fp32, tf32 or bf16).
    """
    saved, largest = activation_bytes(height, width, layers, precision, pooling, style_layers)
    numel = 3 * height * width
    content_targets = sum(layer_numel(height, width, n) * 4 for n in layers)
    total = (saved + TRANSIENT_LARGEST * largest + content_targets
             + optimizer_state_bytes(numel, optimizer, history) + OVERHEAD)
    return int(total * SAFETY)


def estimate_forward_memory(height: int, width: int, layers, precision: str = "fp32") -> int:
    """Bytes of one no-grad forward pass (a style image's targets): a few of the largest
    activations alive at once, plus the requested outputs."""
    _, largest = activation_bytes(height, width, layers, precision)
    outputs = sum(layer_numel(height, width, n) * 4 for n in layers)
    return int((3 * largest + outputs + OVERHEAD) * SAFETY)


def long_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The height and width an image gets when its long side is scaled to `size`."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def effective_look_size(look_size: int, size: int, photo_long_side: int) -> int | None:
    """The size a print's look is set at, or None when the render needs no detail stages
    (look_size 0, or the output is not larger than the look size): engine/look.py."""
    if not look_size:
        return None
    look = min(look_size, photo_long_side)
    return look if look < size else None


def largest_whole_size(height: int, width: int, limit: int, **estimate_kw) -> int:
    """The largest long side (>= 16) whose whole-image estimate fits in `limit`, else 0."""
    lo, hi = 15, max(height, width)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_memory(*long_side_shape(height, width, mid), **estimate_kw) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= 16 else 0


def receptive_margin(layers) -> int:
    """Input pixels on each side a tile needs so its owned positions see what they would
    in the whole image: the receptive field's reach (3x3 convs add the current stride on
    each side, 2x2 pools add it on one), rounded up to the pooling grid."""
    last = max((canonical_layer(n) for n in layers), key=LAYER_NAMES.index)
    reach, stride = 0, 1
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            reach += stride
        elif name.startswith("pool"):
            reach += stride
            stride *= 2
    return -(-reach // GRID) * GRID


# -- evaluation plans ------------------------------------------------------------------

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
    content = sum(layer_numel(height, width, n) * 4 for n in layers)
    return content + optimizer_state_bytes(3 * height * width, optimizer, history)


def estimate_checkpointed(height: int, width: int, layers, precision: str = "fp32",
                          optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                          style_layers=()) -> int:
    """Checkpointed per block: kept are each block's input and the requested layers; one
    block's activations at a time are alive again in the backward pass."""
    wanted = {canonical_layer(n) for n in layers}
    grams = {canonical_layer(n) for n in style_layers}
    last = max(wanted, key=LAYER_NAMES.index)
    size = dtype_bytes(precision)
    kept = 3 * height * width * (4 + size)
    block, worst_block, largest = 0, 0, 0
    for name, channels, h, w in walk(height, width, last):
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
    total = (kept + worst_block + TRANSIENT_LARGEST * largest
             + _whole_image_bytes(height, width, layers, optimizer, history) + OVERHEAD)
    return int(total * SAFETY)


def estimate_tiled(height: int, width: int, tile: int, layers, precision: str = "fp32",
                   optimizer: str = "lbfgs", history: int = 100, pooling: str = "max",
                   style_layers=()) -> int:
    """One tile (owned side `tile` plus its margins) evaluated with autograd, plus the
    whole image's targets, gradient buffer and optimiser state."""
    side = tile + 2 * receptive_margin(layers)
    th, tw = min(height, side), min(width, side)
    saved, largest = activation_bytes(th, tw, layers, precision, pooling, style_layers)
    total = (saved + TRANSIENT_LARGEST * largest + 2 * 3 * th * tw * 4
             + 3 * height * width * 4 * 2          # gradient buffer and the tv term's grad
             + _whole_image_bytes(height, width, layers, optimizer, history) + OVERHEAD)
    return int(total * SAFETY)


def _plan_at(height: int, width: int, limit: int, estimate_kw: dict) -> EvalPlan | None:
    whole = estimate_memory(height, width, **estimate_kw)
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
    whole = estimate_memory(height, width, **estimate_kw)
    ckpt = estimate_checkpointed(height, width, **estimate_kw)
    smallest = estimate_tiled(height, width, TILE_SIDES[-1], **estimate_kw)
    fit = largest_fitting_size(height, width, limit, **estimate_kw)
    hint = f"size {fit} would fit" if fit else "no size would fit"
    extra = (f"; lbfgs_history {estimate_kw.get('history')} -> {MIN_HISTORY} or optimizer "
             "adam also saves memory" if estimate_kw.get("optimizer", "lbfgs") == "lbfgs"
             and estimate_kw.get("history", 100) > MIN_HISTORY else "")
    raise MemoryLimitError(
        f"size {long_side} ({width}x{height} px) needs about {gib(whole)} at "
        f"{estimate_kw.get('precision', 'fp32')} ({gib(ckpt)} checkpointed, {gib(smallest)} "
        f"in {TILE_SIDES[-1]} px tiles) but only {gib(limit)} is available: {hint}{extra}")


def minimum_need(height: int, width: int, **estimate_kw) -> int:
    """The least memory any plan needs at this size (for capacity checks before queuing)."""
    if estimate_kw.get("optimizer", "lbfgs") == "lbfgs":
        estimate_kw = {**estimate_kw,
                       "history": min(MIN_HISTORY, estimate_kw.get("history", 100))}
    return min([estimate_memory(height, width, **estimate_kw),
                estimate_checkpointed(height, width, **estimate_kw)]
               + [estimate_tiled(height, width, t, **estimate_kw) for t in TILE_SIDES
                  if t < max(height, width)])


def largest_fitting_size(height: int, width: int, limit: int, **estimate_kw) -> int:
    """The largest long side (>= 16) that some plan fits in `limit` bytes, else 0."""
    lo, hi = 15, max(height, width)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if minimum_need(*long_side_shape(height, width, mid), **estimate_kw) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= 16 else 0


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
