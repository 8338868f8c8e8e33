"""The optimisation loop: a pure engine class in the style of style-transfer-pytorch."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from . import color
from .losses import blend_grams, content_loss, gram, style_loss, tv_loss
from .params import RenderParams, StyleInput
from .vgg import VGGEncoder


@dataclass
class StepLosses:
    step: int
    total: float
    content: float
    style: dict[str, float] = field(default_factory=dict)  # weighted, per layer
    tv: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RenderResult:
    image: torch.Tensor          # 1x3xHxW, RGB in [0, 1], on the CPU
    trace: list[StepLosses]
    final: StepLosses            # losses of the returned image itself
    evaluations: int
    seconds: float


ProgressCallback = Callable[[StepLosses, int], None]


def resize_long_side(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    if scale == 1:
        return image
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(image, size=new, mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


class StyleTransfer:
    """Holds decoded VGG19 weights on one device; renders any number of jobs."""

    def __init__(self, conv_weights: dict, preprocessing: str, device: str | torch.device = "cpu"):
        self.conv_weights = conv_weights
        self.preprocessing = preprocessing
        self.device = torch.device(device)
        self._encoders: dict[tuple, VGGEncoder] = {}

    def encoder(self, layers, pooling: str = "max") -> VGGEncoder:
        """The trunk cut after the deepest requested layer, built once per layer set."""
        key = (tuple(sorted(set(layers))), pooling)
        if key not in self._encoders:
            enc = VGGEncoder(self.conv_weights, self.preprocessing, key[0], pooling)
            self._encoders[key] = enc.to(self.device)
        return self._encoders[key]

    def style_targets(self, style: torch.Tensor, params: RenderParams,
                      content: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gram targets of one style image. Pure in its inputs, so callers may cache it by
        (style hash, size, layers, weights id) - plus the content hash with colour matching."""
        p = params.validated()
        style = resize_long_side(style.to(self.device), max(16, round(p.size * p.style_scale)))
        if p.preserve_color == "match" and content is not None:
            style = color.match_color(style, content.to(self.device))
        enc = self.encoder(p.style_layers, p.pooling)
        with torch.no_grad():
            return {k: gram(v) for k, v in enc(style, p.style_layers).items()}

    def render(self, content: torch.Tensor, styles: list[StyleInput], params: RenderParams,
               init: torch.Tensor | None = None, callback: ProgressCallback | None = None,
               style_grams: list[dict] | None = None) -> RenderResult:
        started = time.perf_counter()
        p = params.validated()
        if not styles and p.style_layers:
            raise ValueError("at least one style image is needed")
        torch.manual_seed(p.seed)
        content = resize_long_side(content.to(self.device), p.size)
        if style_grams is None:
            style_grams = [self.style_targets(s.image, p, content) for s in styles]
        enc = self.encoder(p.content_layers + p.style_layers, p.pooling)
        with torch.no_grad():
            content_targets = {k: v.float() for k, v in enc(content, p.content_layers).items()}
        target_grams = blend_grams([(s.weight, g) for s, g in zip(styles, style_grams)]) \
            if styles else {}
        x = self._initial_image(content, p, init).contiguous().requires_grad_(True)
        objective = _Objective(enc, content_targets, target_grams, p)

        trace: list[StepLosses] = []
        evaluations = 0

        def closure():
            nonlocal evaluations
            if torch.is_grad_enabled():
                x.grad = None
            total, parts = objective(x)
            total.backward()
            evaluations += 1
            if evaluations % p.log_every == 0 or evaluations == p.steps:
                losses = parts.to_losses(evaluations)
                trace.append(losses)
                if callback is not None:
                    callback(losses, p.steps)
            return total

        if p.steps > 0:
            if p.optimizer == "lbfgs":
                opt = torch.optim.LBFGS([x], lr=p.learning_rate or 1.0, max_iter=p.steps,
                                        max_eval=p.steps, tolerance_grad=-1,
                                        tolerance_change=-1, history_size=p.lbfgs_history,
                                        line_search_fn="strong_wolfe")
                opt.step(closure)
            else:
                opt = torch.optim.Adam([x], lr=p.learning_rate or 0.02)
                for _ in range(p.steps):
                    opt.step(closure)
                    with torch.no_grad():
                        x.clamp_(0, 1)

        with torch.no_grad():
            out = x.detach().clamp(0, 1)
            if p.preserve_color == "luminance":
                out = color.luminance_transfer(out, content)
            total, parts = objective(out)
            final = parts.to_losses(evaluations)
        return RenderResult(out.cpu(), trace, final, evaluations,
                            time.perf_counter() - started)

    def _initial_image(self, content, p: RenderParams, init):
        if p.init == "content":
            return content.clone(memory_format=torch.contiguous_format)
        if p.init == "noise":
            gen = torch.Generator(device="cpu").manual_seed(p.seed)
            noise = torch.rand(content.shape, generator=gen).to(self.device)
            return noise
        if init is None:
            raise ValueError("init='image' needs an init image")
        return F.interpolate(init.to(self.device), size=content.shape[-2:], mode="bicubic",
                             antialias=True, align_corners=False).clamp(0, 1)


@dataclass
class _Parts:
    total: torch.Tensor
    content: torch.Tensor
    style: dict[str, torch.Tensor]
    tv: torch.Tensor

    def to_losses(self, step: int) -> StepLosses:
        return StepLosses(step=step, total=float(self.total.detach()), content=float(self.content.detach()),
                          style={k: float(v.detach()) for k, v in self.style.items()},
                          tv=float(self.tv.detach()))


class _Objective:
    """Weighted Gatys objective; targets are fixed tensors computed once, outside the loop."""

    def __init__(self, encoder, content_targets, target_grams, p: RenderParams):
        self.encoder = encoder
        self.content_targets = content_targets
        self.target_grams = target_grams
        self.p = p
        self.layers = tuple(dict.fromkeys(p.content_layers + p.style_layers))

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, _Parts]:
        p = self.p
        lw = p.layer_weights
        feats = self.encoder(x, self.layers)
        zero = x.new_zeros(())
        content = sum((lw.get(k, 1.0) * content_loss(feats[k], t)
                       for k, t in self.content_targets.items()), zero) * p.content_weight
        style = {k: lw.get(k, 1.0) * p.style_weight * style_loss(feats[k], t)
                 for k, t in self.target_grams.items()}
        tv = tv_loss(x) * p.tv_weight if p.tv_weight else zero
        total = content + sum(style.values(), zero) + tv
        return total, _Parts(total, content, style, tv)
