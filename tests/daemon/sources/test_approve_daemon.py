"""Approve to print, the daemon part: a preview copied into outbox/_approve/ is
printed at print_size from its own pixels; a changed or orphaned approval is a problem photo.
Real `run --once` passes at tiny sizes (preview 64 px, print 128 px)."""

import hashlib
import json
import shutil

from PIL import Image

from support.boxes import Box

MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    outputs: [{style: starry}]
"""


def _box(tmp_path):
    box = Box(tmp_path, manifest=MANIFEST,
              defaults={"size": 64, "steps": 4, "log_every": 1, "print_size": 128})
    box.drop("tubingen.jpg", "spring/photo.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    [preview] = box.outputs()
    return box, box.outbox / preview


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_approved_preview_is_printed_from_its_own_pixels(tmp_path):
    box, preview = _box(tmp_path)
    approve = box.outbox / "_approve"
    shutil.copy(preview, approve / preview.name)
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    printed = preview.with_name(preview.stem + ".print" + preview.suffix)
    assert printed.is_file(), box.outputs()
    assert max(Image.open(printed).size) == 128
    report = json.loads(printed.with_suffix(".json").read_text())
    source = report["output"]["approved_from"]
    # the preview as the outbox names it: relative to the outbox (an older daemon: absolute)
    assert source["sha256"] == _sha(preview) and box.outbox / source["preview"] == preview
    assert [s["size"] for s in report["timings"]["scales"]] == [128]   # detail stages only
    assert report["output"]["look_size"] == 64 and report["params"]["size"] == 128
    assert not list(approve.iterdir())                  # taken, archived in state/done
    assert list((box.state / "done" / "_approve").iterdir())
    page = (preview.parent / "index.html").read_text()   # the preview's campaign page
    assert printed.name in page and preview.name in page


def test_an_approval_of_a_changed_preview_or_one_without_report_is_a_problem(tmp_path):
    box, preview = _box(tmp_path)
    approve = box.outbox / "_approve"
    edited = approve / preview.name
    Image.open(preview).rotate(180).save(edited, "JPEG")      # someone edited it
    res = box.run_once()
    assert res.returncode != 0
    notes = [p for p in (box.outbox / "_problems").rglob("*") if p.is_file()]
    text = " ".join(p.read_text(errors="replace") for p in notes if p.suffix in (".txt", ".json"))
    assert "cannot be printed" in text and "not the one its report describes" in text, text
    assert not preview.with_name(preview.stem + ".print" + preview.suffix).exists()

    preview.with_suffix(".json").unlink()                     # its report is gone
    shutil.copy(preview, approve / preview.name)
    res = box.run_once()
    assert res.returncode != 0
    text = " ".join(p.read_text(errors="replace") for p in (box.outbox / "_problems").rglob("*")
                    if p.is_file() and p.suffix in (".txt", ".json"))
    assert "missing" in text, text


def _prints(box):
    return [p for p in box.outputs() if ".print" in p]


def test_kill_9_while_taking_or_publishing_a_print_loses_and_duplicates_nothing(tmp_path):
    box, preview = _box(tmp_path)
    approve = box.outbox / "_approve"
    for point in ("after_publish_image", "after_claim_move"):
        shutil.copy(preview, approve / preview.name)
        res = box.run_once(env={"DEEPART_TEST_CRASH_AT": point})
        assert res.returncode == 86, (point, res.stderr[-2000:])   # died right there
        assert not list(approve.glob("*.jpg"))                     # claimed before dying
        res = box.run_once()
        assert res.returncode == 0, (point, res.stderr[-2000:])
        prints = _prints(box)
        # one print, with its report: approving the same preview again renders nothing new
        assert len(prints) == 1, (point, prints)
        for rel in prints:
            report = json.loads((box.outbox / rel).with_suffix(".json").read_text())
            assert report["output"]["approved_from"]["sha256"] == _sha(preview)
    # the same file approved twice: one archived copy (archive.kept_copy)
    assert len(list((box.state / "done" / "_approve").iterdir())) == 1
