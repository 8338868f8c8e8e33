"""Approve to print: a print made from an approved preview's own pixels.

A print above its look size is the preview's stages at the look size, then detail stages
(look.py). When the team has approved a preview, those first stages are already done: their
result is the preview. So the print starts from the preview's pixels, as the look result,
and runs only the detail stages above the look size, with the preview's params and seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import memory
from .schedule import Stage


class ApprovalError(ValueError):
    """The approved preview cannot start this print (e.g. no detail stage above it)."""


def start_from(preview: torch.Tensor, content: torch.Tensor, photo_shape: tuple,
               crop: tuple, look_side: int | None, stages: list[Stage]
               ) -> tuple[torch.Tensor, list[Stage]]:
    """The look result a print continues from (the preview at the look size, framed as the
    render's possibly padded `content`) and the stages still to run (those above the look
    size). `photo_shape`: the photo's (height, width) before pad_thin(); `crop`: pad_thin()'s
    (top, left, padded_h, padded_w) of the photo in `content`."""
    detail = [s for s in stages if s.above_look]
    if not look_side or not detail:
        raise ApprovalError(f"a print from an approved preview needs an output larger than "
                            f"the preview's {look_side or '?'} px; raise print_size")
    lh, lw = memory.long_side_shape(*content.shape[-2:], look_side)
    top, left, padded_h, padded_w = crop
    if (padded_h, padded_w) == tuple(photo_shape):
        return _resize(preview, (lh, lw)), detail
    # a long thin photo was padded with its edge pixels: pad the preview the same way
    inner_h = min(lh, max(1, round(lh * photo_shape[0] / padded_h)))
    inner_w = min(lw, max(1, round(lw * photo_shape[1] / padded_w)))
    t = min(round(top * lh / padded_h), lh - inner_h)
    left_px = min(round(left * lw / padded_w), lw - inner_w)
    inner = _resize(preview, (inner_h, inner_w))
    padded = F.pad(inner, (left_px, lw - inner_w - left_px, t, lh - inner_h - t),
                   mode="replicate")
    return padded.contiguous(), detail


def _resize(image: torch.Tensor, shape) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(shape):
        return image.clamp(0, 1).contiguous()
    return F.interpolate(image, size=tuple(shape), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1).contiguous()
