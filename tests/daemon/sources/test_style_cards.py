"""Style cards, the bookkeeping: every painting of styles_dir gets a card made by
`watch` through the journal, behind every photo, one card at a time; it is redone when the
painting or the defaults change; an unreadable painting is a problem card; `run --once`
makes missing cards after its photos (not with --no-cards); `deepart-batch styles` and
styles.html say the same. In this process, with the canned executor (tests/support/canned.py)."""

import shutil
import time
from types import SimpleNamespace

from deepart_batch.core.style_card_names import (CARD_PRIORITY, STYLES_FOLDER, card_photos,
                                                 list_paintings)
from deepart_batch.core.layout import StateLayout
from deepart_batch.daemon.sources.style_cards import StyleCardSource
from deepart_batch.journal import open_reader
from support.boxes import Box, run_in_process, watch_in_process
from support.manifests import DATA

PHOTOS = len(card_photos())


def _box(tmp_path, **overrides):
    overrides = {"cards": True, **overrides}
    return Box(tmp_path, canned=True,
               watch={"settle_seconds": 0, "rescan_seconds": 2, "poll_interval": 0.1},
               **overrides)


def _cards(box):
    """Card images in outbox/_styles/ (not thumbnails)."""
    folder = box.outbox / STYLES_FOLDER
    return sorted(p.name for p in folder.glob("*.jpg")) if folder.is_dir() else []


def _jobs(box):
    journal = open_reader(StateLayout(box.state).journal)
    try:
        return journal.all_jobs()
    finally:
        journal.close()


def _card_jobs_done(box, n):
    def done():
        try:
            jobs = [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]
        except Exception:
            return False
        return len([j for j in jobs if j.state == "done"]) >= n and \
            not [j for j in jobs if j.state in ("queued", "running")]
    return done


def _after(seconds):
    """A watch that runs this long (many looks at styles_dir), then stops."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def test_the_card_photos_are_small_and_shipped():
    assert PHOTOS in (1, 2)
    for photo in card_photos():
        assert photo.stat().st_size <= 30_000, photo


def test_every_painting_gets_a_card_behind_every_photo(tmp_path):
    box = _box(tmp_path)
    for i in range(3):
        box.drop("tubingen.jpg", f"city/p{i}.jpg")
    watch_in_process(box, _card_jobs_done(box, 2 * PHOTOS))
    assert _cards(box) == sorted(f"{s}.{p.stem}.jpg" for s in ("starry_night", "the_scream")
                                 for p in card_photos())
    for name in _cards(box):
        assert (box.outbox / STYLES_FOLDER / name).with_suffix(".json").is_file()
    jobs = _jobs(box)
    photos = [j for j in jobs if j.campaign != STYLES_FOLDER]
    cards = [j for j in jobs if j.campaign == STYLES_FOLDER]
    assert len(photos) == 6 and all(j.state == "done" for j in photos)
    assert all(j.priority == CARD_PRIORITY for j in cards)
    rendered = [j for j in photos if j.started_at]   # the others copied p0's renders
    assert max(j.started_at for j in rendered) < min(j.started_at for j in cards)
    assert all(j.spec.params.size == 64 for j in cards)   # min(defaults.size, 256)
    # the painting stays in styles_dir: its work copy is not archived; no card campaign
    assert not list((box.state / "done").glob(f"{STYLES_FOLDER}/*"))
    assert not list((box.state / "work").iterdir())
    assert not (box.outbox / STYLES_FOLDER / "index.html").exists()
    assert STYLES_FOLDER not in (box.outbox / "index.html").read_text()
    assert 'href="../styles.html"' in (box.outbox / "city" / "index.html").read_text()
    page = (box.outbox / "styles.html").read_text()
    assert "starry_night.jpg" in page and "manifest name: starry" in page
    assert 'rules[0] &#34;city/**&#34;: starry, starry-70_scream-30' in page, page


def test_a_card_starts_only_when_no_card_runs_and_in_run_once_after_the_photos():
    job = lambda i, card: SimpleNamespace(id=i, campaign=STYLES_FOLDER if card else "city")
    photo, card1, card2 = job(1, False), job(2, True), job(3, True)
    watch = StyleCardSource.__new__(StyleCardSource)
    watch.once, watch.make_cards = False, True
    assert watch.startable([photo, card2, card1], []) == [photo, card1]
    assert watch.startable([photo, card2], [card1]) == [photo]
    watch.once = True                               # a bulk pass: behind every photo
    assert watch.startable([photo, card1], []) == [photo]
    assert watch.startable([card2, card1], [photo]) == []
    assert watch.startable([card2, card1], []) == [card1]
    assert watch.startable([card2], [card1]) == []
    watch.make_cards = False                        # run --once --no-cards
    assert watch.startable([card2, card1], []) == []


def test_a_changed_painting_or_new_defaults_redo_the_card_in_place(tmp_path):
    box = _box(tmp_path)
    watch_in_process(box, _card_jobs_done(box, 2 * PHOTOS))
    before = _cards(box)
    shutil.copy(DATA / "tubingen.jpg", box.styles / "starry_night.jpg")   # replaced
    watch_in_process(box, _card_jobs_done(box, 3 * PHOTOS))
    assert _cards(box) == before                    # replaced in place, no .2 copies
    cards = [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]
    assert len(cards) == 3 * PHOTOS and all(j.state == "done" for j in cards)
    redone = cards[-PHOTOS:]
    assert {j.spec.input for j in redone} == {"_styles/starry_night.jpg"}

    box.rewrite_config(defaults={"size": 64, "steps": 5, "log_every": 1})
    watch_in_process(box, _card_jobs_done(box, 5 * PHOTOS))
    cards = [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]
    assert len(cards) == 5 * PHOTOS and _cards(box) == before
    assert {j.spec.params.steps for j in cards[-2 * PHOTOS:]} == {5}

    watch_in_process(box, _after(1.5))              # nothing changed: nothing redone
    assert len([j for j in _jobs(box) if j.campaign == STYLES_FOLDER]) == 5 * PHOTOS

    for path in box.state.glob("journal.sqlite*"):  # lost: rebuilt from done/ at start
        path.unlink()
    watch_in_process(box, _after(1.5))              # the outbox holds these very cards
    assert not [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]
    assert _cards(box) == before


def test_a_painting_changed_again_and_again_piles_no_copies_in_done(tmp_path):
    box = _box(tmp_path)
    for source in ("tubingen.jpg", "the_scream.jpg", "starry_night.jpg"):
        res = box.run_once()
        assert res.returncode == 0, res.stderr[-2000:]
        shutil.copy(DATA / source, box.styles / "starry_night.jpg")   # changed
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    cards = [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]
    assert len(cards) == 5 * PHOTOS and all(j.state == "done" for j in cards)
    assert not list((box.state / "done").rglob("*")), list((box.state / "done").rglob("*"))
    assert not list((box.state / "work").iterdir())
    assert (box.styles / "starry_night.jpg").read_bytes() == \
        (DATA / "starry_night.jpg").read_bytes()


def test_an_unreadable_painting_is_a_problem_card_not_a_crash(tmp_path):
    box = _box(tmp_path)
    (box.styles / "broken.jpg").write_bytes(b"\xff\xd8 this is not a painting")
    (box.styles / "notes.txt").write_text("not a style")
    watch_in_process(box, _card_jobs_done(box, 2 * PHOTOS))
    watch_in_process(box, _after(1.5))              # a restart does not try it again
    journal = open_reader(StateLayout(box.state).journal)
    try:
        [broken] = journal.history("_styles/broken.jpg")
    finally:
        journal.close()
    assert broken.state == "failed" and broken.reason == "style_unreadable"
    assert not [n for n in _cards(box) if n.startswith("broken")]
    page = (box.outbox / "styles.html").read_text()
    assert "broken.jpg" in page and "cannot be used as a style" in page
    assert "notes.txt" not in page
    res = run_in_process(["styles", "--config", str(box.config)])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "broken.jpg  [problem]" in out and "cannot be used as a style" in out, out
    assert "starry_night.jpg  [done]" in out and "manifest: starry" in out, out
    assert 'used by rules[1] "**": scream' in out, out
    assert f"card {card_photos()[0].stem}: done" in out, out


def test_run_once_makes_missing_cards_after_the_photos_and_counts_them(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", "city/a.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    assert "everything done: 1 photo(s), 2 render(s)" in res.stderr, res.stderr[-2000:]
    assert f"style cards made {2 * PHOTOS:>5}" in res.stderr, res.stderr[-2000:]
    assert _cards(box) == sorted(f"{s}.{p.stem}.jpg" for s in ("starry_night", "the_scream")
                                 for p in card_photos())
    jobs = _jobs(box)
    photos = [j for j in jobs if j.campaign != STYLES_FOLDER]
    cards = [j for j in jobs if j.campaign == STYLES_FOLDER]
    assert len(cards) == 2 * PHOTOS and all(j.state == "done" for j in cards + photos)
    assert max(j.started_at for j in photos) < min(j.started_at for j in cards)
    starts = sorted((j.started_at, j.finished_at) for j in cards)   # one card at a time
    assert all(a[1] <= b[0] for a, b in zip(starts, starts[1:]))

    res = box.run_once()                            # nothing changed: nothing re-rendered
    assert res.returncode == 0, res.stderr[-2000:]
    assert "style cards made     0" in res.stderr, res.stderr[-2000:]
    assert len([j for j in _jobs(box) if j.campaign == STYLES_FOLDER]) == 2 * PHOTOS


def test_run_once_no_cards_makes_none(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", "city/a.jpg")
    res = run_in_process(["run", "--once", "--no-cards", "--config", str(box.config)])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "everything done: 1 photo(s), 2 render(s)" in res.stderr, res.stderr[-2000:]
    assert _cards(box) == [] and not [j for j in _jobs(box) if j.campaign == STYLES_FOLDER]


def test_run_once_renders_card_jobs_a_daemon_left_queued(tmp_path):
    """Cards queued by `watch` are rendered by the next bulk pass, behind its photos."""
    box = _box(tmp_path)
    (box.styles / "late.jpg").write_bytes((DATA / "starry_night.jpg").read_bytes())
    from deepart_batch.daemon.compose import compose
    from deepart_batch.settings.config import load_config
    service = compose(load_config(box.config))   # plans the cards, renders nothing
    try:
        for rel, path in list_paintings(box.styles):
            service.sources.named("style cards").check(rel, path)
    finally:
        service.journal.close()
        service._lock_fh.close()
    assert len([j for j in _jobs(box) if j.state == "queued"]) == 3 * PHOTOS
    box.drop("tubingen.jpg", "a.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    assert "1 of 1 renders finished" in res.stderr, res.stderr[-2000:]
    jobs = _jobs(box)
    assert len(jobs) == 3 * PHOTOS + 1 and all(j.state == "done" for j in jobs)


def test_an_inbox_folder_named_like_the_cards_folder_is_refused(tmp_path):
    box = _box(tmp_path)
    box.drop("tubingen.jpg", f"{STYLES_FOLDER}/a.jpg")
    res = box.run_once()
    assert res.returncode == 1
    assert "named like one of the outbox's own entries" in res.stderr, res.stderr[-2000:]


def test_cards_false_makes_none_and_says_so(tmp_path):
    box = _box(tmp_path, cards=False)
    watch_in_process(box, _after(1.0))
    assert _cards(box) == [] and _jobs(box) == []
    page = (box.outbox / "styles.html").read_text()
    assert "cards are turned off in the config" in page and "the_scream.jpg" in page
    res = run_in_process(["styles", "--config", str(box.config)])
    assert res.returncode == 0 and "the_scream.jpg  [no card yet]" in res.stdout, res.stdout
    assert "(cards: false, none are made)" in res.stdout
