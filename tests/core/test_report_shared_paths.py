"""A report bound for the outbox names no path of the server's disk: the output, its
preview and a copy's source relative to the outbox, the paintings relative to the styles
folder (report.shared_path); the readers join them again."""

import json

from deepart_batch.report import (FileRef, JobInfo, RenderReport, resolve_shared,
                                  shared_path)


def _report() -> RenderReport:
    return RenderReport(status="done", input=FileRef("/srv/state/work/x.jpg", "c" * 64),
                        styles=[FileRef("/srv/styles/old/starry.jpg", "b" * 64, "starry", 1.0)],
                        params={"size": 128}, weights={"id": "w"}, device="cpu", seed=0,
                        output={"width": 128, "height": 96, "approved_from": {
                            "preview": "/srv/outbox/a/x.starry.jpg", "sha256": "d" * 64,
                            "report": "/srv/outbox/a/_reports/x.starry.json",
                            "look_size": 64}},
                        versions={})


def _absolute(value) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _absolute(v)]
    if isinstance(value, list):
        return [p for v in value for p in _absolute(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


def test_a_published_report_names_paths_relative_to_the_outbox_and_styles_folder():
    report = _report()
    report.published(JobInfo(id=7, input="a/x.jpg", campaign="a"), photo="a/x.jpg",
                     output_path="/srv/outbox/a/x.starry.print.jpg", timings={},
                     outbox="/srv/outbox", styles_dir="/srv/styles")
    d = json.loads(json.dumps(report.to_dict()))
    assert _absolute(d) == []
    assert d["output"]["path"] == "a/x.starry.print.jpg"
    assert d["styles"][0]["path"] == "old/starry.jpg"
    assert d["output"]["approved_from"]["preview"] == "a/x.starry.jpg"
    assert d["output"]["approved_from"]["report"] == "a/_reports/x.starry.json"
    assert d["input"]["path"] == "a/x.jpg"


def test_a_copied_report_names_its_source_in_the_outbox():
    report = _report()
    report.copied("/srv/outbox/a/x.starry.jpg", "/srv/outbox/b/x.starry.jpg",
                  outbox="/srv/outbox")
    d = report.to_dict()
    assert d["job"]["copied_from"] == "a/x.starry.jpg" and d["output"]["path"] == \
        "b/x.starry.jpg"


def test_a_path_outside_its_folder_is_named_by_its_file_name_only():
    assert shared_path("/elsewhere/starry.jpg", "/srv/styles") == "starry.jpg"
    assert shared_path("/srv/stylesheet/a.jpg", "/srv/styles") == "a.jpg"
    assert shared_path("old/starry.jpg", "/srv/styles") == "old/starry.jpg"   # kept


def test_readers_join_a_shared_path_again():
    assert resolve_shared("old/starry.jpg", "/srv/styles") == "/srv/styles/old/starry.jpg"
    assert resolve_shared("/srv/styles/a.jpg", "/other") == "/srv/styles/a.jpg"   # older
    assert resolve_shared("a.jpg", None) == "a.jpg"


def test_a_copy_of_a_shared_report_stays_shared_without_being_told_the_outbox():
    """The planner copies a published report (its image relative to the outbox) for an
    identical drop: the copy is relative to the same outbox."""
    report = _report()
    report.published(JobInfo(id=7), photo="a/x.jpg", output_path="/srv/outbox/a/x.starry.jpg",
                     timings={}, outbox="/srv/outbox", styles_dir="/srv/styles")
    copy = RenderReport.from_dict(json.loads(json.dumps(report.to_dict())))
    copy.copied("/srv/outbox/a/x.starry.jpg", "/srv/outbox/b/c/x.starry.jpg")
    d = copy.to_dict()
    assert d["job"]["copied_from"] == "a/x.starry.jpg"
    assert d["output"]["path"] == "b/c/x.starry.jpg" and _absolute(d) == []


def test_a_refused_approval_names_the_report_not_its_server_path(tmp_path):
    import pytest
    from deepart_batch.approved_preview import ApprovalProblem, read_approval
    approved = tmp_path / "x.starry.jpg"
    approved.write_bytes(b"jpeg")
    report = tmp_path / "outbox" / "a" / "x.starry.json"
    with pytest.raises(ApprovalProblem) as missing:
        read_approval(approved, report)
    report.parent.mkdir(parents=True)
    report.write_text('{"status": "failed"}')
    with pytest.raises(ApprovalProblem) as not_a_preview:
        read_approval(approved, report)
    for problem in (missing.value, not_a_preview.value):   # its words go into the note
        assert "x.starry.json" in str(problem) and str(tmp_path) not in str(problem)
