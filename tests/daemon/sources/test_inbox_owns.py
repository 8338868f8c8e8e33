"""Each claimed input has exactly one source: an inbox folder named like the approve folder
(`_approve/`) is refused at intake in plain words, like the outbox's other own entries. Else
the approvals source owned the photo (it was failed as an approval with no preview), and its
renders would have landed in outbox/_approve/, where they would be taken as approvals."""

from __future__ import annotations

import json

from support.boxes import Box


def test_an_inbox_folder_named_like_the_approve_folder_is_refused_in_plain_words(tmp_path):
    box = Box(tmp_path, canned=True)
    box.drop("tubingen.jpg", "_approve/a.jpg")
    box.drop("golden_gate.jpg", "city/ok.jpg")
    res = box.run_once()
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    error = json.loads((box.state / "failed/_approve/a.jpg.error.json").read_text())
    assert error["reason"] == "reserved_name", error
    assert '"_approve"' in error["error"] and "rename" in error["error"].lower(), error
    assert (box.state / "done/city/ok.jpg").is_file()
    assert not list((box.outbox / "_approve").glob("a*.jpg"))   # no render taken as one
    assert not (box.state / "done/_approve").exists()
