"""The render loop: a pure engine class in the style of style-transfer-pytorch.

A render optimises coarse-to-fine over the stages schedule.py plans; each stage builds its
targets once, starts from the previous stage's result upsampled, and spends exactly its
share of the evaluation budget.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Union

import torch
import torch.nn.functional as F

from . import print_from_preview, color, fit, graphs, look, memory, regions as spatial, solver
from . import precision as prec
from .losses import blend_grams, gram
from .objective import Objective, Parts, StepLosses
from ..core.params import RenderParams
from .params import StyleInput
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
    loop: dict = field(default_factory=dict)  # which render-loop options ran (graphs.py)


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
    loop: CUDA graphs, cudnn.benchmark and the solver (graphs.LoopOptions); None reads
    DEEPART_RENDER_LOOP (default: CUDA graphs where the device replays them, the compact
    solver, cudnn.benchmark off).
    """

    def __init__(self, conv_weights: dict, preprocessing: str, device: str | torch.device = "cpu",
                 memory_limit_bytes: int | None = None, channels_last: bool | None = None,
                 loop: graphs.LoopOptions | None = None):
        self.conv_weights = conv_weights
        self.preprocessing = preprocessing
        self.device = torch.device(device)
        self.memory_limit_bytes = memory_limit_bytes
        self.channels_last = channels_last
        self._encoders: dict[tuple, VGGEncoder] = {}
        self.loop = loop if loop is not None else graphs.LoopOptions.from_env()
        self.step_cache = graphs.StepCache(self.loop)

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

    def warm_up(self, params: RenderParams | None = None) -> None:
        """Build, on the device, the trunks a render with `params` uses (and with them the
        CUDA context), so that a worker pays for this before its first job, not during it."""
        p = (params or RenderParams()).validated()
        precision = prec.device_precision(p.precision, self.device)
        self.encoder(p.content_layers + p.style_layers, p.pooling,
                     self._use_channels_last(precision))
        self.encoder(p.style_layers, p.pooling, self._use_channels_last("fp32"))

    def style_targets(self, style: torch.Tensor, params: RenderParams,
                      content: torch.Tensor | None = None,
                      side: int | None = None) -> dict[str, torch.Tensor]:
        """Gram targets (fp32) of one style image at params.size. Pure in its inputs, so
        callers may cache it by (style hash, size, layers, weights id) - plus the content
        hash with colour matching. Precision-independent: always computed in fp32.
        `side`: the style's long side, when not size * style_scale (look.py)."""
        p = params.validated()
        side = side or max(16, round(p.size * p.style_scale))
        style, _ = pad_thin(style, side, min_side(p.style_layers or p.content_layers))
        style = resize_long_side(style.to(self.device), side)
        if p.preserve_color == "match" and content is not None:
            style = color.match_color(style, content.to(self.device))
        enc = self.encoder(p.style_layers, p.pooling, self._use_channels_last("fp32"))
        with torch.no_grad(), prec.backend_flags("fp32", self.device):
            return {k: gram(v) for k, v in enc(style, p.style_layers).items()}

    def check_memory(self, content_shape, styles: list[StyleInput], p: RenderParams,
                     precision: str, stages: list[Stage] | None = None
                     ) -> dict[int, "fit.EvalPlan"]:
        """Plan, before any allocation, how each stage's evaluation fits in
        memory_limit_bytes (or the memory free now): whole, checkpointed or tiled
        (fit.py); refuse a render that fits no way. Returns the plan per stage index."""
        limit = self.memory_limit_bytes
        if limit is None:
            limit = memory.available_memory(self.device)
        stages = stages or [Stage(0, 1.0, p.size, p.steps)]
        look_stages = [s.size for s in stages if not s.above_look]
        plans = {}
        for stage in sorted(stages, key=lambda s: -s.size):  # a refusal names the largest
            sp = look.detail_params(p, stage.size) if stage.above_look else p
            h, w = memory.long_side_shape(*content_shape[-2:], stage.size)
            history = min(p.lbfgs_history, stage.steps) if p.optimizer == "lbfgs" else 0
            extra = look.look_term_bytes(*memory.long_side_shape(
                *content_shape[-2:], max(look_stages)), precision) if stage.above_look else 0
            plan = fit.plan_evaluation(
                h, w, limit - extra, layers=sp.content_layers + sp.style_layers,
                precision=precision, optimizer=p.optimizer, history=history,
                pooling=p.pooling, style_layers=sp.style_layers)
            plans[stage.index] = replace(plan, estimate=plan.estimate + extra)
        layers = p.content_layers + p.style_layers
        side = max(16, round(max(look_stages or [p.size]) * p.style_scale))
        for s in styles:  # a style larger than the content (style_scale > 1) is one forward
            hs, ws = memory.long_side_shape(*s.image.shape[-2:], side)
            fwd = memory.estimate_forward_memory(hs, ws, p.style_layers or layers)
            if fwd > limit:
                raise memory.MemoryLimitError(
                    f"style_scale {p.style_scale}: the style image at {ws}x{hs} px needs "
                    f"about {fwd / 2**30:.1f} GiB but only {limit / 2**30:.1f} GiB is "
                    f"available; lower style_scale or size")
        return plans

    def render(self, content: torch.Tensor, styles: list[StyleInput], params: RenderParams,
               init: torch.Tensor | None = None, callback: ProgressCallback | None = None,
               style_grams: StyleGrams = None, look_side: int | None | str = "auto",
               approved: torch.Tensor | None = None,
               regions: "spatial.RegionGuide | None" = None) -> RenderResult:
        """Restyle `content`. `style_grams`, when given as a list, holds the targets for the
        final size (as style_targets() makes them); coarser stages compute their own, or
        call it when it is a function of the stage's RenderParams. `look_side`: the print's
        look size as the caller decided it from the photo (budget.effective_look_size);
        "auto" decides it from `content`. `approved`: an approved preview's pixels (1x3xHxW
        in [0, 1], the same framing as `content`): its stages at or below the look size are
        not run again; the print starts from it and runs only the detail stages (print_from_preview.py).
        `regions`: the photo's regions at `content`'s size (regions.py): each styled region
        matches its own styles, kept ones are the photo."""
        started = time.perf_counter()
        p = params.validated()
        if not styles and p.style_layers:
            raise ValueError("at least one style image is needed")
        precision = prec.device_precision(p.precision, self.device)
        if look_side == "auto":
            look_side = look.effective_look_size(p.look_size, p.size, max(content.shape[-2:]))
        stages = (look.plan_print_stages(p.size, look_side, p.scales, p.scale_steps, p.steps)
                  if look_side else plan_stages(p.size, p.scales, p.scale_steps, p.steps))
        final_shape = memory.long_side_shape(*content.shape[-2:], p.size)
        photo_shape = tuple(content.shape[-2:])
        if regions is not None and tuple(regions.maps.shape[-2:]) != photo_shape:
            raise ValueError(f"region maps are {tuple(regions.maps.shape[-2:])}, the content "
                             f"{photo_shape}: give them at the content's size")
        thin = (min(s.size for s in stages), min_side(p.content_layers + p.style_layers))
        content, crop = pad_thin(content, *thin)
        if regions is not None:
            regions = regions.with_maps(pad_thin(regions.maps, *thin)[0])
        plans = self.check_memory(content.shape, styles, p, precision, stages)
        if regions is not None:
            spatial.refuse_tiled(plans, stages)
        estimate = max(plan.estimate for plan in plans.values())
        start = None
        if approved is not None:
            start, stages = print_from_preview.start_from(approved, content, photo_shape, crop,
                                                look_side, stages)
        run = _Run(replace(p, steps=sum(s.steps for s in stages)), callback)
        with prec.backend_flags(precision, self.device), \
                graphs.loop_flags(self.loop, self.device) as benchmark, \
                memory.PeakMemory(self.device) as peak, self._graphs_dropped_on_error():
            torch.manual_seed(p.seed)
            content = content.to(self.device)
            x, objective, timings = None, None, []
            if start is not None:
                x = run.look_image = start.to(self.device)
            for stage in stages:
                if stage.steps == 0 and stage is not stages[-1]:
                    timings.append(_timing(stage, content, 0, 0.0, p))
                    continue
                t0 = time.perf_counter()
                x, objective, c, info = self._stage(stage, content, styles, p, precision,
                                                    init, x, style_grams, run,
                                                    plans[stage.index], regions)
                timings.append({**_timing(stage, content, stage.steps,
                                          time.perf_counter() - t0, p), **info})
                timings[-1]["evaluation"] = plans[stage.index].describe()
                if not stage.above_look:
                    run.look_image = x
            with torch.no_grad(), prec.backend_flags("fp32", self.device):
                out = x.detach().clamp(0, 1)
                if p.preserve_color == "luminance":
                    out = color.luminance_transfer(out, c)
                objective.precision = "fp32"
                _, parts = objective(out)
                final = parts.to_losses(run.count, stages[-1].index, stages[-1].size)
                out = spatial.finish(out, c, regions, p.size)  # kept regions: the photo
                out = crop_back(out, crop, final_shape)
        loop = {"solver": self.loop.solver if p.optimizer == "lbfgs" else p.optimizer,
                "cudnn_benchmark": benchmark,
                "steps": [t.get("step") for t in timings if t.get("step")]}
        return RenderResult(out.cpu(), run.trace, final, run.count,
                            time.perf_counter() - started, timings, precision,
                            peak.bytes, peak.method, estimate, loop)

    @contextlib.contextmanager
    def _graphs_dropped_on_error(self):
        """A failed render (an OOM above all) frees the captured graphs' memory pools."""
        try:
            yield
        except BaseException:
            self.step_cache.clear()
            raise

    def _stage(self, stage: Stage, content, styles, p: RenderParams, precision: str, init,
               previous, style_grams: StyleGrams, run: "_Run", plan=None, regions=None):
        """Targets, start image and optimisation of one scale."""
        sp = replace(p, size=stage.size)
        c = resize_long_side(content, stage.size)
        last = stage.fraction == 1.0
        if stage.above_look:
            objective = look.detail_objective(self, c, styles, p, precision, run.look_image,
                                              plan, regions)
            grams = None
        elif callable(style_grams):
            grams = style_grams(sp)
        elif style_grams is not None and last:
            grams = style_grams
        else:
            grams = [self.style_targets(s.image, sp, c) for s in styles]
        info: dict = {}
        if grams is not None:
            objective = self.objective(c, styles, grams, p, precision, plan, regions)
        x = self._start(c, p, init, previous, stage).requires_grad_(True)
        if stage.steps > 0:
            step, info = self.step_cache.step(objective, x.shape, self.device)
            evaluate = run.evaluator(step, stage)
            if p.optimizer == "lbfgs":
                # a stage of n evaluations never holds more than n pairs: same path, less memory
                history = min(p.lbfgs_history, stage.steps)
                if plan is not None and plan.history is not None:
                    history = plan.history  # cut to fit (fit.py)
                lbfgs = solver.lbfgs_masked if self.loop.solver == "masked" else solver.lbfgs
                lbfgs(x, evaluate, stage.steps, lr=p.learning_rate or 1.0, history=history)
            else:
                solver.adam(x, evaluate, stage.steps, lr=p.learning_rate or 0.02)
        return x.detach(), objective, c, info

    def objective(self, content: torch.Tensor, styles: list[StyleInput], grams: list[dict],
                  p: RenderParams, precision: str, plan: "fit.EvalPlan | None" = None,
                  regions: "spatial.RegionGuide | None" = None) -> Objective:
        """The weighted loss at `content`'s size: content targets computed once here, style
        targets `grams` (one dict per style, as style_targets() makes them) blended, or
        per region when `regions` are given (regions.py); evaluated whole, checkpointed
        or tiled as `plan` says (fit.py)."""
        enc = self.encoder(p.content_layers + p.style_layers, p.pooling,
                           self._use_channels_last(precision))
        if regions is not None:
            return spatial.build_region_objective(plan, enc, content, grams, p, precision,
                                                  regions, p.size)
        targets = blend_grams([(s.weight, g) for s, g in zip(styles, grams)]) if styles else {}
        return fit.build_objective(plan, enc, content, targets, p, precision)

    def _start(self, content: torch.Tensor, p: RenderParams, init, previous,
               stage: Stage | None = None) -> torch.Tensor:
        """The first stage starts from the chosen init; later ones from the previous
        stage's result, upsampled, plus the content's detail band that the coarser stage
        could not hold (see detail_transfer)."""
        size = content.shape[-2:]
        if previous is not None:
            if stage is not None and stage.above_look and not look.DETAIL_REINJECT:
                return F.interpolate(previous, size=size, mode="bicubic",
                                     align_corners=False).clamp(0, 1).contiguous()
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
        self.look_image: torch.Tensor | None = None  # the look size's result (look.py)

    def evaluator(self, step, stage: Stage):
        """evaluate(x) for the solvers: one call of `step` (graphs.EagerStep or GraphStep),
        its gradient left in x.grad."""
        def evaluate(x: torch.Tensor) -> torch.Tensor:
            total, grad, parts = step(x)
            x.grad = grad
            self.count += 1
            if self.count % self.p.log_every == 0 or self.count == self.p.steps:
                self._log(parts, stage)
            return total
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
