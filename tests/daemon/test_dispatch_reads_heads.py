"""Dispatch reads what it dispatches: with a deep queue, one dispatch decodes the heads of
each campaign's queue, not every queued job, and still picks fairly."""

from __future__ import annotations

from deepart_batch.core.jobspec import JobSpec
from support.boxes import Box, composed
from support.jobs import toy_spec
from support.scripted_slots import ScriptedExecutor, slot


def _queue(journal, campaign: str, n: int, priority: int = 0) -> list[int]:
    ids = []
    for k in range(n):
        inp = journal.begin_claim(f"{campaign}/{k}.jpg", campaign, f"/w/{campaign}{k}")
        journal.finish_claim(inp, "sha")
        ids.append(journal.add_job(inp, f"{campaign}{k}", campaign, priority, "s", toy_spec(),
                                   f"/o/{campaign}/{k}.jpg", f"/o/{campaign}/{k}.json"))
    return ids


def test_a_dispatch_decodes_the_heads_of_the_queue_not_the_backlog(tmp_path, monkeypatch):
    box = Box(tmp_path, canned=True)
    with composed(box, once=True) as service:
        bulk = _queue(service.journal, "bulk", 300)
        urgent = _queue(service.journal, "urgent", 2)
        service.pool = ScriptedExecutor([slot("a", 0), slot("b", 0)])
        decoded = []
        real = JobSpec.from_dict.__func__
        monkeypatch.setattr(JobSpec, "from_dict",
                            classmethod(lambda cls, d: decoded.append(1) or real(cls, d)))
        service.dispatch()
        # two idle slots: the two campaigns take turns, oldest first
        assert sorted(j for _, j in service.pool.assigned) == [bulk[0], urgent[0]]
        assert len(decoded) < 20, len(decoded)   # heads of two campaigns, not 302 jobs
