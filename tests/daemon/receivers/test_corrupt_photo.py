"""A corrupt .jpg is a damaged JPEG to be copied again, not "not a recognised image" with a
list of formats the box refuses anyway; its note does not suggest `retry`."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402
from support.manifests import DATA  # noqa: E402

from deepart_batch import images
from deepart_batch.daemon.receivers.problems import problem_text
from deepart_batch.errors import ImageError

DAMAGED = "the file is damaged or incomplete; copy it again"


@pytest.mark.parametrize("content", [b"\xff\xd8\xff\xe0" + b"\x00" * 200, b"not a picture"])
def test_a_corrupt_jpg_is_a_damaged_jpeg(tmp_path, content):
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(content)
    with pytest.raises(ImageError) as info:
        images.probe(photo)
    text = str(info.value)
    assert text == f"{photo}: not a readable JPEG image: {DAMAGED}", text
    assert "MPO" not in text and "BMP" not in text


def test_an_unknown_file_is_not_said_to_be_damaged(tmp_path):
    other = tmp_path / "notes.xyz"
    other.write_text("hello")
    with pytest.raises(ImageError, match="notes.xyz: not a recognised image; save it as JPEG "
                                         "or PNG$"):
        images.probe(other)


def test_the_note_of_a_photo_problem_does_not_suggest_retry():
    text = problem_text("city/beach.jpg", "unreadable", f"beach.jpg: not a readable JPEG "
                        f"image: {DAMAGED}", held=False)
    assert "retry" not in text.lower() and "copy the photo into the inbox again" in text.lower()
    render = problem_text("city/beach.jpg", "crashed", "worker died", held=False)
    assert "deepart-batch retry --photo" in render       # a render problem: retry helps


def test_a_corrupt_jpg_dropped_in_the_inbox(tmp_path):
    box = Box(tmp_path)
    (box.inbox / "city").mkdir()
    (box.inbox / "city" / "beach.jpg").write_bytes((DATA / "tubingen.jpg").read_bytes()[:2]
                                                   + b"\x00" * 500)
    res = box.run_once()
    assert res.returncode == 1, res.stderr[-3000:]
    note = (box.outbox / "_problems" / "city" / "beach.jpg.txt").read_text()
    assert DAMAGED in note and "retry" not in note.lower(), note
    assert "MPO" not in note and "supported formats" not in note, note
