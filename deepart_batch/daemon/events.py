"""Events are facts: what happened, typed, and the bus they travel on (after huey's
signals and `_emit`).

The service loop and its collaborators announce what happened (a photo taken, held,
failed, done; a tick; a stop) as one frozen dataclass per DaemonEvent kind (core/states.py),
with its payload and the moment it happened (`at`). What the team and operators see hangs
off these as receivers: problem notes and notifications, the gallery, metrics, systemd
status, the run summary. A receiver never changes control flow: one that raises is logged
(once per distinct error) and the loop and the other receivers of the same event go on.
Whatever must happen for the daemon to work is a direct call, never a receiver.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

from loguru import logger

from ..core.states import DaemonEvent, FailureReason


def _now() -> float:
    return time.time()


fact = dataclass(frozen=True, kw_only=True)   # every fact: immutable, built by keyword


@fact
class Fact:
    kind: ClassVar[DaemonEvent]
    at: float = field(default_factory=_now)   # when it happened


@fact
class Started(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.STARTED


@fact
class Ready(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.READY


@fact
class Tick(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.TICK
    stopping: bool = False
    drain_left: float | None = None   # seconds of drain_seconds left, while draining


@fact
class PhotoTaken(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.PHOTO_TAKEN
    photo: str
    input: int
    jobs: tuple[int, ...] = ()


@fact
class PhotoFact(Fact):
    """What the team hears of one photo (or approval, or painting's card). `input` and
    `holds` are its journal identity: its notification's webhook-id is built from them."""
    photo: str
    campaign: str
    jobs: tuple[int, ...] = ()
    input: int | None = None   # its journal row; None for a photo that has none yet
    holds: int = 0
    styles: tuple[str, ...] = ()


@fact
class Finished(PhotoFact):
    """All of its renders are in the outbox."""
    outputs: tuple[str, ...] = ()


@fact
class PhotoDone(Finished):
    kind: ClassVar[DaemonEvent] = DaemonEvent.PHOTO_DONE


@fact
class PrintReady(Finished):
    """An approval's print (outbox/_approve/ -> its print-size render); `photo` is the
    approval's path, `<approve folder>/<name>`."""
    kind: ClassVar[DaemonEvent] = DaemonEvent.PRINT_READY


@fact
class CardReady(Finished):
    """A painting's style card (outbox/_styles/); `photo` is `_styles/<painting>`."""
    kind: ClassVar[DaemonEvent] = DaemonEvent.CARD_READY


@fact
class PhotoFailed(PhotoFact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.PHOTO_FAILED
    reason: str
    detail: str
    archived: Path | None = None
    time: str = ""        # as its error report says it (ISO 8601)


@fact
class PhotoHeld(PhotoFact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.PHOTO_HELD
    reason: FailureReason
    detail: str
    work_copy: Path | None = None
    first: bool = True        # the first hold of this photo: the team is told


@fact
class PhotoReleased(PhotoFact):
    """A held photo goes on: its hold's cause went away (a painting arrived, the manifest
    was fixed, a device joined) and it is planned or rendering."""
    kind: ClassVar[DaemonEvent] = DaemonEvent.PHOTO_RELEASED
    reason: FailureReason      # why it was held


@fact
class JobDone(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.JOB_DONE
    job: int
    photo: str
    output: str


@fact
class JobFailed(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.JOB_FAILED
    job: int
    reason: str
    detail: str


@fact
class JobRetried(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.JOB_RETRIED
    job: int
    reason: str
    detail: str


@fact
class PassFinished(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.PASS_FINISHED
    photos_done: int
    photos_failed: int
    photos_held: int
    renders: int

    def counts(self) -> dict[str, int]:
        return {"photos_done": self.photos_done, "photos_failed": self.photos_failed,
                "photos_held": self.photos_held, "renders": self.renders}


@fact
class Stopping(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.STOPPING


@fact
class Stopped(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.STOPPED


@fact
class FolderMissing(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.FOLDER_MISSING
    folder: str
    path: str
    detail: str


@fact
class FolderBack(Fact):
    kind: ClassVar[DaemonEvent] = DaemonEvent.FOLDER_BACK
    folder: str
    path: str
    replaced: bool = False    # deleted and made again: a new folder


FACTS: dict[DaemonEvent, type[Fact]] = {cls.kind: cls for cls in (
    Started, Ready, Tick, PhotoTaken, PhotoDone, PhotoFailed, PhotoHeld, PhotoReleased,
    PrintReady, CardReady, JobDone, JobFailed,
    JobRetried, PassFinished, Stopping, Stopped, FolderMissing, FolderBack)}

Receiver = Callable[[Fact], None]   # receiver(fact)


class EventBus:
    def __init__(self):
        self._receivers: dict[DaemonEvent, list[Receiver]] = defaultdict(list)
        self._failing: dict[tuple[int, DaemonEvent], str] = {}  # last error, logged once
        self.errors = 0

    def connect(self, receiver: Receiver, *events: DaemonEvent) -> Receiver:
        """Call `receiver(fact)` for each of `events`, in the order connected."""
        for event in events:
            self._receivers[DaemonEvent(event)].append(receiver)
        return receiver

    def disconnect(self, receiver: Receiver, *events: DaemonEvent) -> None:
        for event in events or tuple(self._receivers):
            if receiver in self._receivers.get(event, ()):
                self._receivers[event].remove(receiver)

    def receivers(self, event: DaemonEvent) -> list[Receiver]:
        return list(self._receivers.get(DaemonEvent(event), ()))

    def emit(self, fact: Fact) -> None:
        """Tell every receiver of this kind of fact; none can stop the others or the
        caller (a receiver that raises is logged once per distinct error)."""
        if not isinstance(fact, Fact):
            raise TypeError(f"the bus carries facts (events.py), not {fact!r}")
        for receiver in self.receivers(fact.kind):
            try:
                receiver(fact)
            except Exception as exc:   # isolated: the loop and the other receivers go on
                self.errors += 1
                key, text = (id(receiver), fact.kind), f"{type(exc).__name__}: {exc}"
                if self._failing.get(key) != text:   # once per distinct error, not per tick
                    logger.opt(exception=exc).error("{} receiver {} failed: {}", fact.kind,
                                                    _name(receiver), text)
                    self._failing[key] = text
            else:
                self._failing.pop((id(receiver), fact.kind), None)


def _name(receiver: Receiver) -> str:
    return getattr(receiver, "__qualname__", None) or repr(receiver)
