"""The promise every fault scenario checks: nothing lost, nothing twice, nothing half."""

import json
import os
from pathlib import Path

from support.boxes import Box
from support.manifests import ONE_STYLE  # noqa: F401  (tests import it from here)

CRASH = "DEEPART_TEST_CRASH_AT"
CRASH_EXIT = 86


def fault_box(root: Path, canned: bool = False, **overrides) -> Box:
    """canned: the daemon runs in this process with the canned executor."""
    overrides.setdefault("defaults", {"size": 32, "steps": 2, "log_every": 1})
    overrides.setdefault("problems", {"hold_seconds": 2, "hold_max_seconds": 8})
    return Box(root, ONE_STYLE, canned=canned, **overrides)


def archived(box: Box) -> dict[str, list[str]]:
    """Input files in done/ and failed/ (error reports aside), as bytes-safe relpaths."""
    out = {}
    for state in ("done", "failed"):
        root = box.state / state
        out[state] = sorted(os.fsdecode(p.relative_to(root)) for p in root.rglob("*")
                            if p.is_file() and not p.name.endswith(".error.json"))
    return out


def assert_promise(box: Box, dropped: int, held: int = 0) -> None:
    """Each input in done/ or failed/ exactly once (or still held), every image with its
    report, no temp files anywhere, nothing stranded in work/."""
    a = archived(box)
    assert len(a["done"]) + len(a["failed"]) + held == dropped, a
    problems = box.outbox / "_problems"   # copies of problem photos with notes, not renders
    images = [p for p in box.outbox.rglob("*") if p.is_file() and p.suffix == ".jpg"
              and problems not in p.parents    # nor the gallery's hidden thumbnails
              and not any(x.startswith(".") for x in p.relative_to(box.outbox).parts)]
    for image in images:
        assert image.with_suffix(".json").exists(), f"{image} has no report"
    for report in box.outbox.rglob("*.json"):
        if not report.name.endswith(".error.json"):
            assert report.with_suffix(".jpg").exists(), f"{report} has no image"
            assert json.loads(report.read_text())["status"] == "done"
    temps = [p for p in list(box.outbox.rglob(".*")) + list(box.state.rglob(".*"))
             if p.is_file() and p.name.endswith(".part")]
    assert not temps, temps
    if not held:
        assert not any((box.state / "work").iterdir()), list((box.state / "work").iterdir())
        assert not any(p for p in box.inbox.rglob("*") if p.is_file())


def assert_restarts(box: Box) -> None:
    """The daemon starts again cleanly and finds nothing left to do."""
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "inputs done       0" in res.stderr and "inputs failed     0" in res.stderr
