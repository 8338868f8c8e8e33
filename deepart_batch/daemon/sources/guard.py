"""One file never stops the daemon: the guard around admitting and planning one file.

Every job source (inbox photos, approvals in outbox/_approve/, style cards) plans a claimed
file through `plan_one` (registry.plan_guarded), at its first take, when a hold ends and at
start-up recovery; taking one settled file that fails in a way the source did not foresee
goes through `admit_failed`: logged once, the file stays where it is. Any
exception while planning that one file makes it a problem (failed/, a note for the team,
PHOTO_FAILED) and the daemon goes on; only trouble of the box itself (a full disk, a busy
or broken journal) passes, for the service loop to handle. An unexpected exception is logged
once with its traceback for ops; the team's note has none. Restarting never re-runs the
poisoned file into a crash: it is archived in failed/.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from loguru import logger

from ...core.states import FailureReason
from ...errors import DeepartError
from ...journal import JournalBusy
from ...paths import is_disk_full


def box_trouble(exc: BaseException) -> bool:
    """Trouble of the box, not of the file: the service loop waits it out or exits."""
    return isinstance(exc, (JournalBusy, sqlite3.Error)) or \
        (isinstance(exc, OSError) and is_disk_full(exc))


def problem_detail(exc: Exception) -> str:
    """What is wrong, for the team's note: the message of a known problem (it names the
    file and says what to do), else the kind of failure without a traceback."""
    if isinstance(exc, (DeepartError, ValueError, OSError)) and str(exc):
        return str(exc)
    return f"an unexpected {type(exc).__name__} while it was planned ({exc})"


def plan_one(inp, plan: Callable[[object], list[int]], outcomes,
             reason: FailureReason) -> list[int]:
    """`plan(inp)`, or, when it raises, `inp` failed with `reason` and a note; [] then."""
    try:
        return plan(inp)
    except Exception as exc:
        if box_trouble(exc):
            raise
        detail = problem_detail(exc)
        if detail.startswith("an unexpected"):
            logger.opt(exception=exc).error("{}: planning it failed unexpectedly; it goes to "
                                            "failed/ and the daemon goes on", inp.relpath)
        else:
            logger.warning("{}: cannot be planned: {}", inp.relpath, detail)
        outcomes.fail_input(inp.id, reason, detail)
        return []


def admit_failed(what: str, exc: Exception, told: dict[str, str]) -> None:
    """Taking the file `what` failed unexpectedly: it stays where it is (tried again at the
    next look) and the daemon goes on; logged once per file and error, with its traceback
    for ops. Trouble of the box is re-raised for the service loop."""
    if box_trouble(exc):
        raise exc
    text = f"{type(exc).__name__}: {exc}"
    if told.get(what) != text:
        logger.opt(exception=exc).error("{}: taking it failed unexpectedly ({}); it stays "
                                        "where it is and the daemon goes on", what, text)
    told[what] = text


def unrenderable(job, exc: Exception) -> tuple[str, str]:
    """(reason, message) refusing a queued job whose stored spec no longer validates (a
    journal row written by another version, or edited): that job fails, the daemon goes on."""
    if not box_trouble(exc) and problem_detail(exc).startswith("an unexpected"):
        logger.opt(exception=exc).debug("job {}: its stored spec does not validate", job.id)
    photo = job.spec.input if job.spec is not None else f"job {job.id}"
    return (FailureReason.ERROR.value,
            f"{photo}: its stored render settings are no longer valid "
            f"({problem_detail(exc)}); drop the file again to plan it anew")
