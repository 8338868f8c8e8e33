"""The masks folder through the daemon (`watch`, canned executor): a mask saved before its
photo is rendered with it; a photo whose rule requires a mask waits (mask_missing: in
status and a note) until its mask arrives; a bad mask makes its photo a problem with a note
that says what to fix while the daemon goes on; a mask saved or replaced after its photo was
rendered renders the photo again, beside the earlier output. Jobs read the mask's claimed
copy in state_dir, never the share's file."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PIL import Image

from deepart_batch.core.hashing import sha256_file
from deepart_batch.daemon.admin import status
from deepart_batch.settings.config import load_config
from support.boxes import Box, watch_in_process
from support.journal_probe import JournalProbe

MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg}
rules:
  - match: "req/**"
    mask: required
    outputs: [{style: starry}]
  - match: "**"
    mask: optional
    regions: {"#ff0000": scream}
    outputs: [{style: starry}]
"""


def _box(tmp_path) -> Box:
    box = Box(tmp_path, manifest=MANIFEST, canned=True,
              watch={"settle_seconds": 0, "rescan_seconds": 1, "poll_interval": 0.1},
              problems={"hold_seconds": 3600, "hold_max_seconds": 3600})
    (tmp_path / "masks").mkdir()
    return box


def save_mask(box: Box, rel: str, size=(64, 48), colours=("white", "black")) -> Path:
    """A mask framed like the test photos (4:3): its left half the first colour, the rest
    the second; written whole at once, as an export would be."""
    im = Image.new("RGB", size, colours[1])
    im.paste(Image.new("RGB", (size[0] // 2, size[1]), colours[0]), (0, 0))
    path = box.root / "masks" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    im.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def _specs(probe: JournalProbe, relpath: str) -> list:
    return probe._read(lambda r: [j.spec for j in r.all_jobs()
                                  if r.input(j.input_id).relpath == relpath])


def test_a_mask_saved_first_travels_as_its_claimed_copy_with_the_rules_regions(tmp_path):
    box = _box(tmp_path)
    mask = save_mask(box, "opt/a.png", colours=("white", "#ff0000"))
    box.drop("tubingen.jpg", "opt/a.jpg")
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and
                     probe.photo_states().get("opt/a.jpg") == "done")
    [spec] = _specs(probe, "opt/a.jpg")
    assert spec.mask_sha256 == sha256_file(mask)
    assert Path(spec.mask).parent == box.state / "masks"        # never the share's file
    assert sha256_file(spec.mask) == spec.mask_sha256
    assert [r.name for r in spec.regions] == ["#ff0000"]
    # the region's painting rides along at weight 0, the output's style at its own
    assert {s.name: s.weight for s in spec.styles} == {"starry": 1.0, "scream": 0.0}
    assert (box.outbox / "opt/a.starry.jpg").is_file()
    assert mask.is_file()                                       # the team's file stays


def test_a_photo_without_its_optional_mask_renders_whole(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", "opt/b.jpg")
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and
                     probe.photo_states().get("opt/b.jpg") == "done")
    [spec] = _specs(probe, "opt/b.jpg")
    assert (spec.mask, spec.mask_sha256, spec.regions) == ("", "", ())


def test_a_required_mask_holds_its_photo_until_it_arrives(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", "req/c.jpg")
    note = box.outbox / "_problems/req/c.jpg.txt"
    probe = JournalProbe(box)
    seen = {}

    def held_then_mask_saved():
        if not probe.exists():
            return False
        if "held" not in seen and probe.photo_states().get("req/c.jpg") == "held" \
                and note.exists():
            seen["held"] = status.collect(load_config(box.config))["held"]
            seen["note"] = note.read_text()
            save_mask(box, "req/c.png")
        return probe.photo_states().get("req/c.jpg") == "done"

    watch_in_process(box, held_then_mask_saved)
    assert seen["held"]["by_reason"] == {"mask_missing": 1}, seen["held"]
    assert "mask" in seen["note"] and "req/c" in seen["note"]
    [spec] = _specs(probe, "req/c.jpg")
    assert spec.mask_sha256 == sha256_file(box.root / "masks/req/c.png")
    assert (box.outbox / "req/c.starry.jpg").is_file()
    assert not note.exists()                     # the hold's note goes once it rendered


def test_a_bad_mask_makes_its_photo_a_problem_and_the_daemon_goes_on(tmp_path):
    box = _box(tmp_path)
    (box.root / "masks/opt").mkdir(parents=True)
    (box.root / "masks/opt/d.png").write_text("this is not a picture")
    save_mask(box, "opt/e.png", size=(64, 16))                  # 4:1 for a 4:3 photo
    save_mask(box, "opt/f.png", colours=("white", "#00ff00"))   # green: mapped by no region
    for name in "defg":
        box.drop("tubingen.jpg", f"opt/{name}.jpg")
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and all(
        probe.photo_states().get(f"opt/{n}.jpg") in ("done", "failed") for n in "defg"))
    states = probe.photo_states()
    assert states == {"opt/d.jpg": "failed", "opt/e.jpg": "failed", "opt/f.jpg": "failed",
                      "opt/g.jpg": "done"}, states
    errors = {n: json.loads((box.state / f"failed/opt/{n}.jpg.error.json").read_text())
              for n in "def"}
    assert {e["reason"] for e in errors.values()} == {"mask_invalid"}
    assert "masks/opt/d.png" in errors["d"]["error"] and "grayscale or palette" in \
        errors["d"]["error"]
    assert "aspect ratio" in errors["e"]["error"] and "masks/opt/e.png" in errors["e"]["error"]
    assert "#00ff00" in errors["f"]["error"] and "regions:" in errors["f"]["error"]
    note = (box.outbox / "_problems/opt/e.jpg.txt").read_text()
    assert "Fix the mask in the masks folder" in note and "aspect ratio" in note
    assert "Drop a good copy of the photo" not in note    # the photo is fine
    for error in errors.values():
        assert str(box.state) not in error["error"]


def test_a_mask_replaced_after_its_photo_rendered_renders_it_again(tmp_path):
    box = _box(tmp_path)
    first = save_mask(box, "opt/h.png")
    box.drop("tubingen.jpg", "opt/h.jpg")
    probe = JournalProbe(box)
    seen = {}

    def done_then_replaced():
        if not probe.exists():
            return False
        if "sha" not in seen and probe.photo_states().get("opt/h.jpg") == "done":
            seen["sha"] = sha256_file(first)
            time.sleep(0.05)
            save_mask(box, "opt/h.png", colours=("black", "white"))   # the other way round
        inputs = probe.inputs("relpath", "state")
        return [s for r, s in inputs if r == "opt/h.jpg"] == ["done", "done"]

    watch_in_process(box, done_then_replaced)
    specs = _specs(probe, "opt/h.jpg")
    assert [s.mask_sha256 for s in specs] == [seen["sha"], sha256_file(first)]
    assert seen["sha"] != specs[1].mask_sha256
    assert box.outputs("opt/*.jpg") == ["opt/h.starry.2.jpg", "opt/h.starry.jpg"]


def test_a_mask_saved_after_its_photo_rendered_whole_renders_it_again(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", "opt/i.jpg")
    probe = JournalProbe(box)

    def done_then_mask_saved():
        if not probe.exists():
            return False
        states = [s for r, s in probe.inputs("relpath", "state") if r == "opt/i.jpg"]
        if states == ["done"] and not (box.root / "masks/opt/i.png").exists():
            save_mask(box, "opt/i.png")
        return states == ["done", "done"]

    watch_in_process(box, done_then_mask_saved)
    assert [s.mask_sha256 != "" for s in _specs(probe, "opt/i.jpg")] == [False, True]


def test_a_restart_knows_the_masks_and_renders_nothing_again(tmp_path):
    box = _box(tmp_path)
    save_mask(box, "opt/j.png")
    box.drop("tubingen.jpg", "opt/j.jpg")
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and
                     probe.photo_states().get("opt/j.jpg") == "done")
    box.drop("golden_gate.jpg", "opt/k.jpg")     # the second run's sign that it has looked
    watch_in_process(box, lambda: probe.photo_states().get("opt/k.jpg") == "done")
    assert [r for r, _ in probe.inputs("relpath", "state")] == ["opt/j.jpg", "opt/k.jpg"]
    assert box.outputs("opt/*.jpg") == ["opt/j.starry.jpg", "opt/k.starry.jpg"]
