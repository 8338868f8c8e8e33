"""Colour preservation (Gatys et al. 2016): luminance-only transfer and colour matching."""

from __future__ import annotations

import torch

# RGB <-> YIQ, as neural-style's -original_colors uses.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114],
                         [0.596, -0.274, -0.322],
                         [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def luminance_transfer(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the stylised luminance, take chroma (I, Q) from the content."""
    y = _apply(_RGB2YIQ, stylised)[:, :1]
    iq = _apply(_RGB2YIQ, content)[:, 1:]
    return _apply(_YIQ2RGB, torch.cat([y, iq], dim=1)).clamp(0, 1)


def _stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image.reshape(3, -1).double()
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.t() / pixels.shape[1] + 1e-5 * torch.eye(3, dtype=torch.double)
    return mean, cov


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8).rsqrt() if inverse else vals.clamp_min(1e-8).sqrt()
    return vecs @ torch.diag(vals) @ vecs.t()


def match_color(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Affinely map the style image so its colour mean and covariance equal the content's."""
    mu_s, cov_s = _stats(style)
    mu_c, cov_c = _stats(content)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    pixels = style.reshape(3, -1).double()
    out = transform @ (pixels - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
