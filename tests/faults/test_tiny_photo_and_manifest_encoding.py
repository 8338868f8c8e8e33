"""Small faults: a photo below VGG's minimum is refused in plain
words, and a manifest that is not UTF-8 is one logged problem, not a traceback."""

import subprocess
import sys

from loguru import logger
from PIL import Image

from support.boxes import Box
from support.manifests import MANIFEST
from support.fault_helpers import archived, fault_box


def test_render_refuses_a_1x1_png_with_the_bad_input_code_and_one_line(tmp_path):
    tiny = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tiny)
    res = subprocess.run([sys.executable, "-m", "deepart_batch.cli", "render", str(tiny),
                          str(Box(tmp_path / "b").styles / "the_scream.jpg"),
                          "-o", str(tmp_path / "out.jpg"), "--size", "32", "--steps", "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "ValueError" not in res.stderr, res.stderr
    lines = [l for l in res.stderr.splitlines() if "error:" in l]
    assert len(lines) == 1 and "dot.png" in lines[0] and "too small" in lines[0], res.stderr


def test_the_daemon_refuses_a_1x1_png_as_a_photo_problem(tmp_path):
    box = fault_box(tmp_path)
    Image.new("RGB", (1, 1)).save(box.inbox / "dot.png")
    res = box.run_once()
    assert "Traceback" not in res.stderr and "ValueError" not in res.stderr, res.stderr[-3000:]
    assert archived(box)["failed"] == ["dot.png"]
    import json
    error = json.loads((box.state / "failed" / "dot.png.error.json").read_text())
    assert error["reason"] == "too_small", error


def test_a_manifest_that_is_not_utf8_is_one_logged_problem_and_the_last_good_stays(tmp_path):
    from deepart_batch.settings.config import load_config
    from deepart_batch.settings.manifest import ManifestStore
    box = Box(tmp_path)
    config = load_config(box.config)
    lines = []
    sink = logger.add(lines.append, level="WARNING", format="{message}|{exception}")
    try:
        store = ManifestStore(box.manifest, box.styles, config)
        good = store.current
        assert good is not None
        box.manifest.write_bytes(b"\x89\x80\x81garbage\xc3\x28" * 50)  # binary, no BOM
        assert store.reload_if_changed() is False
        assert store.current is good
        text = "".join(map(str, lines))
        assert "Traceback" not in text, text
        assert "UTF-8" in text and len([l for l in lines if "manifest" in str(l)]) == 1, text
    finally:
        logger.remove(sink)
