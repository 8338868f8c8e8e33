"""outbox/styles.html tells the truth on any box: its painting count is the styles folder
as it is (a painting the manifest names but the folder lacks is not one more), and why a
painting has no card yet depends on how the box runs: `watch` makes cards by itself,
`run --once` after its photos, `run --once --no-cards` none. With the canned executor, in
this process."""

import os
import re

from support.boxes import Box, run_in_process
from support.manifests import ONE_PAINTING_MISSING

MADE_BY_ITSELF = "it is made by itself, after the photos waiting now"


def _words(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _bulk_box(tmp_path, *options):
    box = Box(tmp_path, manifest=ONE_PAINTING_MISSING, canned=True, cards=True)
    box.drop("tubingen.jpg", "city/a.jpg")
    res = run_in_process(["run", "--once", *options, "--config", str(box.config)])
    assert res.returncode == 0, res.stderr[-2000:]
    return box


def test_after_run_once_no_cards_the_page_never_promises_a_card_by_itself(tmp_path):
    box = _bulk_box(tmp_path, "--no-cards")
    words = _words((box.outbox / "styles.html").read_text())
    assert MADE_BY_ITSELF not in words
    assert "this bulk pass ran with --no-cards, which makes none" in words, words
    res = run_in_process(["styles", "--config", str(box.config)])
    assert res.returncode == 0 and MADE_BY_ITSELF not in res.stdout, res.stdout
    assert "the next bulk pass (run --once) makes it, after its photos" in res.stdout, \
        res.stdout


def test_run_once_leaves_no_painting_of_the_folder_without_its_card(tmp_path):
    box = _bulk_box(tmp_path)
    words = _words((box.outbox / "styles.html").read_text())
    assert "No card yet" not in words, words


def test_the_painting_count_is_the_styles_folder_as_it_is(tmp_path):
    box = _bulk_box(tmp_path)
    in_folder = len([p for p in box.styles.iterdir() if p.suffix == ".jpg"])
    words = _words((box.outbox / "styles.html").read_text())
    assert f"{in_folder} paintings in the styles folder (the manifest names 1 more that " \
           f"is not there)" in words, words[:600]
    (box.styles / "the_scream.jpg").unlink()              # one painting taken away
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    words = _words((box.outbox / "styles.html").read_text())
    assert f"{in_folder - 1} painting{'s' if in_folder - 1 != 1 else ''} in the styles " \
           f"folder" in words, words[:600]
    res = run_in_process(["styles", "--config", str(box.config)])
    assert res.stdout.startswith(f"{in_folder - 1} painting(s) in {box.styles} (and 1 the "
                                 f"manifest names that are not there)"), res.stdout


def test_under_watch_a_missing_card_is_made_by_itself(tmp_path):
    from deepart_batch.gallery.pages import GalleryBuild
    from deepart_batch.settings.config import load_config
    box = Box(tmp_path, canned=True, cards=True)
    box.state.mkdir()
    (box.state / "daemon.lock").write_text(f"{os.getpid()} daemon\n")   # as `watch` has it
    GalleryBuild(box.outbox, box.state, config=load_config(box.config)).run()
    assert MADE_BY_ITSELF in _words((box.outbox / "styles.html").read_text())
    GalleryBuild(box.outbox, box.state, config=load_config(box.config),
                 cards_made=False).run()              # the daemon says it makes none
    assert MADE_BY_ITSELF not in _words((box.outbox / "styles.html").read_text())
