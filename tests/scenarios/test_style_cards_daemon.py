"""Style cards with a real `watch` daemon and real tiny renders: a painting added
to styles_dir gets its card on styles.html by itself; the page opened in Chromium (every
image resolves, a painting named like HTML is text); kill -9 during a card loses nothing and
duplicates nothing."""

import shutil

import pytest

from deepart_batch.core.style_card_names import STYLES_FOLDER, card_photos
from deepart_batch.core.layout import StateLayout
from deepart_batch.daemon.faultpoints import CRASH_EXIT
from deepart_batch.journal import open_reader
from support.boxes import CRASH_AT, Box, stop, wait_for
from support.manifests import DATA, ONE_STYLE
from test_gallery import browser, check_links, open_page  # noqa: F401  (fixture)

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
TINY = {"size": 48, "steps": 3, "log_every": 1}
PHOTOS = [p.stem for p in card_photos()]


def _card_jobs(box):
    try:
        journal = open_reader(StateLayout(box.state).journal)
    except Exception:
        return []
    try:
        return [j for j in journal.all_jobs() if j.campaign == STYLES_FOLDER]
    except Exception:
        return []
    finally:
        journal.close()


def _cards_done(box, n):
    def done():
        jobs = _card_jobs(box)
        return len([j for j in jobs if j.state == "done"]) >= n and \
            not [j for j in jobs if j.state not in ("done", "failed")]
    return done


def _page_settled(box, *names):
    """styles.html names each painting and shows no card still on its way."""
    def settled():
        page = box.outbox / "styles.html"
        text = page.read_text() if page.exists() else ""
        return all(n in text for n in names) and 'data-state="queued"' not in text and \
            'data-state="rendering"' not in text and text
    return settled


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A watch daemon over three paintings (one named like HTML, one broken), then a fourth
    painting copied in while it runs."""
    b = Box(tmp_path_factory.mktemp("cards"), manifest=ONE_STYLE, cards=True, defaults=TINY)
    (b.styles / "starry_night.jpg").unlink()
    shutil.copy(DATA / "starry_night.jpg", b.styles / HOSTILE)
    (b.styles / "broken.png").write_bytes(b"\x89PNG but nothing after it")
    proc = b.start_watch()
    try:
        wait_for(_cards_done(b, 2 * len(PHOTOS)), timeout=300, what="the first cards")
        shutil.copy(DATA / "golden_gate.jpg", b.styles / "added.jpg")   # a new painting
        wait_for(_cards_done(b, 3 * len(PHOTOS)), timeout=300, what="the added card")
        wait_for(_page_settled(b, "added.jpg", "the_scream.jpg", "broken.png"), timeout=60,
                 what="styles.html with every card")
    finally:
        code = stop(proc)
    assert code == 0, b.log.read_text()[-3000:]
    return b


def test_an_added_painting_gets_its_card_on_the_page_by_itself(box):
    names = sorted(p.name for p in (box.outbox / STYLES_FOLDER).glob("*.jpg"))
    stems = ("added", "<img src=x onerror=alert(1)>", "the_scream")
    assert names == sorted(f"{s}.{p}.jpg" for s in stems for p in PHOTOS)
    from PIL import Image
    for name in names:
        with Image.open(box.outbox / STYLES_FOLDER / name) as im:
            assert max(im.size) == 48, name
    page = (box.outbox / "styles.html").read_text()
    assert "added.jpg" in page and "not used by the manifest" in page
    assert "manifest name: scream" in page and 'rules[0] &#34;**&#34;: scream' in page
    assert "broken.png" in page and "cannot be used as a style" in page
    assert HOSTILE not in page   # escaped, never markup


def test_styles_page_in_chromium(box, browser):  # noqa: F811
    page = open_page(browser, box.outbox / "styles.html")
    assert page.locator("section.style").count() == 4
    assert page.locator("article.card[data-state=done]").count() == 3 * len(PHOTOS)
    assert page.locator("article.problem-card").count() == 1
    assert check_links(page, box.outbox) >= 3 * len(PHOTOS) * 2 + 3
    broken = page.eval_on_selector_all("img", "els => els.filter(e => !e.complete || "
                                              "e.naturalWidth === 0).map(e => e.src)")
    assert broken == [] and page.locator("img").count() >= 3 * len(PHOTOS) + 3
    assert page.get_by_text(HOSTILE, exact=True).count() == 1   # the name, as text
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.problems == []
    page.close()
    index = open_page(browser, box.outbox / "index.html")
    index.locator("a.styles-link").click()
    index.wait_for_load_state("load")
    assert index.url.endswith("/styles.html")
    index.close()


@pytest.mark.parametrize("point", ["after_claim_move", "after_publish_image"])
def test_kill_9_during_a_card_loses_and_duplicates_nothing(tmp_path, point):
    box = Box(tmp_path, manifest=ONE_STYLE, cards=True, defaults=TINY)
    (box.styles / "starry_night.jpg").unlink()
    proc = box.start_watch(env={CRASH_AT: point}, log_name="crash.log")
    assert proc.wait(timeout=300) == CRASH_EXIT, box.log.read_text()[-3000:]
    proc = box.start_watch()
    try:
        wait_for(_cards_done(box, len(PHOTOS)), timeout=300, what="the card after the crash")
    finally:
        assert stop(proc) == 0, box.log.read_text()[-3000:]
    names = sorted(p.name for p in (box.outbox / STYLES_FOLDER).glob("*.jpg"))
    assert names == sorted(f"the_scream.{p}.jpg" for p in PHOTOS)   # no .2 copies
    for name in names:
        assert (box.outbox / STYLES_FOLDER / name).with_suffix(".json").is_file()
    jobs = _card_jobs(box)
    assert len(jobs) == len(PHOTOS) and {j.state for j in jobs} == {"done"}
    assert len({j.input_id for j in jobs}) == 1
    assert not (box.state / "done" / STYLES_FOLDER).exists()   # the painting: not archived
    assert not list(box.state.joinpath("work").iterdir())
    assert box.temp_files() == []
