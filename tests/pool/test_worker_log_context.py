"""Render workers log with the photo's context: a record logged while a
worker handles a job carries the job id and the photo's inbox name, like the daemon's."""

from types import SimpleNamespace

from loguru import logger

from deepart_batch.core.states import FailureReason

from support.jobs import toy_spec
from deepart_batch.pool.executor import PoolJob
from deepart_batch.pool.worker import run_guarded


class _Broken:
    """A worker state whose engine fails in an unexpected way (its spec has only an id)."""
    spec = SimpleNamespace(id="cpu#0")


def test_a_worker_error_is_logged_with_the_job_and_photo():
    records, sent = [], []
    sink = logger.add(lambda m: records.append(m.record), level="DEBUG")
    try:
        job = PoolJob(7, 1, toy_spec("/state/work/abc.jpg"), campaign="city")
        job.spec = job.spec.__class__.from_dict({**job.spec.to_dict(), "input": "city/a.jpg"})
        run_guarded(_Broken(), job, sent.append, None)
    finally:
        logger.remove(sink)
    assert sent and sent[-1].reason is FailureReason.ERROR
    errors = [r for r in records if r["level"].name == "ERROR"]
    assert errors, records
    assert errors[0]["extra"].get("job") == 7 and errors[0]["extra"].get("photo") == "city/a.jpg"
