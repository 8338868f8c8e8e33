"""One preview followed on its own card in a real headless Chromium, while a real daemon
(`watch`, canned renders at the job's size) takes it from done to approved to print
rendering to print ready: the card says each stage in words, the ready print's link opens
the print, and the campaign counts stay those of the photos dropped."""

import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.boxes import Box, wait_for, watch_in_process  # noqa: E402
from support.canned import at_job_size, slow  # noqa: E402
from test_gallery import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from support.tooling import need  # noqa: E402

MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    outputs: [{style: starry}]
"""
PREVIEW = {"size": 64, "steps": 4, "log_every": 1, "print_size": 384}   # a print wider than its card
STAGE_SECONDS = 120    # generous: a loaded box


def _card(page, image_name: str) -> str:
    """The words of the card (<article>) whose image link is `image_name`, read from the
    page as Chromium rendered it."""
    return page.evaluate(
        """name => { for (const a of document.querySelectorAll('article')) {
               if (a.querySelector(`a[href="${name}"]`)) return a.innerText; }
             return ''; }""", image_name)


def _tally(page) -> str:
    return page.locator(".tally").first.inner_text()


def _follow(page, index: Path, condition, what: str):
    """Reload the page until `condition(page)` is true (the daemon rewrites it)."""
    import time
    deadline = time.monotonic() + STAGE_SECONDS
    while time.monotonic() < deadline:
        if index.exists():
            page.goto(index.as_uri())
            page.wait_for_load_state("load")
            value = condition(page)
            if value:
                return value
        time.sleep(0.2)
    raise AssertionError(f"the page never said {what}; last: {page.content()[-3000:]}")


def _wait_running(box: Box, photo: str) -> None:
    from deepart_batch.daemon.admin.status import collect
    from deepart_batch.settings.config import load_config
    config = load_config(box.config)
    wait_for(lambda: any(r["input"] == photo for r in collect(config)["running"]),
             timeout=STAGE_SECONDS, what=f"{photo} rendering")


def _scenario(box: Box, preview: str, printed: str, seen: dict) -> bool:
    """Runs in the watcher's helper thread with its own Chromium (playwright objects stay
    in the thread that made them)."""
    from playwright import sync_api
    index = box.outbox / "city" / "index.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        try:
            seen["done"] = _follow(page, index, lambda p: (
                "2 rendered" in _tally(p) and _card(p, preview)), "done")
            seen["tally_done"] = _tally(page)
            # the only slot is kept busy by another campaign's photo: the print waits
            box.drop("the_scream.jpg", "other/c.jpg")   # bytes of its own: not a duplicate
            _wait_running(box, "other/c.jpg")
            shutil.copy(box.outbox / "city" / preview, box.outbox / "_approve" / preview)
            seen["approved"] = _follow(page, index, lambda p: (
                "approved" in _card(p, preview) and _card(p, preview)), "approved HH:MM")
            seen["tally_approved"] = _tally(page)
            seen["rendering"] = _follow(page, index, lambda p: (
                "print rendering" in _card(p, preview) and _card(p, preview)),
                "print rendering")
            seen["tally_rendering"] = _tally(page)
            seen["ready"] = _follow(page, index, lambda p: (
                "print ready" in _card(p, preview) and _card(p, preview)), "print ready")
            seen["tally_ready"] = _tally(page)
            seen["print_overflow"] = page.evaluate(   # the print's picture stays in its card
                """name => { const img = document.querySelector(`.print a[href="${name}"] img`);
                       if (!img) return 'no picture';
                       const card = img.closest('article').getBoundingClientRect();
                       const box = img.getBoundingClientRect();
                       return box.right <= card.right && box.left >= card.left ? 0 :
                              box.right - card.right; }""", printed)
            href = page.evaluate(
                """name => { for (const a of document.querySelectorAll('article a')) {
                       if (a.getAttribute('href') === name) return a.href; } return ''; }""",
                printed)
            seen["print_link"] = href
            page.goto(href)
            seen["print_width"] = page.evaluate(
                "() => document.images.length ? document.images[0].naturalWidth : 0")
            seen["problems"] = problems
        finally:
            browser.close()
    return True


def test_one_preview_on_its_card_from_done_to_print_ready(tmp_path):
    import importlib.util
    need(importlib.util.find_spec("playwright") is not None,
         "playwright not installed (pip install -e '.[dev]')")
    need(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium; .ci/run does)")
    box = Box(tmp_path, manifest=MANIFEST, canned=True, defaults=PREVIEW)
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "city/b.jpg")
    preview, printed = "a.starry.jpg", "a.starry.print.jpg"
    seen: dict = {}
    # the other campaign's photo renders for a while, then the print does
    with at_job_size(), slow("other/", 6.0), slow("city/a.jpg", 4.0):
        watch_in_process(box, lambda: _scenario(box, preview, printed, seen),
                         timeout=6 * STAGE_SECONDS)
    assert "approved" not in seen["done"] and "print" not in seen["done"], seen["done"]
    assert re.search(r"\bapproved \d\d:\d\d\b", seen["approved"]), seen["approved"]
    assert "print rendering" in seen["rendering"], seen["rendering"]
    assert re.search(r"\bprint ready 384 px\b", seen["ready"]), seen["ready"]
    link = Path(unquote(urlparse(seen["print_link"]).path))
    assert link == box.outbox / "city" / printed and link.is_file(), seen["print_link"]
    assert seen["print_width"] == 384, seen
    assert seen["print_overflow"] == 0, seen["print_overflow"]
    for stage in ("done", "approved", "rendering", "ready"):   # photos, never files
        tally = seen[f"tally_{stage}"]
        assert tally.startswith("2 photos · 2 rendered"), (stage, tally)
        assert "3 photos" not in tally and "3 rendered" not in tally, (stage, tally)
    assert seen["problems"] == []
