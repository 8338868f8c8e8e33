"""Activation checkpointing per VGG block: keep each block's input and the requested layers,
recompute the rest in the backward pass.

Autograd otherwise keeps every ReLU and pooling output of the trunk; blocks 3 and 4 hold
four convolutions each, so at print sizes most of that memory is for layers no loss reads.
One extra forward per evaluation (about a third more compute) buys it back.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from .vgg import VGGEncoder


def _blocks(encoder: VGGEncoder) -> list[list[tuple[str, torch.nn.Module]]]:
    """The trunk's modules grouped into blocks, each ending at its pooling layer."""
    blocks, current = [], []
    for name, module in encoder.net.named_children():
        current.append((name, module))
        if name.startswith("pool"):
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


class CheckpointedEncoder:
    """Runs a VGGEncoder block by block under torch.utils.checkpoint (non-reentrant, so
    autocast and the inputs' requires_grad behave as in the plain encoder). Same call and
    same outputs as the encoder; gradients equal the plain ones (tests/engine/test_printsize.py)."""

    def __init__(self, encoder: VGGEncoder):
        self.encoder = encoder
        self.layers = encoder.layers
        self.channels_last = encoder.channels_last
        self._blocks = _blocks(encoder)

    def buffers(self):
        return self.encoder.buffers()

    def __call__(self, image: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        wanted = set(self.layers if layers is None else layers)
        x = self.encoder.preprocess(image)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        for block in self._blocks:
            keep = [name for name, _ in block if name in wanted]

            def run(x, block=block, keep=keep):
                kept = []
                for name, module in block:
                    x = module(x)
                    if name in keep:
                        kept.append(x)
                return (x, *kept)

            if x.requires_grad:
                x, *kept = checkpoint(run, x, use_reentrant=False)
            else:
                x, *kept = run(x)
            out.update(zip(keep, kept))
            if len(out) == len(wanted):
                break
        return out
