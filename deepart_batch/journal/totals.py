"""The journal's totals: counts per state, per campaign and per reason, for `status`,
`/metrics`, a pass's progress and the team's summaries.

Counts come from the tally the schema's triggers keep (a few rows), never by reading the
queue; a journal that no daemon of this version has opened yet is counted directly. A mixin
of JournalReader (reader.py): it reads through the reader's `_rows`, `_cols` and
`run_query`, and the reader's `_tally` (whether the journal keeps the tally yet).
"""

from __future__ import annotations

from ..core.states import ACTIVE_JOB_STATES, FailureReason, InputState, JobState
from . import hot_path as hot

JOB_STATES = tuple(s.value for s in JobState)


class JournalTotals:
    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present: from the tally (a few rows), or counted
        in a journal no daemon of this version has opened yet."""
        out = dict.fromkeys(JOB_STATES, 0)
        if self._has_tally():
            out.update({state: int(n) for state, n in self.run_query(hot.COUNTS)})
        else:
            out.update(dict(self._rows("SELECT state, COUNT(*) FROM jobs GROUP BY state")))
        return out

    def count_unfinished_outside(self, campaign: str) -> int:
        """Queued, running, waiting and held jobs of every other campaign (a pass's
        progress)."""
        states = tuple(s.value for s in ACTIVE_JOB_STATES)
        if self._has_tally():
            return int(self.run_query(hot.COUNT_OUTSIDE, (*states, campaign))[0][0])
        return self._rows("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?, ?, ?) AND "
                          "campaign!=?", (*states, campaign))[0][0]

    def _has_tally(self) -> bool:
        if self._tally is None:
            self._tally = bool(self._rows("SELECT 1 FROM sqlite_master WHERE type='table' "
                                          "AND name='job_tally'"))
        return self._tally

    def input_counts(self) -> dict[str, int]:
        return dict(self._rows("SELECT state, COUNT(*) FROM inputs GROUP BY state"))

    def queue_depth_by_campaign(self) -> dict[str, int]:
        if self._has_tally():
            return {c: int(n) for c, n in self.run_query(hot.QUEUED_BY_CAMPAIGN,
                                                      (JobState.QUEUED.value,))}
        return dict(self._rows("SELECT campaign, COUNT(*) FROM jobs "
                               f"WHERE state='{JobState.QUEUED}' GROUP BY campaign"))

    def failures_by_reason(self) -> dict[str, int]:
        """Failed jobs and refused photos, by FailureReason: every member, zeros included."""
        out = {r.value: 0 for r in FailureReason}
        for reason, n in self._reason_counts(InputState.FAILED,
                                             "AND id NOT IN (SELECT input_id FROM jobs)"):
            out[FailureReason.parse(reason).value] += n
        return out

    def held_by_reason(self) -> dict[str, int]:
        """Held jobs and held photos (no jobs yet), by FailureReason."""
        out: dict[str, int] = {}
        for reason, n in self._reason_counts(InputState.HELD, ""):
            key = FailureReason.parse(reason).value
            out[key] = out.get(key, 0) + n
        return out

    def _reason_counts(self, state: str, inputs_filter: str) -> list:
        reason = "NULL" if "NULL AS reason" in self._cols("inputs") else "reason"  # old
        return self._rows(f"SELECT reason, COUNT(*) FROM jobs WHERE state=? GROUP BY 1 "
                          f"UNION ALL SELECT {reason}, COUNT(*) FROM inputs WHERE state=? "
                          f"{inputs_filter} GROUP BY 1", (state, state))

    def render_seconds(self, limit: int = 10000) -> list[float]:
        if "NULL AS render_seconds" in self._cols("jobs"):   # a journal not migrated yet
            return []
        rows = self.run_query(hot.RENDER_SECONDS, (limit,))
        return [r[0] for r in rows]

    def recent_failures(self, limit: int = 10) -> list[dict]:
        return [{"id": job.id, "relpath": relpath, "slug": job.slug, "reason": job.reason,
                 "error": job.error, "finished_at": job.finished_at}
                for job, relpath in self.jobs_with_relpath(JobState.FAILED, newest_first=True,
                                                           limit=limit)]
