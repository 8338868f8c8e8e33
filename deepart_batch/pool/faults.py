"""Fault injection for tests of the recovery paths: the worker's side of
DEEPART_INJECT_FAULT (the switch and its format: deepart_batch.testing)."""

from __future__ import annotations

import os
import time

from ..testing import Fault, injected_fault


def from_env(text: str | None = None) -> Fault | None:
    """The fault to inject: `text` (a Ray actor's copy of the daemon's value) or this
    process's DEEPART_INJECT_FAULT, read and parsed by deepart_batch.testing."""
    return injected_fault(text)


SLOW_START_SECONDS = 25.0


def slow_start(fault: Fault | None) -> None:
    """A worker that takes long to load its weights (the fault `slow_start`)."""
    if fault is not None and fault.kind == "slow_start":
        time.sleep(SLOW_START_SECONDS)


def job_fault(fault: Fault | None) -> Fault | None:
    """The fault a job injects while it renders: slow_start and untaken happen before the
    render begins."""
    return None if fault is None or fault.kind in ("slow_start", "untaken") else fault


def untaken(fault: Fault | None, job) -> None:
    """A ready worker that hangs when it is given the job (the fault `untaken`), before it
    says it began: what a stopped worker or a hung driver looks like to the pool."""
    if fault is not None and fault.kind == "untaken" and fault.applies(job.attempt,
                                                                       job.spec.input):
        time.sleep(24 * 3600)


def trigger(fault: Fault) -> None:
    if fault.kind == "oom":
        import torch
        raise torch.OutOfMemoryError("CUDA out of memory (injected by DEEPART_INJECT_FAULT)")
    if fault.kind == "crash":
        os._exit(70)
    time.sleep(24 * 3600)
