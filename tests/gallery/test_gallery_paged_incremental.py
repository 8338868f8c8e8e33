"""Campaign pages hold at most a few hundred photos, linked to each other, and a rebuild
after a change writes the pages of the photos that changed, not the whole campaign."""

from __future__ import annotations

import os
import re

from deepart_batch.core.layout import StateLayout
from deepart_batch.gallery.gather import GalleryRead
from deepart_batch.gallery import pages as pages_module
from deepart_batch.gallery.pages import GalleryBuild
from deepart_batch.gallery import paging
from deepart_batch.gallery.paging import PAGE_PHOTOS
from deepart_batch.gallery.thumbs import Thumbnails
from deepart_batch.journal import Journal, open_reader
from support.jobs import toy_spec
from support.manifests import DATA

PHOTOS = 600


def _drop(journal: Journal, campaign: str, first: int, n: int) -> list[int]:
    jobs = []
    with journal.transaction():
        for k in range(first, first + n):
            rel = f"{campaign}/photo{k:04d}.jpg"
            inp = journal.begin_claim(rel, campaign, f"/nowhere/{k}.jpg")
            journal.finish_claim(inp, "sha")
            jobs.append(journal.add_job(inp, f"key{k}", campaign, 0, "oil", toy_spec(),
                                        f"/o/{campaign}/photo{k:04d}.oil.jpg",
                                        f"/o/{campaign}/photo{k:04d}.oil.json"))
    return jobs


def _box(tmp_path):
    outbox, state = tmp_path / "outbox", tmp_path / "state"
    outbox.mkdir()
    journal = Journal(StateLayout(state).journal)
    return outbox, state, journal


def _names(html: str) -> list[str]:
    return re.findall(r"photo\d{4}\.jpg", html)


def test_a_campaign_of_600_photos_is_three_linked_pages_under_a_megabyte(tmp_path):
    outbox, state, journal = _box(tmp_path)
    _drop(journal, "spring", 0, PHOTOS)
    GalleryBuild(outbox, state).run(live=True)
    folder = outbox / "spring"
    pages = sorted(p.name for p in folder.glob("*.html"))
    assert pages == ["index.html", "page-2.html", "page-3.html"]
    seen = []
    for name in pages:
        html = (folder / name).read_text()
        assert (folder / name).stat().st_size < 1_000_000
        assert len(set(_names(html))) <= PAGE_PHOTOS
        seen += sorted(set(_names(html)))
    assert len(seen) == len(set(seen)) == PHOTOS          # each photo on one page
    first, second, last = ((folder / n).read_text() for n in pages)
    assert 'href="page-2.html"' in first and 'href="page-3.html"' in first
    assert "600 photos" in first                          # the campaign's tally
    assert 'href="index.html"' in second and 'rel="next" href="page-3.html"' in second
    assert 'rel="prev" href="page-2.html"' in last and 'rel="next"' not in last
    assert "600 photos" in (outbox / "index.html").read_text()


def test_a_change_rewrites_its_page_the_first_and_the_index_only(tmp_path):
    outbox, state, journal = _box(tmp_path)
    jobs = _drop(journal, "spring", 0, PHOTOS)
    build = GalleryBuild(outbox, state)
    build.run(live=True)
    folder = outbox / "spring"
    reader = open_reader(StateLayout(state).journal)
    try:
        journal.mark_running(jobs[-1], "w0", "cpu")      # a photo on the third page
        written = build.update(reader, live=True)
        assert written is not None
        assert sorted(p.name for p in written) == ["index.html", "index.html", "page-3.html"]
        assert {p.parent for p in written} == {outbox, folder}
        assert "rendering" in (folder / "page-3.html").read_text()

        new = _drop(journal, "spring", PHOTOS, 1)       # photo 601 starts a fourth page
        written = build.update(reader, live=True)
        assert sorted(p.name for p in written if p.parent == folder) == \
            ["index.html", "page-3.html", "page-4.html"]
        assert 'rel="next" href="page-4.html"' in (folder / "page-3.html").read_text()
        assert _names((folder / "page-4.html").read_text()) == ["photo0600.jpg"] * \
            len(_names((folder / "page-4.html").read_text()))
        assert "601 photos" in (folder / "index.html").read_text()

        journal.mark_running(new[0], "w0", "cpu")
        journal.mark_done(new[0], 1.0)                    # done, but its files are gone
        assert build.update(reader, live=True) is None   # it leaves its page: all again
        assert build.update(reader, live=True) is None
        build.run(live=True)
        assert not (folder / "page-4.html").exists()
        assert build.update(reader, live=True) == []     # nothing changed since
    finally:
        reader.close()


def test_a_thumbnail_follows_its_photo_when_it_is_moved(tmp_path):
    photo = tmp_path / "work" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes((DATA / "tubingen.jpg").read_bytes())
    thumbs = Thumbnails(tmp_path / ".gallery")
    made = thumbs.get(photo)
    archived = tmp_path / "done" / "a.jpg"
    archived.parent.mkdir()
    os.rename(photo, archived)                            # work/ -> done/: same file
    again = Thumbnails(tmp_path / ".gallery")
    assert made is not None and again.get(archived) == made


def test_idle_pages_let_go_of_their_photos_and_are_read_again_when_one_changes(
        tmp_path, monkeypatch):
    monkeypatch.setattr(paging, "KEEP_THAWED", 0)     # else 8 idle pages stay in memory
    outbox, state, journal = _box(tmp_path)
    jobs = _drop(journal, "spring", 0, PHOTOS)
    with journal.transaction():
        for job_id in jobs:
            journal.hold(job_id, "style_missing", "scream.jpg is gone", retry_at=1e12)
    build = GalleryBuild(outbox, state)
    build.run(live=True)
    pages = build.model["spring"]
    assert pages.frozen == {1}                      # not the first, not the last
    assert pages.campaign.photos[PAGE_PHOTOS] is None
    folder = outbox / "spring"
    reader = open_reader(StateLayout(state).journal)
    try:
        changed = jobs[PAGE_PHOTOS + 5]              # photo0205, on the frozen page
        journal.mark_failed(changed, "crash", "the worker died")
        written = build.update(reader, live=True)
        assert sorted(p.name for p in written if p.parent == folder) == \
            ["index.html", "page-2.html"]
        page = (folder / "page-2.html").read_text()
        assert "the worker died" in page and len(set(_names(page))) == PAGE_PHOTOS
        assert "the worker died" not in \
            (folder / "page-3.html").read_text()
        assert "1 failed" in (folder / "index.html").read_text()
        assert pages.frozen == {1}                  # idle again: let go again
    finally:
        reader.close()


def test_a_whole_build_holds_a_few_pages_of_photos_at_once(tmp_path, monkeypatch):
    """A whole rebuild (at start, at stop, hourly) writes each page as it fills and lets
    its photos go: its memory is two pages', not the backlog's."""
    monkeypatch.setattr(paging, "KEEP_THAWED", 0)
    outbox, state, journal = _box(tmp_path)
    _drop(journal, "spring", 0, 5 * PAGE_PHOTOS)
    build = GalleryBuild(outbox, state)
    live_photos = []
    whole_read = GalleryRead.photos

    def counted(read):
        for item in whole_read(read):
            live_photos.append(sum(p is not None for pages in (build.model or {}).values()
                                   for p in pages.campaign.photos))
            yield item
    monkeypatch.setattr(GalleryRead, "photos", counted)
    build.run(live=True)
    assert len(live_photos) == 5 * PAGE_PHOTOS
    assert max(live_photos) <= 2 * PAGE_PHOTOS       # the first page and the one filling
    assert build.model["spring"].frozen == {1, 2, 3}
    folder = outbox / "spring"
    seen = [n for page in folder.glob("*.html") for n in set(_names(page.read_text()))]
    assert len(seen) == len(set(seen)) == 5 * PAGE_PHOTOS
    assert 'rel="next" href="page-5.html"' in (folder / "page-4.html").read_text()
    assert "1000 photos" in (folder / "index.html").read_text()


def test_a_stop_rewrites_only_the_pages_still_refreshing(tmp_path, monkeypatch):
    """When the daemon stops, the pages of photos still on their way stop refreshing; the
    pages of finished photos are not written again, nor read from the journal."""
    monkeypatch.setattr(paging, "KEEP_THAWED", 0)
    outbox, state, journal = _box(tmp_path)
    jobs = _drop(journal, "spring", 0, PHOTOS)
    with journal.transaction():
        for job_id in jobs[:2 * PAGE_PHOTOS]:     # the first two pages end: failed
            journal.mark_failed(job_id, "crash", "the worker died")
    build = GalleryBuild(outbox, state)
    build.run(live=True)
    folder = outbox / "spring"
    refresh = 'http-equiv="refresh"'
    assert refresh in (folder / "page-3.html").read_text()
    assert refresh not in (folder / "page-2.html").read_text()
    assert build.model["spring"].frozen == {1}
    reader = open_reader(StateLayout(state).journal)
    try:
        written = build.update(reader, live=False)
    finally:
        reader.close()
    assert written is not None                   # no whole rebuild
    assert [p.name for p in written if p.parent == folder] == ["page-3.html"]
    assert refresh not in (folder / "page-3.html").read_text()
    assert refresh not in (outbox / "index.html").read_text()


def test_an_update_catches_up_with_more_changes_than_one_batch(tmp_path, monkeypatch):
    """A burst of changes larger than one batch is all shown by one update: once the
    journal is quiet no later update comes to show the rest."""
    monkeypatch.setattr(pages_module, "UPDATE_PHOTOS", 50)
    outbox, state, journal = _box(tmp_path)
    jobs = _drop(journal, "spring", 0, PHOTOS)
    build = GalleryBuild(outbox, state)
    build.run(live=True)
    reader = open_reader(StateLayout(state).journal)
    try:
        with journal.transaction():
            for job_id in jobs:
                journal.mark_failed(job_id, "crash", "the worker died")
        written = build.update(reader, live=True)
        assert written is not None
        assert build.update(reader, live=True) == []          # nothing left behind
    finally:
        reader.close()
    folder = outbox / "spring"
    assert f"{PHOTOS} failed" in (folder / "index.html").read_text()
    assert all("the worker died" in (folder / n).read_text()
               for n in ("index.html", "page-2.html", "page-3.html"))


def test_a_build_far_behind_the_journal_says_a_whole_build_costs_less(tmp_path):
    outbox, state, journal = _box(tmp_path)
    jobs = _drop(journal, "spring", 0, PHOTOS)
    build = GalleryBuild(outbox, state)
    build.run(live=True)
    reader = open_reader(StateLayout(state).journal)
    try:
        assert not build.behind(reader)
        with journal.transaction():
            for job_id in jobs[:100]:                 # a sixth changed: caught up by reading
                journal.mark_failed(job_id, "crash", "the worker died")
        assert not build.behind(reader)
        _drop(journal, "spring", PHOTOS, 2500)        # more than half anew: a whole build
        assert build.behind(reader)
    finally:
        reader.close()
