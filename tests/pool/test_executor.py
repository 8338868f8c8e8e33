"""The executor protocol: config and factory, and the daemon's dispatch through it alone."""

import pytest

from support.boxes import Box, composed
from support.scripted_slots import ScriptedExecutor, slot
from deepart_batch.settings.config import EXECUTORS, load_config
from deepart_batch.errors import ConfigError
from deepart_batch.pool import (BACKENDS, DevicePool, EventKind, Executor, PoolJob,
                                SlotState, SlotView, make_executor)


def test_config_kinds_are_the_backends_and_the_factory_builds_local(tmp_path):
    assert EXECUTORS == tuple(BACKENDS)
    box = Box(tmp_path)
    config = load_config(box.config)
    assert config.executor.kind == "local" and config.executor.address == "auto"
    pool = make_executor(config)
    assert isinstance(pool, DevicePool) and isinstance(pool, Executor)
    assert pool.kind == "local"
    assert [s.state for s in pool.slots()] == [SlotState.STARTING]   # not started: no hello


def test_ray_executor_implements_the_protocol_and_reads_its_config(tmp_path):
    from deepart_batch.pool.ray_executor import RayExecutor
    box = Box(tmp_path, executor={"kind": "ray", "address": "10.0.0.1:6379",
                                  "cpu_actors_per_node": 2, "cpus_per_actor": 4})
    config = load_config(box.config)
    ex = make_executor(config)
    assert isinstance(ex, RayExecutor) and isinstance(ex, Executor)
    assert (ex.address, ex.cpu_actors_per_node, ex.cpus_per_actor) == ("10.0.0.1:6379", 2, 4.0)
    assert ex.drain_file == config.state_dir / "drain-nodes"
    assert ex.slots() == [] and not ex.all_ready()   # nothing until start() finds nodes


def test_unknown_executor_kind_names_the_key_and_the_choices(tmp_path):
    box = Box(tmp_path, executor={"kind": "slurm"})
    with pytest.raises(ConfigError) as info:
        load_config(box.config)
    (error,) = info.value.errors
    assert "executor.kind" in error and "local or ray" in error


def test_retryable_kinds_are_the_ones_that_are_not_the_jobs_fault():
    assert {k for k in EventKind if k.retryable} == {
        EventKind.CRASHED, EventKind.TIMEOUT, EventKind.LOST, EventKind.OUTBOX}


def test_dispatch_holds_each_job_to_the_memory_of_the_slot_it_runs_on(tmp_path):
    box = Box(tmp_path, defaults={"size": 512})
    with composed(box, once=True) as service:
        service.take(box.drop("tubingen.jpg", "p.jpg"))
        (job,) = service.journal.jobs_in("queued")
        # 64 MiB is far too little for 512 px, 64 GiB is plenty
        small, large = slot("small", 64 << 20), slot("large", 64 << 30)
        service.pool = ScriptedExecutor([small, slot("large", 64 << 30, SlotState.BUSY)])
        service.dispatch()   # fits only the busy slot: it waits, it is not refused
        assert service.pool.assigned == []
        assert service.journal.job(job.id).state == "queued"
        service.pool = ScriptedExecutor([small, large])
        service.dispatch()   # the small slot comes first, but the job goes where it fits
        assert service.pool.assigned == [("large", job.id)]
        assert service.journal.job(job.id).worker == "large"

        service.take(box.drop("golden_gate.jpg", "q.jpg"))
        (second,) = service.journal.jobs_in("queued")
        service.pool = ScriptedExecutor([small])   # the largest slot now has 64 MiB
        service.dispatch()
        refused = service.journal.job(second.id)
        assert refused.state == "failed" and refused.reason == "too_large"
        assert "would fit" in refused.error


# -- typed events: one dataclass per kind, a wire form where they cross a process ----------
def _one_event_of_each_kind():
    from deepart_batch.core.states import FailureReason
    from deepart_batch.pool import events as ev
    from deepart_batch.report import FileRef, JobInfo, RenderReport
    report = RenderReport(status="done", input=FileRef("/w/a.jpg", "a" * 64),
                          styles=[FileRef("/s/starry.jpg", "b" * 64, "starry", 1.0)],
                          params={"size": 64}, weights={"id": "w"}, device="cpu", seed=0,
                          job=JobInfo(id=3, attempt=1, worker="cpu#0"))
    return [
        ev.SlotUp("cpu#0", None, pid=41, device="cpu", torch_device="cpu", threads=2,
                  node="box", cuda_visible_devices=None, memory_bytes=8 << 30),
        ev.SlotReady("cpu#0", None, {"parts": [{"part": "weights", "wall_s": 0.5}]}, {}),
        ev.JobStarted("cpu#0", 3),
        ev.Progress("cpu#0", 3, 4, 12, 1.5e5),
        ev.OutOfMemory("cpu#0", 3, "cuda:0", 2048, 1.0, "smaller", "retry at 1536px"),
        ev.RenderDone("cpu#0", 3, report, b"\xff\xd8jpeg", 2.5, "bbbb"),
        ev.RenderFailed("cpu#0", 3, "cannot identify image file", FailureReason.IMAGE),
        ev.WorkerDied("cpu#0", 3, "worker process died with exit code 70"),
        ev.JobTimedOut("cpu#0", 3, "ran longer than job_timeout (60 s)"),
        ev.NodeLost("ray/gpu#0", 3, "node b left the Ray cluster", node="b"),
        ev.OutboxFailed("cpu#0", 3, "No space left on device", FailureReason.DISK_FULL),
    ]


def test_every_event_kind_has_its_own_type_and_survives_its_wire_form():
    import pickle

    from deepart_batch.pool import ExecutorEvent
    events = _one_event_of_each_kind()
    assert [e.kind for e in events] == list(EventKind)
    for event in events:
        wire = pickle.loads(pickle.dumps(event.to_dict()))   # as a pipe or Ray carries it
        assert wire["kind"] == event.kind.value
        back = ExecutorEvent.from_dict(wire)
        assert type(back) is type(event)
        if event.kind is EventKind.DONE:   # the report comes back as a report
            assert back.report.to_dict() == event.report.to_dict()
            assert (back.image, back.render_seconds, back.style_key) == \
                (event.image, event.render_seconds, event.style_key)
        else:
            assert back == event


def test_trouble_events_carry_the_reason_the_policy_reads():
    from deepart_batch.core.states import FailureReason
    by_kind = {e.kind: e for e in _one_event_of_each_kind()}
    assert by_kind[EventKind.CRASHED].reason is FailureReason.CRASHED
    assert by_kind[EventKind.TIMEOUT].reason is FailureReason.TIMEOUT
    assert by_kind[EventKind.LOST].reason is FailureReason.CRASHED   # render it again
    assert by_kind[EventKind.FAILED].reason is FailureReason.IMAGE
    wire = {**by_kind[EventKind.FAILED].to_dict(), "reason": "input"}   # a legacy name
    from deepart_batch.pool import ExecutorEvent
    assert ExecutorEvent.from_dict(wire).reason is FailureReason.IMAGE


def test_an_event_of_unknown_kind_or_field_is_refused():
    from deepart_batch.pool import ExecutorEvent
    with pytest.raises(ValueError):
        ExecutorEvent.from_dict({"kind": "teleported", "worker": "w", "job_id": 1})
    with pytest.raises(ValueError, match="colour"):
        ExecutorEvent.from_dict({"kind": "started", "worker": "w", "job_id": 1, "colour": 1})
