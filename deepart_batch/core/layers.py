"""VGG19's layer names and their one spelling, without torch (config checks use them)."""

from __future__ import annotations

import re

from ..errors import ParamsError

# (block, convs in block, channels)
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))


def _layer_names() -> tuple[str, ...]:
    names = []
    for block, convs, _ in _BLOCKS:
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


LAYER_NAMES = _layer_names()
CONV_NAMES = tuple(n for n in LAYER_NAMES if n.startswith("conv"))


def canonical_layer(name: str) -> str:
    """Map `relu4_2` style names, and the PyTorch tutorial's `conv_4` names, to one spelling."""
    name = name.strip().lower()
    if name in LAYER_NAMES:
        return name
    m = re.fullmatch(r"(conv|relu)_(\d+)", name)  # tutorial: n-th conv counted over the net
    if m and 1 <= int(m.group(2)) <= len(CONV_NAMES):
        return m.group(1) + CONV_NAMES[int(m.group(2)) - 1][4:]
    raise ParamsError(
        f"unknown layer name {name!r}: use conv/relu names like relu4_2 or conv1_1 "
        f"(blocks 1-5), pool1..pool5, or the tutorial's conv_N / relu_N (N = 1..16)"
    )
