"""What to do after trouble: retry, hold or fail. A pure function, tested on its own.

- The photo's trouble fails it at once: rendering it again cannot help.
- The setup's trouble holds it: it waits and is tried again with exponential backoff (and
  at once when the manifest reloads), however many times; it never counts as an attempt.
- The render's trouble (crash, timeout) is retried until max_attempts, then fails; an
  out-of-memory has already been through the on_oom policy in the worker, so it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ...core.states import Category, FailureReason


class Action(str, Enum):
    RETRY = "retry"
    HOLD = "hold"
    FAIL = "fail"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PolicySettings:
    max_attempts: int = 3
    hold_seconds: float = 30.0       # first wait of a held photo
    hold_max_seconds: float = 900.0  # backoff cap

    @classmethod
    def from_config(cls, config) -> "PolicySettings":
        return cls(config.max_attempts, config.problems.hold_seconds,
                   config.problems.hold_max_seconds)


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: FailureReason
    delay: float = 0.0   # seconds before the next try (retry or hold)


RETRYABLE = frozenset({FailureReason.CRASHED, FailureReason.TIMEOUT})


def is_retryable(reason) -> bool:
    """The one retryability rule: not the job's fault (the worker died, a Ray node left,
    the job timed out), so rendering it again may help. Executors report what happened;
    this decides."""
    return FailureReason.parse(reason) in RETRYABLE


def backoff(tries: int, first: float, cap: float = float("inf")) -> float:
    """The one backoff: `first` seconds before the 2nd try, doubling, capped at `cap`.
    `tries` counts the waits before this one (0 for the first)."""
    return min(cap, first * 2 ** max(0, min(int(tries), 30)))


def hold_delay(holds: int, settings: PolicySettings) -> float:
    """Backoff for the (holds+1)-th wait: hold_seconds, doubling, capped."""
    return backoff(holds, settings.hold_seconds, settings.hold_max_seconds)


def decide(reason, attempts: int, holds: int, settings: PolicySettings) -> Outcome:
    """reason: what went wrong (any FailureReason value); attempts: renders tried so far;
    holds: how often this job or photo was held before."""
    reason = FailureReason.parse(reason)
    category = reason.category
    if category is Category.SETUP:
        return Outcome(Action.HOLD, reason, hold_delay(holds, settings))
    if category is Category.RENDER and is_retryable(reason) and attempts < settings.max_attempts:
        return Outcome(Action.RETRY, reason)
    return Outcome(Action.FAIL, reason)
