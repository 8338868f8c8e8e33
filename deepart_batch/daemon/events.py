"""Named events and the bus they travel on (after huey's signals and `_emit`).

The service loop and its collaborators announce what happened (a photo taken, held,
failed, done; a tick; a stop); what the team and operators see hangs off these as
receivers: problem notes and notifications, the gallery, metrics, systemd status, the run
summary. A receiver that raises is logged and isolated: it never breaks the loop, and the
other receivers of the same event still run.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from loguru import logger

from ..core.states import DaemonEvent

Receiver = Callable[..., None]   # receiver(**payload)


class EventBus:
    def __init__(self):
        self._receivers: dict[DaemonEvent, list[Receiver]] = defaultdict(list)
        self._failing: dict[tuple[int, DaemonEvent], str] = {}  # last error, logged once
        self.errors = 0

    def connect(self, receiver: Receiver, *events: DaemonEvent) -> Receiver:
        """Call `receiver(**payload)` for each of `events`, in the order connected."""
        for event in events:
            self._receivers[DaemonEvent(event)].append(receiver)
        return receiver

    def disconnect(self, receiver: Receiver, *events: DaemonEvent) -> None:
        for event in events or tuple(self._receivers):
            if receiver in self._receivers.get(event, ()):
                self._receivers[event].remove(receiver)

    def receivers(self, event: DaemonEvent) -> list[Receiver]:
        return list(self._receivers.get(DaemonEvent(event), ()))

    def emit(self, event: DaemonEvent, **payload) -> None:
        for receiver in self.receivers(event):
            try:
                receiver(**payload)
            except Exception as exc:   # isolated: the loop and the other receivers go on
                self.errors += 1
                key, text = (id(receiver), event), f"{type(exc).__name__}: {exc}"
                if self._failing.get(key) != text:   # once per distinct error, not per tick
                    logger.opt(exception=exc).error("{} receiver {} failed: {}", event,
                                                    _name(receiver), text)
                    self._failing[key] = text
            else:
                self._failing.pop((id(receiver), event), None)


def _name(receiver: Receiver) -> str:
    return getattr(receiver, "__qualname__", None) or repr(receiver)
