"""Fault injection for tests of the recovery paths: DEEPART_INJECT_FAULT=kind[@attempts][:match].

kind: oom (raise out-of-memory once per attempt), crash (os._exit mid-job), hang (sleep).
attempts: comma list of attempt numbers it applies to (default: every attempt).
match: only jobs whose content path contains this text.
Example: "crash@1:tubingen" kills the worker during the first attempt of tubingen's jobs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str
    attempts: set[int] | None
    match: str

    def applies(self, attempt: int, photo: str) -> bool:
        """`photo`: the inbox path people gave it (work files have internal names)."""
        return (self.attempts is None or attempt in self.attempts) and self.match in photo


def from_env(env=os.environ) -> Fault | None:
    text = env.get("DEEPART_INJECT_FAULT", "").strip()
    if not text:
        return None
    head, _, match = text.partition(":")
    kind, _, attempts = head.partition("@")
    if kind not in ("oom", "crash", "hang"):
        raise ValueError(f"DEEPART_INJECT_FAULT: unknown fault {kind!r}")
    nums = {int(a) for a in attempts.split(",") if a} if attempts else None
    return Fault(kind, nums, match)


def trigger(fault: Fault) -> None:
    if fault.kind == "oom":
        import torch
        raise torch.OutOfMemoryError("CUDA out of memory (injected by DEEPART_INJECT_FAULT)")
    if fault.kind == "crash":
        os._exit(70)
    time.sleep(24 * 3600)
