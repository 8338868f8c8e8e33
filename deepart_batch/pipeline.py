"""One render from files: load images, run the engine, build the report.

Shared by the `render` command and the pool's workers, so both produce the same report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from PIL import Image

from .core.states import JobState
from . import images, masks, resolution
from .approved_preview import Approval, print_params
from .core.jobspec import UNDECIDED, JobSpec
from .core.regions import RegionSpec, effective_regions
from .core.timefmt import now_iso
from .engine import RenderParams, StyleInput, StyleTransfer
from .engine.budget import effective_look_size
from .engine.optimize import ProgressCallback, RenderResult, resize_long_side
from .report import FileRef, RenderReport, resolve_shared
from .core.hashing import sha256_file
from .weights import Weights


@dataclass
class StyleFile:
    path: str
    weight: float = 1.0         # 0: used only by a region that names it (regions)
    name: str | None = None
    sha256: str = ""            # known (a job's spec), else hashed here


@dataclass
class RenderRequest:
    """One render. A job's request carries what its planner decided (the photo's hash and
    size, the look size); the `render` command's leaves them to be worked out here."""
    content: str
    styles: list[StyleFile]
    params: RenderParams
    init_image: str | None = None
    max_input_pixels: int = images.DEFAULT_MAX_PIXELS
    meta: dict = field(default_factory=dict)
    content_sha256: str = ""
    photo_size: tuple[int, int] | None = None       # (width, height) of the file
    look_size: int | None | str = UNDECIDED       # the print's look size, when decided
    # A print from an approved preview (approved_preview.py): the preview's file, and what the
    # report says it came from; the render then runs only the detail stages.
    approved_image: str | None = None
    approved_from: dict | None = None
    # Regions (spatial control): a mask file, and what its values become, over the
    # defaults white = the styles weighted above 0, black = kept (core/regions.py).
    mask: str | None = None
    regions: tuple[RegionSpec, ...] = ()

    @classmethod
    def from_spec(cls, spec: JobSpec, params: RenderParams | None = None) -> "RenderRequest":
        """A job's request; `params` replaces the spec's (a smaller retry after an OOM, whose
        look size is decided again)."""
        retry = params is not None
        params = params or spec.params
        return cls(content=spec.content, params=params, max_input_pixels=spec.max_input_pixels,
                   styles=[StyleFile(s.path, s.weight, s.name, s.sha256) for s in spec.styles],
                   content_sha256=spec.content_sha256, photo_size=spec.content_size,
                   # a print from an approved preview keeps the preview as its look
                   look_size=UNDECIDED if retry and not spec.init_from else spec.look_size,
                   approved_image=spec.init_from or None, approved_from=spec.approved_from,
                   mask=spec.mask or None, regions=spec.regions)


def print_request(approval: Approval, print_size: int, approved_image: str,
                  photo: str | None = None, max_input_pixels: int = images.DEFAULT_MAX_PIXELS,
                  styles_dir: str | None = None) -> RenderRequest:
    """The print of an approved preview (approved_preview.py): the preview's photo (or `photo`, where
    it now lies), styles, params and seed at `print_size`, starting from `approved_image`.
    `styles_dir`: where a daemon report's painting paths are relative to."""
    params = print_params(approval, print_size)
    return RenderRequest(
        content=photo or approval.photo, params=params, max_input_pixels=max_input_pixels,
        styles=[StyleFile(resolve_shared(s["path"], styles_dir), s.get("weight") or 1.0,
                          s.get("name"), s.get("sha256", ""))
                for s in approval.styles],
        content_sha256=approval.photo_sha256, look_size=approval.long_side,
        approved_image=approved_image, approved_from=approval.source())


def load_inputs(req: RenderRequest) -> tuple[torch.Tensor, list[StyleInput], torch.Tensor | None]:
    p = req.params
    # Decode a little above the target so the engine's antialiased resize has detail to use.
    content = images.to_tensor(images.load_image(req.content, req.max_input_pixels,
                                                 max_side=p.size * 2))
    style_side = max(16, round(p.size * p.style_scale)) * 2
    styles = [StyleInput(images.to_tensor(images.load_image(s.path, req.max_input_pixels,
                                                            max_side=style_side)), s.weight)
              for s in req.styles]
    init = None
    if req.approved_image:
        init = images.to_tensor(images.load_image(req.approved_image, req.max_input_pixels))
    elif req.init_image:
        init = images.to_tensor(images.load_image(req.init_image, req.max_input_pixels,
                                                  max_side=p.size * 2))
    return content, styles, init


def style_cache_key(style_sha: str, params: RenderParams, weights: Weights,
                    content_sha: str) -> tuple:
    """What a style's Gram targets depend on; colour matching ties them to the content too."""
    return (style_sha, params.size, params.style_scale, tuple(params.style_layers),
            params.pooling, weights.id, content_sha if params.preserve_color == "match" else "")


def render_request(engine: StyleTransfer, weights: Weights, req: RenderRequest,
                   callback: ProgressCallback | None = None,
                   gram_cache=None) -> tuple[Image.Image, RenderReport]:
    """Render one request; `gram_cache` (get/put) lets a long-lived worker reuse targets."""
    started_at, t0 = now_iso(), time.perf_counter()
    params = req.params.validated()
    content, styles, init = load_inputs(req)
    # What the planner decided travels in the request; only a bare request works it out.
    content_sha = req.content_sha256 or sha256_file(req.content)
    style_shas = [s.sha256 or sha256_file(s.path) for s in req.styles]
    style_grams, cache_hits = None, 0
    photo_side = max(req.photo_size or images.probe(req.content, req.max_input_pixels)[:2])
    look_side = req.look_size if req.look_size != UNDECIDED else \
        effective_look_size(params.look_size, params.size, photo_side)
    t_targets = time.perf_counter()

    def cached_targets(sp: RenderParams) -> list[dict]:
        nonlocal cache_hits
        sized = resize_long_side(content, sp.size)
        out = []
        for sha, style in zip(style_shas, styles):
            key = style_cache_key(sha, sp, weights, content_sha)
            grams = gram_cache.get(key)
            if grams is None:
                grams = engine.style_targets(style.image, sp, sized)
                gram_cache.put(key, grams)
            else:
                cache_hits += 1
            out.append(grams)
        return out

    if gram_cache is not None and look_side:
        # A print: the look size's targets are the preview's (cached); the detail stages
        # take theirs from the style at its own resolution (engine/look.py).
        style_grams = (lambda sp: cached_targets(sp) if sp.size == look_side
                       else [engine.style_targets(s.image, sp, resize_long_side(content,
                                                                                sp.size))
                             for s in styles])
    elif gram_cache is not None:
        style_grams = cached_targets(params)
    t_loaded = time.perf_counter()
    approved = init if req.approved_image else None
    region_map = guide = None
    if req.mask:
        region_map, guide = load_regions(req, content)
    result: RenderResult = engine.render(content, styles, params,
                                         init=None if approved is not None else init,
                                         callback=callback, style_grams=style_grams,
                                         look_side=look_side, approved=approved,
                                         regions=guide)
    image = images.to_pil(result.image)
    report = RenderReport(
        status=JobState.DONE,
        input=FileRef(str(req.content), content_sha),
        styles=[FileRef(s.path, sha, s.name, s.weight) for s, sha in zip(req.styles, style_shas)],
        params=params.to_dict(),
        weights={"source": weights.source, "sha256": weights.sha256, "id": weights.id,
                 "preprocessing": weights.preprocessing},
        device=str(engine.device),
        seed=params.seed,
        precision=result.precision,
        memory={"peak_bytes": result.peak_memory_bytes, "method": result.peak_memory_method,
                "estimate_bytes": result.memory_estimate_bytes},
        loop=result.loop,
        timings={"started": started_at, "finished": now_iso(),
                 "load_seconds": round(t_targets - t0, 4),
                 "style_targets_seconds": round(t_loaded - t_targets, 4),
                 "style_cache_hits": cache_hits,
                 "render_seconds": round(result.seconds, 4),
                 "evaluations": result.evaluations,
                 "seconds_per_evaluation": round(result.seconds / max(1, result.evaluations), 4),
                 "scales": result.scale_timings},
        trace=[s.to_dict() for s in result.trace],
        final=result.final.to_dict(),
        final_measured_on=_final_measured_on(params),
        output={"width": image.width, "height": image.height,
                # Print sizes: the look size used (None: rendered at the output size), and
                # how many times the photo was enlarged (None: not at all).
                "look_size": look_side, "photo_long_side": photo_side,
                "photo_upsampled": resolution.upsample_factor(params.size, photo_side),
                "warning": resolution.upsample_warning(params.size, photo_side,
                                                       str(req.content))},
    )
    if req.approved_from:  # a print from an approved preview names it (approved_preview.py)
        report.output["approved_from"] = dict(req.approved_from)
    if region_map is not None:
        report.regions = regions_report(region_map, result)
    return image, report


def load_regions(req: RenderRequest, content: torch.Tensor):
    """The request's mask read at the decoded photo's size (masks.py), and the engine's
    RegionGuide: each region's blend over the request's styles, or kept."""
    from .engine.regions import Region, RegionGuide
    names = [s.name or s.path for s in req.styles]
    default = {n: s.weight for n, s in zip(names, req.styles) if s.weight > 0}
    specs = tuple(r if r.keep or r.styles else replace(r, styles=default)
                  for r in effective_regions(req.regions))
    for spec in specs:
        unknown = sorted(set(spec.styles) - set(names))
        if unknown:
            raise ValueError(f"region {spec.name} names style(s) {', '.join(unknown)}, which "
                             f"the request does not carry")
    h, w = content.shape[-2:]
    region_map = masks.read_mask(req.mask, req.content, (w, h), specs,
                                 photo_size=masks.upright_size(req.content,
                                                               req.max_input_pixels),
                                 max_pixels=req.max_input_pixels)
    regions = []
    for spec in specs:
        weights = None if spec.keep else tuple(spec.styles.get(n, 0.0) for n in names)
        regions.append(Region(spec.name, weights, spec.overrides.get("style_weight"),
                              spec.overrides.get("content_weight")))
    guide = RegionGuide.from_labels(torch.from_numpy(region_map.labels), regions)
    return region_map, guide


def regions_report(region_map: "masks.RegionMap", result: RenderResult) -> dict:
    """What the report says about regions: the mask (path, sha256, size) and, per region,
    what it became, how much of the photo it covers and its final weighted loss."""
    width, height = region_map.mask_size
    losses = result.final.regions
    return {"mask": {"path": region_map.path, "sha256": region_map.sha256,
                     "width": width, "height": height},
            "regions": [{**r, "final_loss": losses.get(r["name"])}
                        for r in region_map.summary()]}


def _final_measured_on(params: RenderParams) -> str:
    """Which image `final` describes; with luminance transfer it is not the traced one."""
    if params.preserve_color == "luminance":
        return ("the output image, after the photo's colours were restored (luminance "
                "transfer); the trace's losses are of the optimised image before that, so "
                "`final` can be higher than the trace's last loss")
    return "the output image"
