"""Refused links never leak into the outbox: the outbox is readable by the whole team, and
the service user may read more than they can."""

import os

from support.boxes import Box
from support.manifests import DATA

from deepart_batch.daemon.receivers import problems
from deepart_batch.gallery.thumbs import Thumbnails

SECRET_TEXT = b"payroll: do not share " * 40


def _outbox_files(box):
    return [p for p in box.outbox.rglob("*") if p.is_file() and not p.is_symlink()]


def test_linked_photos_leave_nothing_of_their_targets_in_the_outbox(tmp_path):
    box = Box(tmp_path, canned=True)
    private = tmp_path / "private"
    private.mkdir()
    secret_text = private / "salaries.txt"
    secret_text.write_bytes(SECRET_TEXT)
    secret_image = private / "face.jpg"
    secret_image.write_bytes((DATA / "tubingen.jpg").read_bytes())
    team = box.inbox / "team"
    team.mkdir()
    os.link(secret_text, team / "notes.jpg")
    os.link(secret_image, team / "hard.jpg")
    os.symlink(secret_image, team / "sym.jpg")

    res = box.run_once()
    assert res.returncode == 1, res.stderr[-3000:]
    for name in ("notes.jpg", "hard.jpg", "sym.jpg"):   # refused, each with a note
        assert (box.outbox / "_problems/team" / (name + ".txt")).is_file()
    image_bytes = secret_image.read_bytes()
    for path in _outbox_files(box):
        data = path.read_bytes()
        assert SECRET_TEXT[:40] not in data, f"{path} holds the private text"
        assert data != image_bytes, f"{path} is a copy of the private image"
    paintings = box.outbox / "_styles/.gallery"     # styles.html's thumbnails of styles_dir
    thumbs = [p for p in box.outbox.rglob(".gallery/*") if p.is_file() and p.parent != paintings]
    assert thumbs == [], f"thumbnails made from link targets: {thumbs}"
    assert len(list(paintings.glob("*"))) <= len(list(box.styles.iterdir()))
    page = (box.outbox / "team" / "index.html")
    if page.exists():
        assert ".gallery/" not in page.read_text()


def test_problem_copy_and_thumbnail_refuse_links(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((DATA / "tubingen.jpg").read_bytes())
    hard, sym = tmp_path / "hard.jpg", tmp_path / "sym.jpg"
    os.link(secret, hard)
    os.symlink(secret, sym)
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for photo in (hard, sym):
        note = problems.write_problem(outbox, "_problems", f"c/{photo.name}", photo, "note\n")
        assert note is not None and note.read_text() == "note\n"   # the note, not the bytes
        assert not (outbox / "_problems/c" / photo.name).exists()
        thumbs = Thumbnails(tmp_path / ".gallery")
        assert thumbs.get(photo) is None
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(secret.read_bytes())
    problems.write_problem(outbox, "_problems", "c/plain.jpg", plain, "note\n")
    assert (outbox / "_problems/c/plain.jpg").read_bytes() == plain.read_bytes()
    assert Thumbnails(tmp_path / ".gallery").get(plain) is not None
