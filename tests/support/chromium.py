"""Opening the gallery's pages in a real headless Chromium (Playwright), and checking them.

The tests of every page that a person reads use these: the pages must be complete HTML,
every link relative and resolving inside the outbox, and no console error.
"""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from .tooling import need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class Checked(HTMLParser):
    """Parses a page and notes whether every element it opened was closed again."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source", "line", "polyline"}

    def __init__(self):
        super().__init__()
        self.stack, self.states, self.ok = [], [], True

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        state = dict(attrs).get("data-state")
        if state:
            self.states.append(state)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.ok = False


def parse_page(text: str) -> Checked:
    parser = Checked()
    parser.feed(text)
    parser.close()
    assert parser.ok and not parser.stack and text.rstrip().endswith("</html>"), text[-300:]
    return parser


@pytest.fixture(scope="module")
def browser():
    import importlib.util
    need(importlib.util.find_spec("playwright") is not None,
         "playwright not installed (pip install -e '.[dev]')")
    need(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium; .ci/run does)")
    from playwright import sync_api
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(f"failed: {r.url}"))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def check_links(page, folder: Path) -> int:
    urls = page.eval_on_selector_all(
        "img, a", "els => els.map(e => e.tagName === 'IMG' ? e.src : e.href)")
    for url in urls:
        parsed = urlparse(url)
        assert parsed.scheme == "file", url    # relative links only: nothing leaves the share
        target = Path(unquote(parsed.path))
        assert target.is_file(), url
        assert folder == target.parent or folder in target.parents, url
    broken = page.eval_on_selector_all("img", "els => els.filter(e => !e.complete || "
                                              "e.naturalWidth === 0).map(e => e.src)")
    assert broken == []
    return len(urls)
