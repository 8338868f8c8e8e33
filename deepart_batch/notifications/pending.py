"""Notifications kept in the journal until they are sent, so a daemon killed with events
still queued (or a try in flight) sends them after its restart, under the same webhook-id.

The daemon's own journal connection (its main thread) remembers each event as it is
emitted, inside the transaction of the state change it tells of where the caller opened
one; the delivery thread forgets it through its own connection (JournalDeliveryLog) once
every endpoint has had it: delivered, or given up on after its retries. A try that a stop
cuts short keeps it for the next start. Trouble with the journal is logged once and never
stops an event from being sent from memory.
"""

from __future__ import annotations

import json

from loguru import logger


class PendingNotices:
    """The notices table through the daemon's journal; used from its main thread only."""

    def __init__(self, journal):
        self.journal = journal
        self._complained = False

    def remember(self, message_id: str, event: dict) -> None:
        # ASCII JSON: a name that is not valid UTF-8 (surrogate escapes) is stored as is
        self._try("kept", self.journal.remember_notice, message_id, json.dumps(event))

    def forget(self, message_id: str) -> None:
        """An event dropped from a full queue: it is not sent after a restart either."""
        self._try("forgotten", self.journal.forget_notice, message_id)

    def load(self) -> list[dict]:
        """The events a stopped or killed daemon had not sent yet, oldest first."""
        rows = self._try("read", self.journal.pending_notices) or []
        events = []
        for message_id, body in rows:
            try:
                event = json.loads(body)
            except ValueError:
                event = None
            if isinstance(event, dict) and event.get("event"):
                events.append(event)
            else:
                logger.warning("notify: a kept notification ({}) does not read as an event; "
                               "it is dropped", message_id)
                self.forget(message_id)
        return events

    def _try(self, what: str, call, *args):
        try:
            return call(*args)
        except Exception as exc:   # the journal is a safety net, never a reason not to tell
            if not self._complained:
                logger.warning("notify: notifications could not be {} in the journal ({}); "
                               "they are sent from memory, and a crash loses them", what, exc)
                self._complained = True
            return None
