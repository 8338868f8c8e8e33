"""Names: a failed photo with a name near the 255-byte limit still gets its
problem note, and an inbox folder named like one of the outbox's own entries is refused at
intake in plain words instead of being held as outbox_unwritable forever."""

import json
from pathlib import Path

from support.manifests import DATA
from support.fault_helpers import archived, fault_box
from deepart_batch.daemon.receivers import problems


def test_a_252_byte_name_gets_its_problem_note_and_copy(tmp_path):
    outbox = tmp_path / "outbox"
    name = "é" * 124 + ".jpg"                      # 252 bytes of UTF-8
    assert len(name.encode()) == 252
    rel = f"city/{name}"
    text = problems.problem_text(rel, "unreadable", "cannot identify image file", held=False)
    note = problems.write_problem(outbox, "_problems", rel, DATA / "tubingen.jpg", text)
    assert note is not None and note.is_file()
    assert len(note.name.encode()) <= 255 and note.name.endswith(".jpg.txt")
    copy = note.with_name(note.name[:-len(".txt")])
    assert copy.read_bytes() == (DATA / "tubingen.jpg").read_bytes()
    assert f"Photo:   {rel}" in note.read_text()
    assert not [p for p in outbox.rglob(".*")]     # no temp file left behind
    assert problems.clear_problem(outbox, "_problems", rel)
    assert not note.exists() and not copy.exists()


def test_a_failed_photo_with_a_252_byte_name_gets_a_note_from_the_daemon(tmp_path):
    box = fault_box(tmp_path)
    name = "n" * 248 + ".jpg"
    (box.inbox / name).write_bytes(b"this is not an image at all")
    res = box.run_once()
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    notes = list((box.outbox / "_problems").glob("*.txt"))
    assert len(notes) == 1, res.stderr[-3000:]
    assert f"Photo:   {name}" in notes[0].read_text()


def test_inbox_folders_named_like_the_outbox_own_entries_are_refused_in_plain_words(tmp_path):
    box = fault_box(tmp_path)
    drops = ["_problems/a.jpg", "index.html/b.jpg", "city/_reports/c.jpg", "city/ok.jpg"]
    for rel in drops:
        box.drop("tubingen.jpg", rel)
    res = box.run_once(timeout=600)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    a = archived(box)
    assert a["done"] == ["city/ok.jpg"], (a, res.stderr[-3000:])
    assert sorted(a["failed"]) == ["_problems/a.jpg", "city/_reports/c.jpg",
                                   "index.html/b.jpg"]
    for rel, folder in [("_problems/a.jpg", "_problems"), ("index.html/b.jpg", "index.html"),
                        ("city/_reports/c.jpg", "_reports")]:
        error = json.loads((box.state / "failed" / (rel + ".error.json")).read_text())
        assert error["reason"] == "reserved_name", error
        assert f'"{folder}"' in error["error"] and "rename" in error["error"].lower(), error
    assert box.status()["held"]["total"] == 0
    assert res.returncode == 1          # refused photos: the pass had failures
