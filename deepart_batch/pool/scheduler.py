"""Which queued job runs next: priority first, then round-robin across campaigns, FIFO inside."""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    job_id: int
    campaign: str
    priority: int
    style_key: str


class FairScheduler:
    """A three-image urgent drop must not wait behind a 5,000-image bulk dump: within the
    highest waiting priority, the campaign served longest ago goes next."""

    def __init__(self):
        self._served: dict[str, int] = {}
        self._clock = itertools.count(1)

    def pick(self, queued: list[Candidate], cached_styles: set[str] = frozenset()) -> Candidate | None:
        if not queued:
            return None
        top = max(c.priority for c in queued)
        pool = [c for c in queued if c.priority == top]
        campaign = min({c.campaign for c in pool},
                       key=lambda k: (self._served.get(k, 0), min(c.job_id for c in pool
                                                                   if c.campaign == k)))
        mine = sorted((c for c in pool if c.campaign == campaign), key=lambda c: c.job_id)
        # Style affinity breaks ties near the head of the campaign's queue only, so it
        # never starves the oldest job for long.
        choice = next((c for c in mine[:4] if c.style_key in cached_styles), mine[0])
        self._served[campaign] = next(self._clock)
        return choice
