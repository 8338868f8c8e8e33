"""Odd files in styles_dir never stop the daemon: text named like an image, a truncated or
empty image, a folder or a named pipe named like an image, links (dangling, looping, inside) each become a
problem card or are passed over, and a photo dropped meanwhile renders.
Canned executor: the cards' renders are not the point."""

import os
import shutil

from deepart_batch.core.style_card_names import STYLES_FOLDER
from support.boxes import Box, watch_in_process
from support.manifests import DATA, ONE_STYLE

TINY = {"size": 48, "steps": 3, "log_every": 1}


def _notes(box) -> str:
    return " ".join(p.read_text(errors="replace")
                    for p in (box.outbox / "_problems").rglob("*.txt") if p.is_file())


def _cards(box) -> set[str]:
    """The paintings with a rendered style card (outbox/_styles/<painting>.<photo>.jpg)."""
    return {p.name.split(".")[0] for p in (box.outbox / STYLES_FOLDER).glob("*.jpg")}


def _odd_styles(styles):
    (styles / "notes.jpg").write_text("meeting notes, not a painting\n")
    (styles / "empty.png").write_bytes(b"")
    data = (DATA / "starry_night.jpg").read_bytes()
    (styles / "cut.jpg").write_bytes(data[: len(data) // 3])
    (styles / "folder.png").mkdir()
    (styles / "folder.png" / "readme.txt").write_text("a folder named like an image")
    os.symlink(styles / "the_scream.jpg", styles / "link.jpg")
    os.symlink(styles / "missing.jpg", styles / "dangling.jpg")
    os.symlink("loop.jpg", styles / "loop.jpg")
    os.mkfifo(styles / "pipe.jpg")    # opening it for reading would wait for a writer


def test_odd_files_in_styles_dir_become_problem_cards_and_photos_still_render(tmp_path):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True, cards=True, defaults=TINY)
    _odd_styles(box.styles)
    shutil.copy(DATA / "tubingen.jpg", box.inbox / "photo.jpg")

    def settled():
        notes = _notes(box)
        return "notes.jpg" in notes and "empty.png" in notes and \
            any(rel.startswith("photo.") for rel in box.outputs()) and \
            {"the_scream", "link"} <= _cards(box)

    watch_in_process(box, settled)    # raises if the daemon stops or never gets there
    notes = _notes(box)
    assert "Traceback" not in notes
    assert not {"notes", "empty", "dangling", "loop", "folder", "pipe"} & _cards(box)
