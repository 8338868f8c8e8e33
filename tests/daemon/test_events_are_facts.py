"""Events are facts: one frozen dataclass per DaemonEvent kind, with its payload and the
moment it happened; the bus carries nothing else; and a receiver that raises on every
event never changes what the daemon does (a watched photo is still rendered and archived)."""

from __future__ import annotations

import contextlib
import dataclasses
import time

import pytest
from loguru import logger

from deepart_batch.core.states import DaemonEvent
from deepart_batch.daemon.events import FACTS, EventBus, Fact, Tick
from deepart_batch.daemon.receivers.team import TeamDesk
from support.boxes import Box, watch_in_process
from support.journal_probe import JournalProbe


def test_every_event_kind_is_a_frozen_fact_with_its_moment():
    never_on_the_bus = {DaemonEvent.NOTIFY_TEST}   # `notify test`, sent to endpoints only
    assert set(FACTS) == set(DaemonEvent) - never_on_the_bus
    for kind, cls in FACTS.items():
        assert cls.kind is kind and dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, cls
        assert "at" in {f.name for f in dataclasses.fields(cls)}, cls
    before = time.time()
    tick = Tick(stopping=True)
    assert before <= tick.at <= time.time()
    with pytest.raises(dataclasses.FrozenInstanceError):
        tick.stopping = False


def test_the_bus_carries_facts_not_loose_keywords():
    bus = EventBus()
    with pytest.raises(TypeError):
        bus.emit(DaemonEvent.TICK)


def test_a_receiver_that_raises_on_every_event_changes_nothing_the_daemon_does(
        tmp_path, monkeypatch):
    box = Box(tmp_path, canned=True, watch={"settle_seconds": 0, "rescan_seconds": 2,
                                            "poll_interval": 0.1})
    seen, lines = [], []

    def explode(fact: Fact) -> None:
        seen.append(type(fact))
        raise RuntimeError(f"receiver broken at {fact.kind}")

    connect = TeamDesk.connect

    def connect_and_explode(desk, bus):
        connect(desk, bus)
        bus.connect(explode, *DaemonEvent)

    monkeypatch.setattr(TeamDesk, "connect", connect_and_explode)
    box.drop("tubingen.jpg", "city/a.jpg")
    probe = JournalProbe(box)
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        watch_in_process(box, lambda: probe.exists() and
                         probe.photo_states().get("city/a.jpg") == "done")
    finally:
        with contextlib.suppress(ValueError):   # like_a_process removed every sink
            logger.remove(sink)
    assert box.outputs() != []
    assert (box.state / "done/city/a.jpg").is_file()
    assert {cls.kind for cls in seen} >= {DaemonEvent.STARTED, DaemonEvent.TICK,
                                          DaemonEvent.PHOTO_TAKEN, DaemonEvent.JOB_DONE,
                                          DaemonEvent.PHOTO_DONE, DaemonEvent.STOPPED}
    ticks = [line for line in lines if "receiver broken at tick" in line]
    assert len(ticks) == 1   # logged once per distinct error, not every tick
