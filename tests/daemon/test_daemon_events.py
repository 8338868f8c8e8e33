"""The service's event bus: receivers in order, and one that raises is isolated."""

from __future__ import annotations

from loguru import logger

from deepart_batch.core.states import NOTICES, DaemonEvent, FailureReason
from deepart_batch.daemon.events import EventBus, PhotoHeld, Started, Stopped, Tick
from deepart_batch.daemon.schedule.policy import backoff, is_retryable


def test_a_receiver_that_raises_is_logged_once_and_the_others_still_run():
    bus, got, lines = EventBus(), [], []

    def broken(_fact):
        raise RuntimeError("disk on fire")

    bus.connect(lambda f: got.append(("first", f.photo)), DaemonEvent.PHOTO_HELD)
    bus.connect(broken, DaemonEvent.PHOTO_HELD, DaemonEvent.TICK)
    bus.connect(lambda f: got.append(("last", f.photo)), DaemonEvent.PHOTO_HELD)
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    held = PhotoHeld(photo="a/p.jpg", campaign="a", reason=FailureReason.NO_RULE, detail="")
    try:
        for _ in range(3):
            bus.emit(held)
        bus.emit(Tick())
    finally:
        logger.remove(sink)
    assert got == [("first", "a/p.jpg"), ("last", "a/p.jpg")] * 3
    assert bus.errors == 4
    assert len(lines) == 2 and all("disk on fire" in line for line in lines)  # once per event


def test_emit_without_receivers_and_disconnect():
    bus, got = EventBus(), []
    bus.emit(Started())
    receiver = bus.connect(got.append, DaemonEvent.STOPPED)
    bus.disconnect(receiver)
    bus.emit(Stopped())
    assert got == []


def test_notices_are_the_photo_events_the_pass_and_the_folders():
    assert {e.value for e in NOTICES} == {"done", "failed", "held", "pass_finished",
                                          "folder_missing", "folder_back"}


def test_one_retryability_rule_and_one_backoff():
    assert is_retryable("crashed") and is_retryable("timeout") and is_retryable("lost")
    assert not is_retryable("outbox") and not is_retryable("oom") and not is_retryable("image")
    assert [backoff(n, 2.0, 300.0) for n in (0, 1, 2, 8, 100)] == [2.0, 4.0, 8.0, 300.0, 300.0]
    assert backoff(3, 2.0) == 16.0
