"""Print-size renders that keep the look set at a working size.

VGG's receptive field is fixed in pixels: rendered straight at 4096 px, the deep layers see
a small patch and the result reads as the photo with a fine brush texture, while the 1024 px
preview shows the painting's large swirls. So a render above its look size is made in two
parts:

1. the look: the usual coarse-to-fine render at the look size (the preview, with most of
   the evaluation budget);
2. detail stages, doubling up to the output size. Each starts from the previous result
   upsampled and optimises
   - a look term: VGG features of the image taken down to the look size must match the
     look result's (the composition and stroke scale are pinned where VGG saw them);
   - style Grams of the fine layers only (DETAIL_STYLE_LAYERS), from the style image at
     its native resolution, never upsampled past it (the paint's own texture);
   - content and TV as usual.

What was measured to choose these is in benchmarks/results/printsize.md.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from . import memory
from .budget import effective_look_size  # noqa: F401  (one rule: planner and engine)
from . import precision as prec
from .schedule import Stage, plan_stages

# The look part is the preview itself: the same stages and `steps` evaluations at the look
# size, so a print starts from exactly the render the team judged (CPU renders repeat
# bit for bit). The detail stages add DETAIL_SHARE * steps evaluations, split evenly:
# 80% of all evaluations stay at or below the look size.
DETAIL_SHARE = 0.25
# Style layers above the look size, with their weights (per-scale style layer weights):
# the deep layers' structure is the look term's job there.
DETAIL_STYLE_LAYERS = ("relu1_1", "relu2_1")
# Layers whose features of the downsampled image must match the look result's, and the
# term's weight per layer (relative to content_weight: it is a content-like MSE).
LOOK_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
LOOK_WEIGHT = 1.0
# Content weight multiplier above the look size (0 was tried: no better at small scale).
DETAIL_CONTENT_SCALE = 1.0


def detail_sizes(look: int, size: int) -> list[int]:
    """Doubling from the look size up to the output size (which is always the last)."""
    sizes, s = [], look * 2
    while s < size:
        sizes.append(s)
        s *= 2
    return sizes + [size]


def plan_print_stages(size: int, look: int, scales, scale_steps, steps: int) -> list[Stage]:
    """The preview's coarse-to-fine stages at the look size (scales are fractions of the
    look size; scale_steps as for the preview), then the detail stages."""
    details = detail_sizes(look, size)
    detail_total = max(len(details), round(steps * DETAIL_SHARE)) if steps else 0
    stages = plan_stages(look, scales, scale_steps, steps)
    stages = [replace(s, fraction=s.size / size) for s in stages]
    counts = _even(detail_total, len(details))
    n = len(stages)
    return stages + [Stage(n + i, s / size if s != size else 1.0, s, c, above_look=True)
                     for i, (s, c) in enumerate(zip(details, counts))]


def _even(total: int, n: int) -> tuple[int, ...]:
    base = [total // n] * n
    base[-1] += total - sum(base)
    return tuple(base)


def detail_params(p, stage_size: int):
    """The RenderParams of a detail stage: its size, fine style layers only, the content
    weight scaled (per-scale style layer weights and content weight)."""
    style = tuple(k for k in p.style_layers if k in DETAIL_STYLE_LAYERS) or p.style_layers[:1]
    weights = {k: v for k, v in p.layer_weights.items() if k in style + p.content_layers}
    return replace(p, size=stage_size, style_layers=style, layer_weights=weights,
                   content_weight=p.content_weight * DETAIL_CONTENT_SCALE)


def native_style_side(style: torch.Tensor, stage_size: int, style_scale: float) -> int:
    """The style image's long side for a detail stage: as the stage asks, never above its
    own resolution."""
    return max(16, min(max(style.shape[-2:]), round(stage_size * style_scale)))


def look_term_bytes(height: int, width: int, precision: str) -> int:
    """What the look term adds to a detail stage: one evaluation at the look size
    (height x width) and its fixed targets."""
    saved, largest = memory.activation_bytes(height, width, LOOK_LAYERS, precision)
    targets = sum(memory.layer_numel(height, width, k) * 4 for k in LOOK_LAYERS)
    return int(saved + 5 * largest + targets + 2 * 3 * height * width * 4)


class LookTerm:
    """weight * sum over LOOK_LAYERS of MSE(VGG(down(x)), VGG(look result)): keeps what
    the image looks like at the look size while the detail stages add resolution."""

    def __init__(self, encoder, look_image: torch.Tensor, weight: float,
                 layers=LOOK_LAYERS, precision: str = "fp32"):
        self.encoder, self.weight, self.precision = encoder, weight, precision
        self.layers = tuple(k for k in layers if k in encoder.layers)
        self.shape = tuple(look_image.shape[-2:])
        with torch.no_grad(), prec.forward_autocast(precision, look_image.device):
            feats = encoder(look_image, self.layers)
        self.targets = {k: v.float() for k, v in feats.items()}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        down = F.interpolate(x.clamp(0, 1), size=self.shape, mode="bicubic", antialias=True,
                             align_corners=False)
        with prec.forward_autocast(self.precision, x.device):
            feats = self.encoder(down, self.layers)
        total = x.new_zeros((), dtype=torch.float32)
        for k, t in self.targets.items():
            total = total + F.mse_loss(feats[k].float(), t)
        return total * self.weight


class DetailObjective:
    """A stage objective (whole, checkpointed or tiled) plus the look term."""

    def __init__(self, base, look: LookTerm):
        self.base, self.look = base, look

    @property
    def precision(self) -> str:
        return self.base.precision

    @precision.setter
    def precision(self, value: str) -> None:
        self.base.precision = self.look.precision = value

    def __call__(self, x: torch.Tensor):
        total, parts = self.base(x)
        look = self.look(x)
        parts.look = look
        parts.total = total + look
        return parts.total, parts

    def value_and_grad(self, x: torch.Tensor):
        total, parts = self.base.value_and_grad(x)
        look = self.look(x)
        look.backward()
        parts.look = look.detach()
        parts.total = total + parts.look
        return parts.total, parts


# Start each detail stage from the previous result plus the photo's detail band (as the
# coarse-to-fine stages do) rather than the plain upsampled result.
DETAIL_REINJECT = True


def detail_objective(engine, content: torch.Tensor, styles, p, precision: str,
                     look_image: torch.Tensor, plan=None, regions=None) -> DetailObjective:
    """The objective of a detail stage at `content`'s size (see the module docstring);
    with `regions`, its style and content terms are per region (regions.py)."""
    stage_size = max(content.shape[-2:])
    sp = detail_params(p, stage_size)
    grams = [engine.style_targets(s.image, sp, content,
                                  side=native_style_side(s.image, stage_size, p.style_scale))
             for s in styles]
    base = engine.objective(content, styles, grams, sp, precision, plan, regions)
    enc = engine.encoder(LOOK_LAYERS, p.pooling, base.encoder.channels_last)
    term = LookTerm(enc, look_image, LOOK_WEIGHT * p.content_weight, precision=precision)
    return DetailObjective(base, term)
