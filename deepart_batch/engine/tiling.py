"""Tiled evaluation with exact Gram matrices (Galerne et al., "Scaling Painting Style
Transfer", 2022).

A Gram matrix is a sum over positions, and a content loss a sum over positions, so an image
too large for one pass can be cut into tiles that each own a block of positions. Each tile
is evaluated with a margin of neighbours as wide as the deepest layer's receptive field
(rounded up to the pooling grid, so pooling windows line up with the whole image's), and
contributes only the positions it owns: the sums, and so the loss, equal the untiled ones.

The gradient is exact too, in two passes: pass 1 (no autograd) sums every tile's Gram
contributions to get the whole image's Grams G and hence dL/dG; pass 2 runs each tile again
with autograd and back-propagates <dL/dG, G_tile> (+ its content term), accumulating the
tiles' input gradients. Memory is one tile's activations plus whole-image vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import precision as prec
from .losses import tv_loss
from .objective import Parts
from .budget import GRID, receptive_margin  # noqa: F401  (pure: the planner needs it)
from .vgg import LAYER_NAMES, canonical_layer


def layer_stride(layer: str) -> int:
    """How many input pixels one position of `layer` steps over (2 ** pools before it)."""
    i = LAYER_NAMES.index(canonical_layer(layer))
    return 2 ** sum(1 for n in LAYER_NAMES[:i] if n.startswith("pool"))


@dataclass(frozen=True)
class Tile:
    y0: int          # computed region (input pixels), margins included
    y1: int
    x0: int
    x1: int
    own_y0: int      # owned region (input pixels)
    own_y1: int
    own_x0: int
    own_x1: int


def _spans(length: int, tile: int, margin: int):
    for start in range(0, length, tile):
        end = min(length, start + tile)
        if length - end < GRID:        # no sliver under the grid at the far edge
            end = length
        yield max(0, start - margin), min(length, end + margin), start, end
        if end == length:
            break


def plan_tiles(height: int, width: int, tile: int, margin: int) -> list[Tile]:
    """Tiles owning `tile` x `tile` px blocks (the last row/column takes the remainder)."""
    if tile % GRID or margin % GRID:
        raise ValueError(f"tile and margin must be multiples of {GRID}, got {tile}, {margin}")
    return [Tile(y0, y1, x0, x1, oy0, oy1, ox0, ox1)
            for y0, y1, oy0, oy1 in _spans(height, tile, margin)
            for x0, x1, ox0, ox1 in _spans(width, tile, margin)]


def _owned(feature: torch.Tensor, t: Tile, layer: str, height: int, width: int):
    """The positions of `feature` (computed on tile t) that t owns, as (slice_y, slice_x)
    in the tile's feature and in the whole image's feature."""
    s = layer_stride(layer)
    gy0, gx0 = t.own_y0 // s, t.own_x0 // s
    gy1 = height // s if t.own_y1 == height else t.own_y1 // s
    gx1 = width // s if t.own_x1 == width else t.own_x1 // s
    ly0, lx0 = gy0 - t.y0 // s, gx0 - t.x0 // s
    return ((slice(ly0, ly0 + gy1 - gy0), slice(lx0, lx0 + gx1 - gx0)),
            (slice(gy0, gy1), slice(gx0, gx1)))


def _positions(layer: str, x: torch.Tensor) -> int:
    """Positions of `layer` over the whole image x (what a Gram matrix is normalised by)."""
    s = layer_stride(layer)
    return (x.shape[-2] // s) * (x.shape[-1] // s)


def _flat(f: torch.Tensor) -> torch.Tensor:
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).float()


@torch.no_grad()
def tiled_features(encoder, image: torch.Tensor, layers, tile: int, margin: int | None = None,
                   precision: str = "fp32") -> dict[str, torch.Tensor]:
    """The encoder's features of the whole image (fp32, NCHW), computed tile by tile."""
    layers = tuple(canonical_layer(n) for n in layers)
    margin = receptive_margin(layers) if margin is None else margin
    h, w = image.shape[-2:]
    out: dict[str, torch.Tensor] = {}
    for t in plan_tiles(h, w, tile, margin):
        with prec.forward_autocast(precision, image.device):
            feats = encoder(image[..., t.y0:t.y1, t.x0:t.x1], layers)
        for k, f in feats.items():
            if k not in out:
                s = layer_stride(k)
                out[k] = image.new_zeros((1, f.shape[1], h // s, w // s), dtype=torch.float32)
            (ly, lx), (gy, gx) = _owned(f, t, k, h, w)
            out[k][..., gy, gx] = f[..., ly, lx].float()
    return out


class TiledObjective:
    """The same loss as objective.Objective, evaluated tile by tile (see module docstring).
    Call it for the loss (no autograd); value_and_grad() also fills x.grad."""

    def __init__(self, encoder, content_targets: dict, target_grams: dict, p, tile: int,
                 precision: str = "fp32"):
        self.encoder, self.p, self.tile, self.precision = encoder, p, tile, precision
        self.content_targets, self.target_grams = content_targets, target_grams
        self.layers = tuple(dict.fromkeys(p.content_layers + p.style_layers))
        self.margin = receptive_margin(self.layers)

    def _tile_terms(self, feats: dict, t: Tile, h: int, w: int):
        """This tile's Gram sums (unnormalised) and content squared-error sums."""
        grams, content = {}, {}
        for k in self.target_grams:
            (ly, lx), _ = _owned(feats[k], t, k, h, w)
            f = _flat(feats[k][..., ly, lx])
            grams[k] = f.t() @ f
        for k, target in self.content_targets.items():
            (ly, lx), (gy, gx) = _owned(feats[k], t, k, h, w)
            content[k] = (feats[k][..., ly, lx].float() - target[..., gy, gx]).pow(2).sum()
        return grams, content

    def _losses(self, gram_sums: dict, content_sums: dict, x: torch.Tensor):
        p, lw = self.p, self.p.layer_weights
        zero = x.new_zeros((), dtype=torch.float32)
        grams = {k: g / g.shape[0] / _positions(k, x)
                 for k, g in gram_sums.items()}
        style = {k: lw.get(k, 1.0) * p.style_weight * F.mse_loss(grams[k], self.target_grams[k])
                 for k in grams}
        content = sum((lw.get(k, 1.0) * s / self.content_targets[k].numel()
                       for k, s in content_sums.items()), zero) * p.content_weight
        return grams, style, content

    def _pass1(self, x: torch.Tensor):
        h, w = x.shape[-2:]
        gram_sums = {k: 0 for k in self.target_grams}
        content_sums = {k: 0 for k in self.content_targets}
        with torch.no_grad():
            for t in plan_tiles(h, w, self.tile, self.margin):
                with prec.forward_autocast(self.precision, x.device):
                    feats = self.encoder(x[..., t.y0:t.y1, t.x0:t.x1].clamp(0, 1), self.layers)
                grams, content = self._tile_terms(feats, t, h, w)
                for k in grams:
                    gram_sums[k] = gram_sums[k] + grams[k]
                for k in content:
                    content_sums[k] = content_sums[k] + content[k]
        return gram_sums, content_sums

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        gram_sums, content_sums = self._pass1(x.detach())
        _, style, content = self._losses(gram_sums, content_sums, x)
        with torch.no_grad():
            tv = tv_loss(x.clamp(0, 1)) * self.p.tv_weight if self.p.tv_weight else \
                x.new_zeros((), dtype=torch.float32)
        total = content + sum(style.values(), torch.zeros_like(content)) + tv
        return total, Parts(total, content, style, tv)

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        p, lw = self.p, self.p.layer_weights
        h, w = x.shape[-2:]
        gram_sums, content_sums = self._pass1(x.detach())
        grams, style, content = self._losses(gram_sums, content_sums, x)
        # dL/d(Gram sum) per layer: the weighted MSE's derivative, times the normalisation.
        coeffs = {k: lw.get(k, 1.0) * p.style_weight * 2 * (grams[k] - self.target_grams[k])
                  / grams[k].numel() / grams[k].shape[0] / _positions(k, x)
                  for k in grams}
        cscale = {k: p.content_weight * lw.get(k, 1.0) / t.numel()
                  for k, t in self.content_targets.items()}
        x.grad = None
        tv = x.new_zeros((), dtype=torch.float32)
        if p.tv_weight:
            tv = tv_loss(x.clamp(0, 1)) * p.tv_weight
            tv.backward()
        grad = x.grad if x.grad is not None else torch.zeros_like(x)
        for t in plan_tiles(h, w, self.tile, self.margin):
            xt = x.detach()[..., t.y0:t.y1, t.x0:t.x1].clone().requires_grad_(True)
            with prec.forward_autocast(self.precision, x.device):
                feats = self.encoder(xt.clamp(0, 1), self.layers)
            tile_grams, tile_content = self._tile_terms(feats, t, h, w)
            surrogate = sum((coeffs[k] * g).sum() for k, g in tile_grams.items()) + \
                sum(cscale[k] * c for k, c in tile_content.items())
            surrogate.backward()
            grad[..., t.y0:t.y1, t.x0:t.x1] += xt.grad
        x.grad = grad
        total = (content + sum(style.values(), torch.zeros_like(content)) + tv.detach())
        return total.detach(), Parts(total.detach(), content, style, tv.detach())
