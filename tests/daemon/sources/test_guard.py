"""The one guard: a file whose take fails in a way its source did not foresee stays where it
is, logged once for ops, and the daemon goes on with the other files."""

from __future__ import annotations

import contextlib

from loguru import logger

from deepart_batch.daemon.sources import claim
from support.boxes import Box, watch_in_process
from support.journal_probe import JournalProbe


def test_an_unforeseen_failure_taking_one_inbox_file_leaves_it_there_and_the_rest_go_on(
        tmp_path, monkeypatch):
    box = Box(tmp_path, canned=True, watch={"settle_seconds": 0, "rescan_seconds": 0.2,
                                            "poll_interval": 0.1})
    inspect = claim.inspect

    def poisoned(path, *args, **kwargs):
        if path.name == "poison.jpg":
            raise KeyError("an EXIF tag nobody expected")
        return inspect(path, *args, **kwargs)

    monkeypatch.setattr(claim, "inspect", poisoned)
    box.drop("tubingen.jpg", "city/poison.jpg")
    box.drop("golden_gate.jpg", "city/fine.jpg")
    probe, lines = JournalProbe(box), []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        watch_in_process(box, lambda: probe.exists() and
                         probe.photo_states().get("city/fine.jpg") == "done" and
                         len(lines) >= 1)
    finally:
        with contextlib.suppress(ValueError):   # like_a_process removed every sink
            logger.remove(sink)
    assert (box.inbox / "city/poison.jpg").is_file()        # nothing lost
    assert "city/poison.jpg" not in probe.photo_states()
    told = [line for line in lines if "poison.jpg" in line]
    assert len(told) == 1 and "taking it failed unexpectedly" in told[0]
    assert "EXIF tag nobody expected" in told[0]
