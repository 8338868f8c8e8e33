"""Held and failed photos on their campaign page, in a real Chromium:
the note's words (what went wrong, what to do) and a working link to the `_problems/` note,
never the raw technical error up front; photos and images counted apart; no refresh once
the pass that queued them has ended; a banner while the manifest is broken; a campaign
page whose campaign is gone is removed."""

import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402
from support.manifests import DATA  # noqa: E402
from test_gallery import browser, open_page, parse_page  # noqa: E402,F401

ONLY_CITY = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "city/**"
    outputs: [{styles: [starry]}]
"""
REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """One bulk pass whose renders all crash (max_attempts 1): city/a.jpg fails in its
    render, city/bad.jpg is a damaged file refused at intake, and party/b.jpg is held: no
    rule in the manifest names party/."""
    b = Box(tmp_path_factory.mktemp("gallery-problems"), manifest=ONLY_CITY, max_attempts=1)
    b.drop("tubingen.jpg", "city/a.jpg")
    (b.inbox / "city" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    b.drop("golden_gate.jpg", "party/b.jpg")
    b.result = b.run_once(timeout=600, env={"DEEPART_INJECT_FAULT": "crash"})
    assert b.result.returncode != 0, b.result.stderr[-3000:]
    return b


def notes(box):
    return {p.relative_to(box.outbox / "_problems").as_posix(): p
            for p in (box.outbox / "_problems").rglob("*.txt")}


def note_words(note: Path) -> tuple[str, str]:
    lines = note.read_text().splitlines()
    what = lines[lines.index("What went wrong:") + 1].strip()
    todo = lines[lines.index("What to do:") + 1].strip()
    return what, todo


def test_held_and_failed_photos_show_with_the_notes_words_and_link(box, browser):
    found = notes(box)
    assert set(found) == {"city/a.jpg.txt", "city/bad.jpg.txt", "party/b.jpg.txt"}, found
    for campaign, names in (("city", ["a.jpg", "bad.jpg"]), ("party", ["b.jpg"])):
        page_file = box.outbox / campaign / "index.html"
        assert page_file.is_file(), f"no page for {campaign}"
        page = open_page(browser, page_file)
        text = page.inner_text("main")
        for name in names:
            what, todo = note_words(found[f"{campaign}/{name}.txt"])
            section = page.locator("section.photo", has_text=name)
            assert section.count() == 1, (campaign, name)
            shown = " ".join(section.inner_text().split())
            assert " ".join(todo.split()) in shown, (name, todo, shown)
            assert " ".join(what.split())[:40] in shown, (name, what, shown)
            link = section.locator("a.note").first
            target = Path(unquote(urlparse(link.evaluate("a => a.href")).path))
            assert target == found[f"{campaign}/{name}.txt"], target
            link.click()                                  # the link works in the browser
            page.wait_for_load_state("load")
            assert "What to do:" in page.inner_text("body")
            page.go_back()
            page.wait_for_load_state("load")
        assert "Traceback" not in text and "signal" not in text.split("Technical detail")[0]
        assert page.problems == [], page.problems
        page.close()


def test_a_failed_render_card_leads_with_what_to_do_not_the_error(box):
    page = (box.outbox / "city" / "index.html").read_text()
    assert parse_page(page).states == ["failed"]
    card = page[page.index('data-state="failed"'):]
    card = card[:card.index("</article>")]
    lead = card[:card.index("<details")] if "<details" in card else card
    assert "What to do:" in lead and "Retry the photo" in lead, lead
    assert 'class="note" href="../_problems/city/a.jpg.txt"' in lead, lead


def test_no_refresh_after_the_pass_and_photos_counted_apart(box):
    for page in (box.outbox / "index.html", box.outbox / "city" / "index.html",
                 box.outbox / "party" / "index.html"):
        assert REFRESH not in page.read_text(), page
    index = box.outbox / "index.html"
    text = " ".join(index.read_text().split())
    assert '<h2>city</h2> <p class="tally">2 photos &middot; 2 failed</p> ' \
           '<p class="tally-images">0 of 1 image done</p>' in text, text
    assert '<h2>party</h2> <p class="tally">1 photo &middot; 1 held</p> </a>' in text, text


def test_stale_page_goes_and_a_broken_manifest_has_a_banner(box, tmp_path):
    import shutil
    from deepart_batch.gallery.pages import GalleryBuild
    outbox = tmp_path / "outbox"
    shutil.copytree(box.outbox, outbox)
    gone = outbox / "old-campaign"
    gone.mkdir()
    shutil.copy(outbox / "party" / "index.html", gone / "index.html")   # a page of ours
    (gone / ".gallery").mkdir()
    keep = outbox / "photos-of-ours"
    keep.mkdir()
    (keep / "index.html").write_text("<html>someone's own page</html>")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("rules: [")
    (tmp_path / "manifest.yaml.error.json").write_text(json.dumps(
        {"errors": [f"{manifest}: line 1: expected a node"], "manifest": str(manifest)}))
    GalleryBuild(outbox, box.state, manifest=manifest).run(live=True)
    assert not gone.exists()
    assert (keep / "index.html").read_text() == "<html>someone's own page</html>"
    page = (outbox / "party" / "index.html").read_text()
    assert "The manifest has a mistake" in page and "manifest.yaml: line 1" in page
    assert str(tmp_path) not in page
    assert REFRESH not in page          # held photos only: nothing queued or rendering
