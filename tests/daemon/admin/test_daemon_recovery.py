"""Start-up recovery, in-process (no workers are started)."""

from __future__ import annotations

from pathlib import Path

from support.boxes import Box
from support.manifests import DATA
from deepart_batch.daemon.outcomes import publish


def _service(box):
    from deepart_batch.settings.config import load_config
    from deepart_batch.daemon.compose import compose
    service = compose(load_config(box.config), once=True)
    service.manifests.reload_if_changed()
    return service


def _close(service):
    service.journal.close()
    service._lock_fh.close()


def test_restart_reads_the_report_path_under_reports_subfolder(tmp_path):
    """A queued job whose image and report were both written before a crash keeps its
    image; one whose report never came loses it. With `output.reports: subfolder` the
    report is in _reports/, not beside the image."""
    box = Box(tmp_path, output={"reports": "subfolder"})
    service = _service(box)
    service.take(box.drop("tubingen.jpg", "a/whole.jpg"))
    service.take(box.drop("golden_gate.jpg", "a/half.jpg"))
    jobs = {service.journal.input(j.input_id).relpath: j
            for j in service.journal.jobs_in("queued")}
    whole, half = jobs["a/whole.jpg"], jobs["a/half.jpg"]
    assert Path(whole.report_path).parent.name == publish.REPORTS_FOLDER
    publish.publish(Path(whole.output_path), (DATA / "tubingen.jpg").read_bytes(),
                   {"job": {"id": whole.id}}, Path(whole.report_path))
    Path(half.output_path).write_bytes((DATA / "golden_gate.jpg").read_bytes())
    _close(service)

    service = _service(box)
    try:
        service.recover()
        assert Path(whole.output_path).exists(), "an image with its report was removed"
        assert not Path(half.output_path).exists(), "an image without its report was kept"
    finally:
        _close(service)
