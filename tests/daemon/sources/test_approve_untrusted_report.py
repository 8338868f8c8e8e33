"""An approval whose preview report was edited on the share is one problem approval, never
a stopped daemon: its note names the preview and the wrong field, the approvals beside it
are printed, photos dropped meanwhile render, and a restart with the approval already
claimed in the journal (the crash-loop case under systemd) goes on the same way.

Canned executor: the render is not the point. Its image is 32 px; each preview's report is
set to a 64 px preview (the size a real one of these defaults has), as a print needs."""

import json
import shutil

import pytest

from support.boxes import CRASH_AT, Box, watch_in_process
from support.manifests import ONE_STYLE

DEFAULTS = {"size": 64, "steps": 4, "log_every": 1, "print_size": 128}
EXIT_SOME_FAILED = 1


def _edit(report_path, change):
    report = json.loads(report_path.read_text())
    report_path.write_text(json.dumps(change(report)))


def _as_64px_preview(report):
    report["output"].update(width=64, height=48)
    return report


def _previews(tmp_path):
    """A canned box with two previews in the outbox (their reports beside them)."""
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True, defaults=DEFAULTS)
    box.drop("tubingen.jpg", "spring/first.jpg")
    box.drop("golden_gate.jpg", "spring/second.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    previews = [box.outbox / rel for rel in box.outputs()]
    assert len(previews) == 2, previews
    for preview in previews:
        _edit(preview.with_suffix(".json"), _as_64px_preview)
    return box, previews


def _approve(box, preview):
    approve = box.outbox / "_approve"
    approve.mkdir(exist_ok=True)
    shutil.copy(preview, approve / preview.name)


def _notes(box) -> str:
    return " ".join(p.read_text(errors="replace")
                    for p in (box.outbox / "_problems").rglob("*")
                    if p.is_file() and p.suffix in (".txt", ".json"))


def _printed(preview):
    return preview.with_name(preview.stem + ".print" + preview.suffix)


def _extra_param(r):
    r["params"]["brush_size"] = 3
    return r


def _seed_null(r):
    r["seed"] = None
    return r


def _small_preview(r):
    r["params"]["size"] = 48
    r["output"].update(width=48, height=36)
    return r


EDITS = {   # how the report was edited -> what the note must say
    "an extra parameter": (_extra_param, "params.brush_size"),
    "a list": (lambda r: [r], "expected an object"),
    "seed null": (_seed_null, "seed: expected an integer, got null"),
    "a 48 px preview": (_small_preview, "look_size"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_approval_whose_report_was_edited_is_a_problem_and_the_rest_goes_on(tmp_path,
                                                                              edit):
    change, said = EDITS[edit]
    box, (bad, good) = _previews(tmp_path)
    _edit(bad.with_suffix(".json"), change)
    _approve(box, bad)
    _approve(box, good)
    box.drop("the_scream.jpg", "later/meanwhile.jpg")

    res = box.run_once()
    assert res.returncode == EXIT_SOME_FAILED, res.stderr[-3000:]
    notes = _notes(box)
    assert bad.name in notes and said in notes, notes
    assert "Traceback" not in notes
    assert list((box.state / "failed" / "_approve").iterdir())
    assert _printed(good).is_file(), box.outputs()          # the approval beside it
    assert not _printed(bad).exists()
    assert any(rel.startswith("later/meanwhile") for rel in box.outputs()), box.outputs()

    res = box.run_once()                                    # started again: nothing left
    assert res.returncode == 0, res.stderr[-3000:]


def test_a_restart_with_a_poisoned_approval_in_the_journal_goes_on(tmp_path):
    box, (bad, _) = _previews(tmp_path)
    _edit(bad.with_suffix(".json"), _seed_null)
    _approve(box, bad)
    res = box.run_once(env={CRASH_AT: "after_claim_move"})   # killed once it is claimed
    assert res.returncode == 86, res.stderr[-3000:]
    assert not list((box.outbox / "_approve").glob("*.jpg"))   # in the journal, claimed
    box.drop("the_scream.jpg", "later/meanwhile.jpg")

    def settled():
        return bad.name in _notes(box) and \
            any(rel.startswith("later/meanwhile") for rel in box.outputs())

    watch_in_process(box, settled)    # `watch` started again: raises if the daemon stops
    assert "seed: expected an integer, got null" in _notes(box)
    assert list((box.state / "failed" / "_approve").iterdir())
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]


def _queued_print_row(box, preview, name):
    """A claimed approval of `preview` with its print job queued in the box's journal, as a
    daemon stopped before rendering it leaves them: (journal path, job id, its spec)."""
    from deepart_batch.core.hashing import sha256_file
    from deepart_batch.core.jobspec import JobSpec
    from deepart_batch.core.layout import StateLayout
    from deepart_batch.core.params import RenderParams
    from deepart_batch.journal import Journal
    layout = StateLayout(box.state)
    work = layout.work / f"{name}.jpg"
    shutil.copy(preview, work)
    journal = Journal(layout.journal)
    try:
        input_id = journal.begin_claim(f"_approve/{preview.name}", "spring", str(work))
        journal.finish_claim(input_id, sha256_file(work))
        spec = JobSpec(content=str(work), input=f"_approve/{preview.name}", styles=(),
                       params=RenderParams.from_dict(DEFAULTS), output_format="JPEG",
                       content_size=(64, 48))
        job_id = journal.add_job(input_id, name, "spring", 0, "print", spec,
                                 str(_printed(preview)),
                                 str(_printed(preview).with_suffix(".json")))
    finally:
        journal.close()
    return layout.journal, job_id, spec


def test_a_queued_print_whose_stored_settings_no_longer_validate_is_refused_at_start(tmp_path):
    """A journal row written by another version (or edited): its job fails with a note,
    and the photos beside it render."""
    from support.journal_files import damage_job_spec
    box, (preview, _) = _previews(tmp_path)
    journal_path, job_id, spec = _queued_print_row(box, preview, "poisoned")
    stored = spec.to_dict()   # as a version with a `brush_size` parameter wrote it
    damage_job_spec(journal_path, job_id,
                    json.dumps({**stored, "params": {**stored["params"], "brush_size": 3}}))
    box.drop("the_scream.jpg", "later/meanwhile.jpg")

    res = box.run_once()
    assert res.returncode == EXIT_SOME_FAILED, res.stderr[-3000:]
    notes = _notes(box)
    assert preview.name in notes and "brush_size" in notes and "Traceback" not in notes, notes
    assert any(rel.startswith("later/meanwhile") for rel in box.outputs()), box.outputs()
    assert box.run_once().returncode == 0


def test_a_queued_job_whose_stored_spec_no_longer_decodes_is_refused_at_start(tmp_path):
    """A row whose spec is not even a spec (another version's, or edited by hand): every
    read of the journal still works, that job fails with a note, the photos beside it
    render, and the next start is clean."""
    from support.journal_files import damage_job_spec
    box, (preview, _) = _previews(tmp_path)
    journal_path, job_id, _ = _queued_print_row(box, preview, "undecodable")
    damage_job_spec(journal_path, job_id, '{"input": 5, "styles": "none"}')
    box.drop("the_scream.jpg", "later/meanwhile.jpg")

    res = box.run_once()
    assert res.returncode == EXIT_SOME_FAILED, res.stderr[-3000:]
    notes = _notes(box)
    assert "render settings are no longer valid" in notes and "Traceback" not in notes, notes
    assert any(rel.startswith("later/meanwhile") for rel in box.outputs()), box.outputs()
    assert box.run_once().returncode == 0
