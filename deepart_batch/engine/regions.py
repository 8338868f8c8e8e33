"""Spatial control (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer",
CVPR 2017): each region of the photo matches its own painting's Gram matrices, or is kept.

- Guided Gram matrices: a region's guide (its share of every pixel, taken down to each
  layer's resolution by area averaging) multiplies the features before the Gram matrix, which
  is normalised by the guide's mass, so it is the region's own feature statistics and equals
  the plain Gram matrix when the guide covers everything (losses.guided_gram).
- Each styled region is matched to the Gram targets of its own painting (or blend): targets
  depend on the painting and the settings only, never on the mask, so they stay cacheable.
- The content loss is a guide-weighted mean over the styled regions: kept regions need none.
- Kept regions are composited from the photo into the image the loss sees, with an edge
  feathered outwards over a few pixels: the optimiser paints the styled area against the
  real photo next to it, and the output (composited the same way at its size) holds the
  photo exactly inside a kept region with no seam at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import precision as prec
from .losses import at_least_fp32, blend_grams, guided_gram, tv_loss
from .objective import Objective, Parts
from .tiling import layer_stride

# Width (px at the output size) of the blend from a kept region into its styled neighbours.
FEATHER_PX = 4
# A region whose guide holds less than this many positions at a layer has no Gram there.
MIN_MASS = 1e-3


@dataclass
class Region:
    """One region of a render: a blend of the render's styles (one weight per style image),
    or kept (weights None); loss weights that replace the params' for this region."""
    name: str
    weights: tuple[float, ...] | None
    style_weight: float | None = None
    content_weight: float | None = None

    @property
    def keep(self) -> bool:
        return self.weights is None


class RegionGuide:
    """The regions of one photo: one map per region (1 x R x H x W, each pixel's maps sum
    to 1) at the content image's resolution, and what each region becomes."""

    def __init__(self, maps: torch.Tensor, regions: list[Region]):
        if maps.dim() != 4 or maps.shape[1] != len(regions):
            raise ValueError(f"expected 1 x {len(regions)} x H x W region maps, got "
                             f"{tuple(maps.shape)}")
        self.maps = maps.float()
        self.regions = list(regions)

    @classmethod
    def from_labels(cls, labels: torch.Tensor, regions: list[Region]) -> "RegionGuide":
        """From an H x W map of region indices."""
        onehot = F.one_hot(labels.long(), len(regions)).permute(2, 0, 1).unsqueeze(0)
        return cls(onehot.float(), regions)

    def with_maps(self, maps: torch.Tensor) -> "RegionGuide":
        return RegionGuide(maps, self.regions)

    def at(self, height: int, width: int) -> torch.Tensor:
        """The maps at another size, area-averaged (each pixel's shares still sum to 1)."""
        if tuple(self.maps.shape[-2:]) == (height, width):
            return self.maps
        return F.interpolate(self.maps, size=(height, width), mode="area") \
            if height <= self.maps.shape[-2] and width <= self.maps.shape[-1] else \
            F.interpolate(self.maps, size=(height, width), mode="nearest-exact")

    def keep_alpha(self, height: int, width: int, feather: int | None = None
                   ) -> torch.Tensor | None:
        """1 x 1 x H x W: 1 on the kept regions (nearest-sampled, so exact), falling off
        linearly over `feather` px outside them; None when nothing is kept."""
        index = [i for i, r in enumerate(self.regions) if r.keep]
        if not index:
            return None
        keep = self.maps[:, index].sum(1, keepdim=True)
        keep = F.interpolate(keep, size=(height, width), mode="nearest-exact")
        keep = (keep > 0.5).float()
        feather = FEATHER_PX if feather is None else feather
        if feather <= 0:
            return keep
        # Chebyshev distance d to the kept area -> alpha = max(0, 1 - d / (feather + 1)):
        # `feather` pixels between the photo and the painting
        alpha = keep.clone()
        for k in range(1, feather + 1):
            grown = F.max_pool2d(keep, 2 * k + 1, stride=1, padding=k)
            alpha = torch.maximum(alpha, grown * (1 - k / (feather + 1)))
        return alpha


def feather_at(size: int, output_size: int) -> int:
    """The feather width at a stage: FEATHER_PX at the output size, scaled down, >= 1."""
    return max(1, round(FEATHER_PX * size / max(1, output_size)))


def composite(x: torch.Tensor, photo: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
    """The photo over x where alpha says (alpha None: x as it is)."""
    if alpha is None:
        return x
    return alpha * photo + (1 - alpha) * x


def region_targets(guide: RegionGuide, grams: list[dict]) -> list[dict | None]:
    """Each styled region's Gram targets: its styles' targets blended by its weights."""
    out = []
    for r in guide.regions:
        if r.keep:
            out.append(None)
            continue
        pairs = [(w, g) for w, g in zip(r.weights, grams) if w > 0]
        out.append(blend_grams(pairs) if pairs else None)
    return out


class RegionObjective(Objective):
    """The Gatys objective with guided Grams per region, a guided content loss and the kept
    regions composited from the photo (module docstring). Parts.style stays per layer
    (summed over regions); Parts.regions holds each region's weighted style + content."""

    def __init__(self, encoder, content_targets: dict, targets: list[dict | None], p,
                 guide: RegionGuide, photo: torch.Tensor, feather: int,
                 precision: str = "fp32"):
        super().__init__(encoder, content_targets, {}, p, precision)
        h, w = photo.shape[-2:]
        self.photo = photo
        self.region_list = guide.regions
        self.targets = targets
        # the maps stay where they are (the CPU, at the photo's size); only their copies at
        # this stage's size go to the device
        alpha = guide.keep_alpha(h, w, feather)
        self.alpha = None if alpha is None else alpha.to(photo.device)
        maps = guide.at(h, w).to(photo.device)
        self.guides = {k: F.interpolate(maps, size=(h // layer_stride(k), w // layer_stride(k)),
                                        mode="area")
                       for k in self.layers}
        # each region's mass per layer, read once (no device sync per evaluation)
        self.masses = {k: g.sum((0, 2, 3)).tolist() for k, g in self.guides.items()}
        self.style_layers = tuple(p.style_layers)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        p, lw = self.p, self.p.layer_weights
        x = composite(x.clamp(0, 1), self.photo, self.alpha)
        with prec.forward_autocast(self.precision, x.device, self.autocast_cache):
            feats = self.encoder(x, self.layers)
        zero = x.new_zeros((), dtype=torch.float32)
        style = {k: zero for k in self.style_layers}
        content = zero
        regions: dict[str, torch.Tensor] = {}
        for i, (r, targets) in enumerate(zip(self.region_list, self.targets)):
            if r.keep:
                continue
            sw = p.style_weight if r.style_weight is None else r.style_weight
            cw = p.content_weight if r.content_weight is None else r.content_weight
            total_r = zero
            for k in self.style_layers:
                if targets is None or self.masses[k][i] < MIN_MASS:
                    continue
                g = self.guides[k][:, i:i + 1]
                term = lw.get(k, 1.0) * sw * F.mse_loss(guided_gram(feats[k], g), targets[k])
                style[k] = style[k] + term
                total_r = total_r + term
            for k, t in self.content_targets.items():
                if self.masses[k][i] < MIN_MASS:
                    continue
                g = self.guides[k][:, i:i + 1]
                mass = self.masses[k][i] * t.shape[1]
                term = lw.get(k, 1.0) * cw * ((at_least_fp32(feats[k]) - t).pow(2)
                                              * g).sum() / mass
                content = content + term
                total_r = total_r + term
            regions[r.name] = total_r
        tv = tv_loss(x) * p.tv_weight if p.tv_weight else zero
        total = content + sum(style.values(), zero) + tv
        return total, Parts(total, content, style, tv, regions=regions)


def refuse_tiled(plans: dict, stages) -> None:
    """Regions are evaluated whole or checkpointed; a render with a stage that only fits by
    tiles is refused before anything runs (a guided Gram by tiles is not written yet)."""
    from .budget import EvalMode, MemoryLimitError
    tiled = [s.size for s in stages if plans[s.index].mode is EvalMode.TILED]
    if tiled:
        raise MemoryLimitError(
            f"a render with a mask (regions) at {max(tiled)} px only fits in memory by tiles, "
            f"and regions cannot be rendered by tiles yet; lower size (or look_size), or "
            f"render on a device with more memory")


def build_region_objective(plan, encoder, content: torch.Tensor, grams: list[dict], p,
                           precision: str, guide: RegionGuide, output_size: int
                           ) -> RegionObjective:
    """The objective of one stage at `content`'s size, whole or checkpointed per `plan`
    (tiled evaluation of regions is refused before the render starts: optimize.py)."""
    from .budget import EvalMode
    from .checkpoint import CheckpointedEncoder
    with torch.no_grad():
        targets = {k: v.float() for k, v in encoder(content, p.content_layers).items()} \
            if p.content_layers else {}
    if plan is not None and plan.mode is EvalMode.CHECKPOINTED:
        encoder = CheckpointedEncoder(encoder)
    feather = feather_at(max(content.shape[-2:]), output_size)
    return RegionObjective(encoder, targets, region_targets(guide, grams), p,
                           guide, content, feather, precision)


def finish(out: torch.Tensor, photo: torch.Tensor, guide: RegionGuide | None,
           output_size: int) -> torch.Tensor:
    """The output with its kept regions composited from the photo (same size as out)."""
    if guide is None:
        return out
    h, w = out.shape[-2:]
    alpha = guide.keep_alpha(h, w, feather_at(max(h, w), output_size))
    return composite(out, photo, None if alpha is None else alpha.to(out.device))
