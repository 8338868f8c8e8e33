"""The look evaluator: how far a render is from its style and its photo, at one common size.

Independent of the render's own loss (its weights, layers and per-scale targets), so
renders made at different sizes or with different objectives compare: every image is taken
to the same long side first. Style error: VGG19 relu1_1..relu5_1 Gram matrices normalised
by H*W, relative squared Frobenius error, averaged over the layers. Content error: relu4_2
features, relative squared error. 0 is identical; the photo itself scores about 0.6 style
error against starry night.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .optimize import resize_long_side as to_size  # one home for the resize

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


@dataclass
class LookScores:
    style: float                   # mean relative Gram error against the reference style
    content: float                 # relative relu4_2 error against the reference photo
    style_per_layer: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _gram_hw(f: torch.Tensor) -> torch.Tensor:
    _, c, h, w = f.shape
    flat = f.reshape(c, h * w).double()
    return flat @ flat.t() / (h * w)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).sum() / b.pow(2).sum().clamp_min(1e-30))


class LookEvaluator:
    """Scores images against a style and a photo at `size` px long side. `encoder` is a
    VGGEncoder that reaches relu5_1 (StyleTransfer.encoder(STYLE_LAYERS + (CONTENT_LAYER,)))."""

    def __init__(self, encoder, style: torch.Tensor, photo: torch.Tensor, size: int = 512):
        self.encoder, self.size = encoder, size
        self.style_grams = self.grams(style)
        self.photo_content = self.content(photo)

    @torch.no_grad()
    def _features(self, image: torch.Tensor) -> dict:
        device = next(self.encoder.buffers()).device
        x = to_size(image.float(), self.size).to(device).contiguous()
        return self.encoder(x, STYLE_LAYERS + (CONTENT_LAYER,))

    def grams(self, image: torch.Tensor) -> dict:
        feats = self._features(image)
        return {k: _gram_hw(feats[k]) for k in STYLE_LAYERS}

    def content(self, image: torch.Tensor) -> torch.Tensor:
        return self._features(image)[CONTENT_LAYER].double()

    def score(self, image: torch.Tensor) -> LookScores:
        """Errors of `image` against the style and the photo this evaluator holds."""
        feats = self._features(image)
        per_layer = {k: _relative(_gram_hw(feats[k]), self.style_grams[k]) for k in STYLE_LAYERS}
        return LookScores(style=sum(per_layer.values()) / len(per_layer),
                          content=_relative(feats[CONTENT_LAYER].double(), self.photo_content),
                          style_per_layer=per_layer)

    def compare(self, image: torch.Tensor, reference: torch.Tensor) -> LookScores:
        """Errors of `image` against another render (e.g. a print against its preview):
        Gram error against the reference's Grams, content error against its relu4_2."""
        a, b = self._features(image), self._features(reference)
        per_layer = {k: _relative(_gram_hw(a[k]), _gram_hw(b[k])) for k in STYLE_LAYERS}
        return LookScores(style=sum(per_layer.values()) / len(per_layer),
                          content=_relative(a[CONTENT_LAYER].double(),
                                            b[CONTENT_LAYER].double()),
                          style_per_layer=per_layer)
