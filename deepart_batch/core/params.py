"""Render parameters: one dataclass, validated once, recorded verbatim in every report.

In core/ (no torch) because the job spec carries them across every process, and the config
checks and `validate` read their fields, defaults and choices."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields

from ..errors import ParamsError
from .layers import canonical_layer

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")
COLOR_MODES = ("none", "luminance", "match")
POOLINGS = ("max", "avg")
PRECISIONS = ("auto", "fp32", "bf16", "tf32")  # see engine/precision.py
DEFAULT_SCALES: tuple[float, ...] = (0.25, 0.5, 1.0)   # coarse to fine: engine/schedule.py


def param(default=MISSING, *, help: str, choices: tuple[str, ...] | None = None,
          factory=MISSING):
    """A RenderParams field with the words people read about it: the CLI's help and
    choices, and the config checks' choices, all come from here."""
    return field(default=default, default_factory=factory,
                 metadata={"help": help, "choices": choices})


@dataclass
class RenderParams:
    size: int = param(512, help="output long side in pixels")
    steps: int = param(300, help="optimisation steps (loss evaluations)")
    optimizer: str = param("lbfgs", choices=OPTIMIZERS,
                           help="lbfgs (Gatys; converges in few evaluations) or adam (cheaper "
                                "steps, needs more of them)")
    learning_rate: float | None = param(None, help="step size (default 1.0 for lbfgs, 0.02 "
                                                   "for adam)")
    content_layers: tuple[str, ...] = param(("relu4_2",), help="comma-separated, e.g. relu4_2 "
                                                                "or the tutorial's conv_4")
    style_layers: tuple[str, ...] = param(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        help="comma-separated, e.g. relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    layer_weights: dict[str, float] = param(factory=dict, help="extra weight for one layer "
                                                              "(others weigh 1)")
    content_weight: float = param(5.0, help="weight of the photo's content loss (>= 0): "
                                            "higher keeps more of it")
    style_weight: float = param(100.0, help="weight of the paintings' style (Gram) loss "
                                            "(>= 0): higher paints more")
    tv_weight: float = param(1e-3, help="total-variation weight (>= 0): higher smooths away "
                                        "speckle")
    style_scale: float = param(1.0, help="style image long side relative to --size")
    init: str = param("content", choices=INITS,
                      help="content, noise, or the path of an image to start from")
    preserve_color: str = param("none", choices=COLOR_MODES,
                                help="keep the photo's colours: luminance-only transfer, or "
                                     "match the style's colours to the photo first")
    seed: int = param(0, help="random seed (CPU runs repeat exactly)")
    log_every: int = param(10, help="trace/progress interval")
    pooling: str = param("max", choices=POOLINGS, help="VGG's pooling: max or avg")
    lbfgs_history: int = param(100, help="L-BFGS history: step pairs kept")
    # Coarse-to-fine: fractions of `size`, increasing, ending at 1.0; (1.0,) is single-scale.
    scales: tuple[float, ...] = param(DEFAULT_SCALES,
                                      help="coarse-to-fine schedule: fractions of --size "
                                           "ending at 1 (1 = single scale)")
    scale_steps: tuple[int, ...] | None = param(  # None: the default split (schedule.py)
        None, help="evaluations per scale, summing to --steps (default: the engine's split)")
    precision: str = param("auto", choices=PRECISIONS,  # precision.py
                           help="auto: bf16 convolutions where the device runs them natively "
                                "(CPUs with AVX512-BF16 or AMX, CUDA compute capability 8.0+), "
                                "else fp32; tf32: TF32 convolutions on CUDA 8.0+ (fp32 "
                                "elsewhere)")
    # Long side the look (composition, stroke scale) is set at; larger outputs add detail
    # above it (look.py). Capped at the photo's long side; 0 renders at the output size.
    look_size: int = param(1024, help="long side the look (composition, stroke scale) is set "
                                      "at, capped at the photo's; larger --size renders this "
                                      "preview first, then add detail above it without "
                                      "changing the look. Raise it for a finer pattern across "
                                      "the print, lower it for larger strokes; 0 renders "
                                      "straight at --size")
    # Approve to print: the size a preview approved in outbox/_approve/ is printed
    # at (the daemon caps it at limits.max_size); a plain render does not use it.
    print_size: int = param(4096, help="long side of the print made when a preview is "
                                       "approved (daemon: outbox/_approve/)")

    def __post_init__(self):
        self.content_layers = tuple(self.content_layers)
        self.style_layers = tuple(self.style_layers)
        self.layer_weights = dict(self.layer_weights or {})
        if isinstance(self.scales, (list, tuple)):
            self.scales = tuple(self.scales)
        if isinstance(self.scale_steps, list):
            self.scale_steps = tuple(self.scale_steps)

    def validated(self) -> "RenderParams":
        """Return a copy with canonical layer names; raise ParamsError naming the bad field."""
        p = RenderParams(**asdict(self))
        p.content_layers = tuple(canonical_layer(n) for n in p.content_layers)
        p.style_layers = tuple(canonical_layer(n) for n in p.style_layers)
        p.layer_weights = {canonical_layer(k): float(v) for k, v in p.layer_weights.items()}
        if not p.content_layers and not p.style_layers:
            raise ParamsError("no content or style layers: give at least one")
        for name in ("content_weight", "style_weight", "tv_weight"):
            _non_negative(name, getattr(p, name))
        for layer, weight in p.layer_weights.items():
            _non_negative(f"layer_weights[{layer}]", weight)
            if layer not in p.content_layers + p.style_layers:
                raise ParamsError(f"layer_weights names {layer}, which is neither a content "
                                  f"nor a style layer")
        if not isinstance(p.size, int) or p.size < 16:
            raise ParamsError(f"size must be an integer of at least 16 pixels, got {p.size!r}")
        if not isinstance(p.steps, int) or p.steps < 0:
            raise ParamsError(f"steps must be a non-negative integer, got {p.steps!r}")
        if not (isinstance(p.style_scale, (int, float)) and 0.05 <= p.style_scale <= 4):
            raise ParamsError(f"style_scale must be between 0.05 and 4, got {p.style_scale!r}")
        if p.learning_rate is not None:
            _non_negative("learning_rate", p.learning_rate)
        for name, allowed in param_choices().items():
            _one_of(name, getattr(p, name), allowed)
        if p.log_every < 1:
            raise ParamsError(f"log_every must be at least 1, got {p.log_every}")
        if not isinstance(p.lbfgs_history, int) or p.lbfgs_history < 1:
            raise ParamsError(f"lbfgs_history must be an integer >= 1, got {p.lbfgs_history!r}")
        if not isinstance(p.look_size, int) or isinstance(p.look_size, bool) or \
                (p.look_size and p.look_size < 64):
            raise ParamsError(f"look_size must be 0 (off) or an integer of at least 64 "
                              f"pixels, got {p.look_size!r}")
        if not isinstance(p.print_size, int) or isinstance(p.print_size, bool) or \
                p.print_size < 16:
            raise ParamsError(f"print_size must be an integer of at least 16 pixels, got "
                              f"{p.print_size!r}")
        p.scales, p.scale_steps = check_schedule(p.scales, p.scale_steps, p.steps)
        return p

    def to_dict(self) -> dict:
        d = asdict(self)
        d["content_layers"] = list(self.content_layers)
        d["style_layers"] = list(self.style_layers)
        d["scales"] = list(self.scales)
        d["scale_steps"] = None if self.scale_steps is None else list(self.scale_steps)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "RenderParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamsError(f"unknown render parameter(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(known))}")
        return cls(**data)


def param_choices() -> dict[str, tuple[str, ...]]:
    """The parameters that take one of a few words, and the words."""
    return {f.name: f.metadata["choices"] for f in fields(RenderParams)
            if f.metadata.get("choices")}


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


def _non_negative(name: str, value) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ParamsError(f"{name} must be a number >= 0, got {value!r}")


def _one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ParamsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
