"""Gatys losses as small functions: Gram matrices, content, style and total variation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 activations upcast to fp32 for the sums; fp32 and fp64 kept as they are
    (fp64 is how the tests compare two solvers where their arithmetic agrees)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def gram(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations, normalised by C*H*W so layers of any size compare (fp32 or
    wider).

    Channels-last (NHWC) features are flattened as (H*W, C) - a view, not a copy."""
    b, c, h, w = features.shape
    if b == 1 and c > 1 and features.is_contiguous(memory_format=torch.channels_last):
        flat = at_least_fp32(features.permute(0, 2, 3, 1).reshape(h * w, c))
        return (flat.t() @ flat) / (c * h * w)
    flat = at_least_fp32(features.reshape(b * c, h * w))
    return (flat @ flat.t()) / (c * h * w)


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of the features a guide (1x1xHxW, same H, W, values in [0, 1])
    selects: features times the guide, normalised by C times the guide's squared mass, so it
    is a weighted mean of the positions' channel products and equals gram() for an all-ones
    guide (Gatys et al. 2017, spatial control). fp32 or wider."""
    b, c, h, w = features.shape
    features = at_least_fp32(features)
    guide = guide.to(features.dtype)
    flat = (features * guide).permute(0, 2, 3, 1).reshape(b * h * w, c)
    return (flat.t() @ flat) / (c * guide.pow(2).sum().clamp_min(1e-12))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(at_least_fp32(features), target)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(gram(features), target_gram)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared neighbour difference on the 0-255 scale, to damp high-frequency noise."""
    x = image * 255.0
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def blend_grams(targets: list[tuple[float, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Weighted average of several styles' Gram targets (weights are normalised to sum 1)."""
    total = sum(w for w, _ in targets)
    if total <= 0:
        raise ValueError("style blend weights must sum to more than 0")
    layers = targets[0][1].keys()
    return {layer: sum(w / total * t[layer] for w, t in targets) for layer in layers}
