"""Approvals as a job source, tried the way the team meets them: the same preview approved
twice while its print is queued gives one print; an approval refused because
limits.max_size caps the print says so, in words about `_approve/`; a manifest saved with a
mistake shows its banner on the gallery at once.

Canned executor: the render is not the point. Its image is 32 px; each preview's report
says 64 px, the size a real preview of these defaults has."""

import json
import shutil

from support.boxes import CRASH_AT, Box, watch_in_process
from support.canned import slow
from support.journal_probe import JournalProbe
from support.manifests import ONE_STYLE

DEFAULTS = {"size": 64, "steps": 4, "log_every": 1, "print_size": 128}


def _preview(tmp_path, **overrides):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True, defaults=DEFAULTS, **overrides)
    box.drop("tubingen.jpg", "spring/photo.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    (preview,) = [box.outbox / rel for rel in box.outputs()]
    report = preview.with_suffix(".json")
    data = json.loads(report.read_text())
    data["output"].update(width=64, height=48)
    report.write_text(json.dumps(data))
    return box, preview


def _approve(box, preview):
    folder = box.outbox / "_approve"
    folder.mkdir(exist_ok=True)
    shutil.copy(preview, folder / preview.name)


def _notes(box) -> str:
    return " ".join(p.read_text(errors="replace")
                    for p in (box.outbox / "_problems").rglob("*.txt"))


def test_the_same_preview_approved_again_while_its_print_renders_gives_one_print(tmp_path):
    box, preview = _preview(tmp_path)
    probe = JournalProbe(box)
    steps = []

    def approved_twice_and_finished() -> bool:
        prints = [s for slug, s in probe.jobs("slug", "state") if slug.endswith("-print")]
        if not steps:
            _approve(box, preview)
            steps.append("first")
        elif len(steps) == 1 and "running" in prints:
            _approve(box, preview)                  # while the first print renders
            steps.append("second")
        approvals = [s for rel, s in probe.inputs("relpath", "state")
                     if rel.startswith("_approve/")]
        return len(steps) == 2 and approvals == ["done", "done"] and \
            set(prints) == {"done"}

    with slow("photo", 4.0):
        watch_in_process(box, approved_twice_and_finished, timeout=60)
    prints = sorted(rel for rel in box.outputs() if ".print" in rel)
    assert prints == ["spring/photo.scream.print.jpg"], prints


def test_the_same_preview_approved_again_while_its_print_waits_gives_one_print(tmp_path):
    box, preview = _preview(tmp_path)
    _approve(box, preview)
    res = box.run_once(env={CRASH_AT: "after_claim_move"})   # claimed, its print not made
    assert res.returncode == 86, res.stderr[-3000:]
    _approve(box, preview)                                    # the second copy arrives
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    prints = sorted(rel for rel in box.outputs() if ".print" in rel)
    assert prints == ["spring/photo.scream.print.jpg"], prints
    approvals = [state for rel, state in JournalProbe(box).inputs("relpath", "state")
                 if rel.startswith("_approve/")]
    assert approvals == ["done", "done"], approvals


def test_an_approval_refused_for_the_size_cap_names_limits_max_size(tmp_path):
    box, preview = _preview(tmp_path, limits={"max_size": 64})
    _approve(box, preview)
    res = box.run_once()
    assert res.returncode == 1, res.stderr[-3000:]
    note = _notes(box)
    assert preview.name in note and "limits.max_size" in note, note
    assert "raise print_size" not in note, note
    assert "into the inbox" not in note and "_approve" in note, note


def test_a_manifest_saved_with_a_mistake_shows_its_banner_at_once(tmp_path):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True, defaults=DEFAULTS, gallery=True)
    box.drop("tubingen.jpg", "spring/photo.jpg")
    index = box.outbox / "index.html"
    saved = []

    def banner_after_a_bad_save() -> bool:
        if not saved:
            if not (index.is_file() and box.outputs()):
                return False
            box.manifest.write_text(ONE_STYLE.replace("style: scream", "style: screem"))
            saved.append(True)
            return False
        return "The manifest has a mistake" in index.read_text()

    watch_in_process(box, banner_after_a_bad_save, timeout=30)
