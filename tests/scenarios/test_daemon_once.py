"""`run --once`: real files, a real journal; the daemon in this process with the canned
executor (bookkeeping), and one run with real worker processes (test_journal_is_wal_sqlite)."""

import hashlib
import json
import os

from support.boxes import Box
from support.journal_files import journal_mode
from support.journal_probe import JournalProbe
from support.manifests import DATA


def _report(box, rel):
    return json.loads((box.outbox / rel).read_text())


def test_three_photos_two_rules_then_corrupt_and_duplicate(tmp_path):
    box = Box(tmp_path, canned=True)
    box.drop("tubingen.jpg", "city/tubingen.jpg")
    box.drop("golden_gate.jpg", "city/bridge.jpg")
    box.drop("the_scream.jpg", "misc/face.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert box.outputs() == ["city/bridge.starry-70_scream-30.jpg", "city/bridge.starry.jpg",
                             "city/tubingen.starry-70_scream-30.jpg", "city/tubingen.starry.jpg",
                             "misc/face.scream.jpg"]
    assert box.outputs("**/*.json") == [o.replace(".jpg", ".json") for o in box.outputs()]
    report = _report(box, "city/tubingen.starry-70_scream-30.json")
    assert report["status"] == "done" and report["input"]["path"] == "city/tubingen.jpg"
    assert report["input"]["sha256"] == hashlib.sha256((DATA / "tubingen.jpg").read_bytes()).hexdigest()
    assert {s["name"]: s["weight"] for s in report["styles"]} == {"starry": 0.7, "scream": 0.3}
    assert report["job"]["id"] and report["job"]["attempt"] == 1 and report["job"]["worker"] == "cpu#0"
    t = report["timings"]
    assert t["queued"] <= t["started"] <= t["finished"]
    assert report["trace"][-1]["total"] < report["trace"][0]["total"]
    assert sorted(p.relative_to(box.state / "done").as_posix()
                  for p in (box.state / "done").rglob("*.jpg")) == \
        ["city/bridge.jpg", "city/tubingen.jpg", "misc/face.jpg"]
    assert not any(box.inbox.rglob("*.jpg")) and not any((box.state / "work").iterdir())
    assert "jobs rendered     5" in res.stderr
    assert not box.temp_files()

    # Second run: a corrupt file and an identical re-drop of an already rendered photo.
    (box.inbox / "city").mkdir(exist_ok=True)
    (box.inbox / "city" / "broken.jpg").write_bytes((DATA / "golden_gate.jpg").read_bytes()[:700])
    box.drop("tubingen.jpg", "city/tubingen.jpg")
    before = (box.outbox / "city/tubingen.starry.jpg").stat().st_mtime_ns
    res = box.run_once()
    assert res.returncode == 1, res.stderr[-3000:]
    assert "jobs rendered     0" in res.stderr and "duplicates        2" in res.stderr
    assert "not rendered again" in res.stderr
    assert (box.outbox / "city/tubingen.starry.jpg").stat().st_mtime_ns == before
    assert (box.state / "done/city/tubingen.jpg").exists()
    dup = [p.name for p in (box.state / "done/city").iterdir() if p.name.startswith("tubingen.")]
    assert len(dup) == 2  # the re-drop is archived beside the first, not overwritten
    error = json.loads((box.state / "failed/city/broken.jpg.error.json").read_text())
    assert error["input"] == "city/broken.jpg" and "truncated" in error["error"] + error["reason"] \
        or "damaged" in error["error"]
    assert (box.state / "failed/city/broken.jpg").read_bytes() == \
        (DATA / "golden_gate.jpg").read_bytes()[:700]
    assert json.loads((box.outbox / "city/broken.jpg.error.json").read_text())["input"] == "city/broken.jpg"


def test_links_are_refused_and_nothing_is_lost(tmp_path):
    box = Box(tmp_path, canned=True)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes((DATA / "tubingen.jpg").read_bytes())
    os.symlink(outside, box.inbox / "linked.jpg")
    os.link(outside, box.inbox / "hard.jpg")
    res = box.run_once()
    assert res.returncode == 1
    assert box.outputs() == []
    sym = json.loads((box.state / "failed/linked.jpg.error.json").read_text())
    hard = json.loads((box.state / "failed/hard.jpg.error.json").read_text())
    assert sym["reason"] == "symlink" and "symbolic link" in sym["error"]
    assert hard["reason"] == "hardlink" and "hard links" in hard["error"]
    assert outside.read_bytes() == (DATA / "tubingen.jpg").read_bytes()  # target untouched
    assert (box.state / "failed/linked.jpg").is_symlink()


def test_traversal_style_is_refused_by_validate_and_at_runtime(tmp_path):
    bad = "styles:\n  evil: {image: ../../etc/passwd}\nrules:\n  - match: '**'\n    outputs: [{style: evil}]\n"
    box = Box(tmp_path, manifest=bad, canned=True)
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 2
    assert "styles.evil" in res.stderr and "outside styles_dir" in res.stderr
    box.drop("tubingen.jpg", "photo.jpg")
    res = box.run_once(timeout=60)
    assert "outside styles_dir" in (box.root / "manifest.yaml.error.json").read_text()
    assert box.outputs() == []
    assert (box.inbox / "photo.jpg").exists()  # held, not failed, not lost
    assert res.returncode == 1


def test_validate_accepts_a_good_config(tmp_path):
    box = Box(tmp_path)
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout


def test_journal_is_wal_sqlite(tmp_path):
    box = Box(tmp_path)   # real worker processes
    box.drop("golden_gate.jpg", "a.jpg")
    assert box.run_once().returncode == 0
    assert journal_mode(box.state / "journal.sqlite") == "wal"
    assert JournalProbe(box).jobs("state", "attempts") == [("done", 1)]
    status = box.status()
    assert status["counts"]["done"] == 1 and status["daemon"]["alive"] is False


def test_outputs_that_would_collide_get_their_own_names(tmp_path):
    # photo.jpg and photo.png in one folder, then a changed photo under an old name: each
    # render keeps its own file; nothing a person may already have used is overwritten.
    from PIL import Image
    box = Box(tmp_path, canned=True)
    box.drop("tubingen.jpg", "misc/photo.jpg")
    Image.open(DATA / "golden_gate.jpg").save(box.inbox / "misc" / "photo.png")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert box.outputs() == ["misc/photo.scream.2.jpg", "misc/photo.scream.jpg"]
    first = {_report(box, f"misc/{n}.json")["input"]["path"]
             for n in ("photo.scream", "photo.scream.2")}
    assert first == {"misc/photo.jpg", "misc/photo.png"}
    kept = (box.outbox / "misc/photo.scream.jpg").read_bytes()
    box.drop("the_scream.jpg", "misc/photo.jpg")          # new content, old name
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert "is taken by an earlier render" in res.stderr
    assert box.outputs() == ["misc/photo.scream.2.jpg", "misc/photo.scream.3.jpg",
                             "misc/photo.scream.jpg"]
    assert (box.outbox / "misc/photo.scream.jpg").read_bytes() == kept
    assert _report(box, "misc/photo.scream.3.json")["output"]["path"].endswith(
        "photo.scream.3.jpg")
