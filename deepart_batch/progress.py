"""Progress for interactive runs: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:   # a type only: importing this module needs no torch
    from .engine import StepLosses


def _style_sum(losses: StepLosses) -> float:
    return sum(losses.style.values())


def scale_change_line(label: str, previous: int, size: int) -> str:
    """Why the loss jumps up at a new scale: it is a sum over the image's pixels."""
    return (f"{label}: now at {size} px (was {previous} px): the loss is measured on the "
            f"larger image from here, so it is not comparable with the loss at {previous} px "
            f"(it usually starts higher) and falls again at this size")


class ScaleWatch:
    """Says once, at the first step logged at a new scale, why the loss rose."""

    def __init__(self, label: str):
        self.label, self.size = label, 0

    def change(self, losses: StepLosses) -> str | None:
        previous, self.size = self.size, losses.size or self.size
        if previous and losses.size and losses.size != previous:
            return scale_change_line(self.label, previous, losses.size)
        return None


@contextmanager
def progress_reporter(total: int, label: str = "render", stream=None):
    stream = stream or sys.stderr
    scales = ScaleWatch(label)
    if stream.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, desc=label, unit="step", file=stream, dynamic_ncols=True)

        def on_step(losses: StepLosses, total_steps: int) -> None:
            if (line := scales.change(losses)) is not None:
                bar.write(line, file=stream)
            bar.update(losses.step - bar.n)
            bar.set_postfix(loss=f"{losses.total:.4g}", style=f"{_style_sum(losses):.3g}",
                            content=f"{losses.content:.3g}", refresh=False)
        try:
            yield on_step
        finally:
            bar.close()
    else:
        def on_step(losses: StepLosses, total_steps: int) -> None:
            if (line := scales.change(losses)) is not None:
                logger.info(line)
            logger.info("{} step {}/{} loss {:.4g} (content {:.4g}, style {:.4g}, tv {:.4g})",
                        label, losses.step, total_steps, losses.total, losses.content,
                        _style_sum(losses), losses.tv)
        yield on_step
