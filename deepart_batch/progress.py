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


@contextmanager
def progress_reporter(total: int, label: str = "render", stream=None):
    stream = stream or sys.stderr
    if stream.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, desc=label, unit="step", file=stream, dynamic_ncols=True)

        def on_step(losses: StepLosses, total_steps: int) -> None:
            bar.update(losses.step - bar.n)
            bar.set_postfix(loss=f"{losses.total:.4g}", style=f"{_style_sum(losses):.3g}",
                            content=f"{losses.content:.3g}", refresh=False)
        try:
            yield on_step
        finally:
            bar.close()
    else:
        def on_step(losses: StepLosses, total_steps: int) -> None:
            logger.info("{} step {}/{} loss {:.4g} (content {:.4g}, style {:.4g}, tv {:.4g})",
                        label, losses.step, total_steps, losses.total, losses.content,
                        _style_sum(losses), losses.tv)
        yield on_step
