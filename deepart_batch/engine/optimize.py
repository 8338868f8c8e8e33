"""The render loop: a pure engine class in the style of style-transfer-pytorch.

A render optimises coarse-to-fine over the stages schedule.py plans; each stage builds its
targets once, starts from the previous stage's result upsampled, and spends exactly its
share of the evaluation budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Union

import torch
import torch.nn.functional as F

from . import color, memory, solver
from . import precision as prec
from .losses import blend_grams, gram
from .objective import Objective, Parts, StepLosses
from .params import RenderParams, StyleInput
from .schedule import Stage, plan_stages
from .vgg import VGGEncoder, min_side

__all__ = ["RenderResult", "StepLosses", "StyleTransfer", "ProgressCallback",
           "resize_long_side", "detail_transfer"]


@dataclass
class RenderResult:
    image: torch.Tensor          # 1x3xHxW, RGB in [0, 1], on the CPU
    trace: list[StepLosses]
    final: StepLosses            # losses of the returned image, at full size, in fp32
    evaluations: int
    seconds: float
    # Per stage, coarsest first: scale, fraction, height, width, evaluations, optimizer,
    # seconds (targets + optimisation), seconds_per_evaluation.
    scale_timings: list[dict] = field(default_factory=list)
    precision: str = "fp32"      # the precision actually used (after resolving "auto")
    peak_memory_bytes: int = 0   # see peak_memory_method for what this counts
    peak_memory_method: str = "none"  # "cuda_max_allocated" or "rss_growth_sampled"
    memory_estimate_bytes: int = 0    # memory.estimate_memory() for the full-size stage


ProgressCallback = Callable[[StepLosses, int], None]
# Style Gram targets from the caller: for the FINAL size, or a function of the stage's
# RenderParams (size set to the stage's size) returning one dict per style image.
StyleGrams = Union[list[dict], Callable[[RenderParams], list[dict]], None]


def resize_long_side(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    new = memory.long_side_shape(h, w, size)
    if new == (h, w):
        return image
    return F.interpolate(image, size=new, mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


class StyleTransfer:
    """Holds decoded VGG19 weights on one device; renders any number of jobs.

    memory_limit_bytes: what a render may use; None probes the free memory at each render.
    channels_last: NHWC activations; None picks them where measured faster (not CUDA fp32).
    """

    def __init__(self, conv_weights: dict, preprocessing: str, device: str | torch.device = "cpu",
                 memory_limit_bytes: int | None = None, channels_last: bool | None = None):
        self.conv_weights = conv_weights
        self.preprocessing = preprocessing
        self.device = torch.device(device)
        self.memory_limit_bytes = memory_limit_bytes
        self.channels_last = channels_last
        self._encoders: dict[tuple, VGGEncoder] = {}

    def encoder(self, layers, pooling: str = "max", channels_last: bool = False) -> VGGEncoder:
        """The trunk cut after the deepest requested layer, built once per layer set."""
        key = (tuple(sorted(set(layers))), pooling, channels_last)
        if key not in self._encoders:
            enc = VGGEncoder(self.conv_weights, self.preprocessing, key[0], pooling,
                             channels_last=channels_last)
            self._encoders[key] = enc.to(self.device)
        return self._encoders[key]

    def _use_channels_last(self, precision: str) -> bool:
        if self.channels_last is not None:
            return self.channels_last
        return not (self.device.type == "cuda" and precision == "fp32")

    def style_targets(self, style: torch.Tensor, params: RenderParams,
                      content: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gram targets (fp32) of one style image at params.size. Pure in its inputs, so
        callers may cache it by (style hash, size, layers, weights id) - plus the content
        hash with colour matching. Precision-independent: always computed in fp32."""
        p = params.validated()
        side = max(16, round(p.size * p.style_scale))
        style, _ = pad_thin(style, side, min_side(p.style_layers or p.content_layers))
        style = resize_long_side(style.to(self.device), side)
        if p.preserve_color == "match" and content is not None:
            style = color.match_color(style, content.to(self.device))
        enc = self.encoder(p.style_layers, p.pooling, self._use_channels_last("fp32"))
        with torch.no_grad(), prec.backend_flags("fp32", self.device):
            return {k: gram(v) for k, v in enc(style, p.style_layers).items()}

    def check_memory(self, content_shape, styles: list[StyleInput], p: RenderParams,
                     precision: str) -> int:
        """Refuse, before any allocation, a render whose full-size stage would not fit in
        memory_limit_bytes (or the memory free now); return the estimate."""
        limit = self.memory_limit_bytes
        if limit is None:
            limit = memory.available_memory(self.device)
        h, w = memory.long_side_shape(*content_shape[-2:], p.size)
        layers = p.content_layers + p.style_layers
        kw = dict(layers=layers, precision=precision, optimizer=p.optimizer,
                  history=p.lbfgs_history, pooling=p.pooling, style_layers=p.style_layers)
        need = memory.check_fits(h, w, limit, **kw)
        side = max(16, round(p.size * p.style_scale))
        for s in styles:  # a style larger than the content (style_scale > 1) is one forward
            hs, ws = memory.long_side_shape(*s.image.shape[-2:], side)
            fwd = memory.estimate_forward_memory(hs, ws, p.style_layers or layers)
            if fwd > limit:
                raise memory.MemoryLimitError(
                    f"style_scale {p.style_scale}: the style image at {ws}x{hs} px needs "
                    f"about {fwd / 2**30:.1f} GiB but only {limit / 2**30:.1f} GiB is "
                    f"available; lower style_scale or size")
        return need

    def render(self, content: torch.Tensor, styles: list[StyleInput], params: RenderParams,
               init: torch.Tensor | None = None, callback: ProgressCallback | None = None,
               style_grams: StyleGrams = None) -> RenderResult:
        """Restyle `content`. `style_grams`, when given as a list, holds the targets for the
        final size (as style_targets() makes them); coarser stages compute their own, or
        call it when it is a function of the stage's RenderParams."""
        started = time.perf_counter()
        p = params.validated()
        if not styles and p.style_layers:
            raise ValueError("at least one style image is needed")
        precision = prec.device_precision(p.precision, self.device)
        stages = plan_stages(p.size, p.scales, p.scale_steps, p.steps)
        final_shape = memory.long_side_shape(*content.shape[-2:], p.size)
        content, crop = pad_thin(content, min(s.size for s in stages),
                                 min_side(p.content_layers + p.style_layers))
        estimate = self.check_memory(content.shape, styles, p, precision)
        run = _Run(p, callback)
        with prec.backend_flags(precision, self.device), \
                memory.PeakMemory(self.device) as peak:
            torch.manual_seed(p.seed)
            content = content.to(self.device)
            x, objective, timings = None, None, []
            for stage in stages:
                if stage.steps == 0 and stage is not stages[-1]:
                    timings.append(_timing(stage, content, 0, 0.0, p))
                    continue
                t0 = time.perf_counter()
                x, objective, c = self._stage(stage, content, styles, p, precision, init,
                                              x, style_grams, run)
                timings.append(_timing(stage, content, stage.steps,
                                       time.perf_counter() - t0, p))
            with torch.no_grad(), prec.backend_flags("fp32", self.device):
                out = x.detach().clamp(0, 1)
                if p.preserve_color == "luminance":
                    out = color.luminance_transfer(out, c)
                objective.precision = "fp32"
                _, parts = objective(out)
                final = parts.to_losses(run.count, stages[-1].index, stages[-1].size)
                out = crop_back(out, crop, final_shape)
        return RenderResult(out.cpu(), run.trace, final, run.count,
                            time.perf_counter() - started, timings, precision,
                            peak.bytes, peak.method, estimate)

    def _stage(self, stage: Stage, content, styles, p: RenderParams, precision: str, init,
               previous, style_grams: StyleGrams, run: "_Run"):
        """Targets, start image and optimisation of one scale."""
        sp = replace(p, size=stage.size)
        c = resize_long_side(content, stage.size)
        last = stage.fraction == 1.0
        if callable(style_grams):
            grams = style_grams(sp)
        elif style_grams is not None and last:
            grams = style_grams
        else:
            grams = [self.style_targets(s.image, sp, c) for s in styles]
        objective = self.objective(c, styles, grams, p, precision)
        x = self._start(c, p, init, previous).requires_grad_(True)
        evaluate = run.evaluator(objective, stage)
        if stage.steps > 0:
            if p.optimizer == "lbfgs":
                solver.lbfgs(x, evaluate, stage.steps, lr=p.learning_rate or 1.0,
                             history=p.lbfgs_history)
            else:
                solver.adam(x, evaluate, stage.steps, lr=p.learning_rate or 0.02)
        return x.detach(), objective, c

    def objective(self, content: torch.Tensor, styles: list[StyleInput], grams: list[dict],
                  p: RenderParams, precision: str) -> Objective:
        """The weighted loss at `content`'s size: content targets computed once here, style
        targets `grams` (one dict per style, as style_targets() makes them) blended."""
        enc = self.encoder(p.content_layers + p.style_layers, p.pooling,
                           self._use_channels_last(precision))
        with torch.no_grad():
            content_targets = {k: v.float() for k, v in enc(content, p.content_layers).items()}
        targets = blend_grams([(s.weight, g) for s, g in zip(styles, grams)]) if styles else {}
        return Objective(enc, content_targets, targets, p, precision)

    def _start(self, content: torch.Tensor, p: RenderParams, init, previous) -> torch.Tensor:
        """The first stage starts from the chosen init; later ones from the previous
        stage's result, upsampled, plus the content's detail band that the coarser stage
        could not hold (see detail_transfer)."""
        size = content.shape[-2:]
        if previous is not None:
            return detail_transfer(previous, content)
        if p.init == "content":
            return content.clone(memory_format=torch.contiguous_format)
        if p.init == "noise":
            gen = torch.Generator(device="cpu").manual_seed(p.seed)
            return torch.rand(content.shape, generator=gen).to(self.device)
        if init is None:
            raise ValueError("init='image' needs an init image")
        return F.interpolate(init.to(self.device), size=size, mode="bicubic",
                             antialias=True, align_corners=False).clamp(0, 1).contiguous()


def pad_thin(image: torch.Tensor, size: int, minimum: int) -> tuple[torch.Tensor, tuple]:
    """A long thin image (1024x40 at size 512, 20000x2) shrinks below VGG's minimum on its
    short side once its long side is `size`: pad that side with its edge pixels so it keeps
    `minimum` px; crop_back() cuts the render to the photo again. Returns the image and
    (top, left) of the photo in it with the padded (height, width)."""
    h, w = image.shape[-2:]
    if size < minimum:
        raise ValueError(f"size {size} is below VGG's minimum of {minimum} px for these layers")
    need = -(-minimum * max(h, w) // size) + 1  # short side that resizes to >= minimum
    pad_h, pad_w = max(0, need - h), max(0, need - w)
    if not pad_h and not pad_w:
        return image, (0, 0, h, w)
    top, left = pad_h // 2, pad_w // 2
    padded = F.pad(image, (left, pad_w - left, top, pad_h - top), mode="replicate")
    return padded, (top, left, h + pad_h, w + pad_w)


def crop_back(image: torch.Tensor, crop: tuple, shape: tuple[int, int]) -> torch.Tensor:
    """The render of a pad_thin()'ed image, cut back to the photo at its output `shape`."""
    top, left, padded_h, padded_w = crop
    ph, pw = image.shape[-2:]
    oh, ow = shape
    if (ph, pw) == (oh, ow):
        return image
    y = min(max(0, round(top * ph / padded_h)), ph - oh)
    x = min(max(0, round(left * pw / padded_w)), pw - ow)
    return image[..., y:y + oh, x:x + ow].contiguous()


def detail_transfer(previous: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Upsample a coarse stage's result to the content's size and add back the content's
    high-frequency band (content minus content taken down to the coarse size and up again).

    The Gram losses of the deep layers punish blur hard: a converged 512 px render taken
    down to 256 px and up again goes from 1.8e6 to 7.5e7 total loss. With the content's
    detail band the fine stage starts at 5.5e7 instead of 8.5e7 and ends 3% lower after the
    same evaluations (tubingen x starry_night, 512 px, default split; benchmarks/results)."""
    size = content.shape[-2:]
    up = F.interpolate(previous, size=size, mode="bicubic", align_corners=False)
    low = F.interpolate(F.interpolate(content, size=previous.shape[-2:], mode="bicubic",
                                      antialias=True, align_corners=False),
                        size=size, mode="bicubic", align_corners=False)
    return (up + content - low).clamp(0, 1).contiguous()


class _Run:
    """Counts evaluations over all stages and logs every log_every-th one (only then are
    the losses turned into floats)."""

    def __init__(self, p: RenderParams, callback: ProgressCallback | None):
        self.p, self.callback = p, callback
        self.count = 0
        self.trace: list[StepLosses] = []

    def evaluator(self, objective: Objective, stage: Stage):
        def evaluate(x: torch.Tensor) -> torch.Tensor:
            total, parts = objective(x)
            total.backward()
            self.count += 1
            if self.count % self.p.log_every == 0 or self.count == self.p.steps:
                self._log(parts, stage)
            return total.detach()
        return evaluate

    def _log(self, parts: Parts, stage: Stage) -> None:
        losses = parts.to_losses(self.count, stage.index, stage.size)
        self.trace.append(losses)
        if self.callback is not None:
            self.callback(losses, self.p.steps)


def _timing(stage: Stage, content, evaluations: int, seconds: float, p: RenderParams) -> dict:
    h, w = memory.long_side_shape(*content.shape[-2:], stage.size)
    return {"scale": stage.index, "fraction": stage.fraction, "size": stage.size,
            "height": int(h), "width": int(w), "evaluations": evaluations,
            "optimizer": p.optimizer, "seconds": round(seconds, 4),
            "seconds_per_evaluation": round(seconds / evaluations, 4) if evaluations else None}
