"""One missing painting holds only the photos whose rules use it
(style_missing, with a `_problems` note and a `held` event), not every campaign as
manifest_invalid; the painting arriving releases them by itself."""

import shutil

import pytest

from support.boxes import Box, stop, wait_for
from support.manifests import DATA
from support.http_receiver import HttpReceiver
from support.manifests import ONE_PAINTING_MISSING


@pytest.fixture
def sink():
    s = HttpReceiver(status=200)
    yield s
    s.close()


def test_a_missing_painting_holds_only_its_photos_and_its_arrival_releases_them(tmp_path,
                                                                                 sink):
    # a long backoff: only the painting's arrival can release the photo within the test
    box = Box(tmp_path, manifest=ONE_PAINTING_MISSING, canned=True,   # no render worker
              problems={"hold_seconds": 3600, "hold_max_seconds": 3600},
              notify={"webhook": sink.url, "timeout_seconds": 30, "retries": 0})
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "park/b.jpg")
    note = box.outbox / "_problems/park/b.jpg.txt"
    proc = box.start_watch()
    try:
        wait_for(lambda: (box.outbox / "city/a.starry.jpg").exists(), timeout=180,
                 what="the photo whose rule needs no missing painting rendered")
        wait_for(note.exists, what="a problem note for the photo that needs the painting")
        assert "painting" in note.read_text()
        wait_for(lambda: sink.kinds("park/b.jpg") == ["held"], what="one held event")
        assert sink.of("park/b.jpg")[0]["reason"] == "style_missing"
        assert "held" not in sink.kinds("city/a.jpg")
        held = box.status()["held"]
        assert held["by_reason"] == {"style_missing": 1}, held
        assert not box.manifest.with_name("manifest.yaml.error.json").exists()

        shutil.copy(DATA / "the_scream.jpg", box.styles / "water_lilies.jpg")
        wait_for(lambda: (box.outbox / "park/b.lilies.jpg").exists(), timeout=120,
                 what="the held photo rendered once the painting arrived")
        wait_for(lambda: not note.exists(), what="the note removed")
    finally:
        assert stop(proc) == 0
    assert "manifest_invalid" not in box.log.read_text()


def test_validate_still_reports_the_missing_painting(tmp_path):
    box = Box(tmp_path, manifest=ONE_PAINTING_MISSING)
    res = box.cli("validate", "--config", box.config, timeout=120)
    assert res.returncode != 0
    assert "water_lilies.jpg" in res.stdout + res.stderr
