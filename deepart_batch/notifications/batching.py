"""Photo events gathered per campaign for chat endpoints, so a drop of 300 photos is a
handful of messages, not 300.

Events of one campaign that arrive within `window` seconds of its first one make one
Batch; a batch shows at most `lines` photo lines and counts the rest. Events that are not
about a photo (a bulk pass, a folder) are a batch of their own at once. A batch's id is
derived from its events' ids, so a resend after a restart carries the same webhook-id.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from .signing import batch_id, message_id
from .text import PHOTO_KINDS, STATE_WORDS, campaign_name, one_line


def _tally(events: list[dict]) -> str:
    """`180 done, 20 failed`: counts by state, in one order whatever came first."""
    counts = Counter(STATE_WORDS.get(e.get("event"), "?") for e in events)
    order = list(STATE_WORDS.values())
    return ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: (
        order.index(s) if s in order else len(order), s)))


@dataclass
class Batch:
    """One chat message's worth of events: one campaign's photos, or one other event."""
    campaign: str | None
    events: list[dict] = field(default_factory=list)
    lines: int = 15

    @property
    def id(self) -> str:
        ids = [message_id(e) for e in self.events]
        return ids[0] if len(ids) == 1 else batch_id(ids)

    @property
    def is_photos(self) -> bool:
        return bool(self.events) and self.events[0].get("event") in PHOTO_KINDS

    def title(self) -> str:
        if not self.is_photos:
            return one_line(self.events[0]).split(":")[0].capitalize()
        n = len(self.events)
        tally = _tally(self.events)
        return (f"{campaign_name(self.events[0])}: {n} photo{'s' if n != 1 else ''} "
                f"({tally})")

    def shown_lines(self) -> list[str]:
        """The first `lines` events' lines, then one line counting the rest by state."""
        shown = [one_line(e) for e in self.events[:self.lines]]
        rest = self.events[self.lines:]
        if rest:
            shown.append(f"… and {len(rest)} more: {_tally(rest)}")
        return shown

    def summary(self) -> str:
        """What the delivery log records of it: short, no secrets."""
        return self.title()[:200]


class Batcher:
    """Not thread-safe: the notifier's delivery thread alone adds and takes."""

    def __init__(self, window: float = 10.0, lines: int = 15, clock=time.monotonic):
        self.window, self.lines, self.clock = window, lines, clock
        self._open: dict[str, tuple[float, Batch]] = {}   # campaign -> (opened at, batch)
        self._ready: list[Batch] = []

    def add(self, event: dict) -> None:
        if event.get("event") not in PHOTO_KINDS:
            self._ready.append(Batch(event.get("campaign"), [event], self.lines))
            return
        key = event.get("campaign") or ""
        if key not in self._open:
            self._open[key] = (self.clock(), Batch(event.get("campaign"), [], self.lines))
        self._open[key][1].events.append(event)

    def due(self, flush: bool = False) -> list[Batch]:
        """The batches whose window has passed (all of them with flush), oldest first."""
        now = self.clock()
        for key, (opened, batch) in list(self._open.items()):
            if flush or now - opened >= self.window:
                self._ready.append(batch)
                del self._open[key]
        ready, self._ready = self._ready, []
        return ready

    def next_due(self) -> float | None:
        """Seconds until the next batch is due; None when none is open."""
        if self._ready:
            return 0.0
        if not self._open:
            return None
        oldest = min(opened for opened, _ in self._open.values())
        return max(0.0, oldest + self.window - self.clock())

    def __len__(self) -> int:
        return sum(len(b.events) for _, b in self._open.values()) + \
            sum(len(b.events) for b in self._ready)
