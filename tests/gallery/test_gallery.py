"""The outbox gallery, made by a real `run --once` and opened in a real headless Chromium."""

import json
import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402
from support.tooling import need  # noqa: E402
from support.boxes import write_config
from support.jobs import toy_spec

XSS = "<img src=x onerror=alert(1)>.jpg"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """One bulk pass: a campaign with a normal photo and one with a hostile name, a photo
    at the top of the inbox, and a file that is not an image (it fails)."""
    b = Box(tmp_path_factory.mktemp("gallery"), output={"reports": "subfolder"},
            canned=True)   # the daemon in-process: the pages are the point, not the renders
    b.drop("tubingen.jpg", "city/tubingen.jpg")
    b.drop("golden_gate.jpg", f"city/{XSS}")
    b.drop("golden_gate.jpg", "gg.jpg")
    (b.inbox / "notes.jpg").write_text("not a picture")
    b.result = b.run_once(timeout=900)   # generous: CI boxes may be busy
    assert b.result.returncode == 1, b.result.stderr[-3000:]   # notes.jpg failed
    return b


def output_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".jpg")


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


# -- files and reports -------------------------------------------------------------------


def test_pages_thumbnails_and_reports_layout(box):
    city = box.outbox / "city"
    assert (box.outbox / "index.html").is_file() and (city / "index.html").is_file()
    # output.reports: subfolder -> the folder people browse holds images and the gallery
    visible = sorted(p.name for p in city.iterdir() if p.suffix != ".jpg")
    assert visible == [".gallery", "_reports", "index.html"]
    assert len(output_images(city)) == 4
    reports = sorted((city / "_reports").glob("*.json"))
    assert sorted(r.stem for r in reports) == sorted(p.stem for p in output_images(city))
    # one hidden thumbnail folder per campaign: outputs, originals (and previews), styles
    assert len(list((city / ".gallery").glob("*.jpg"))) >= 4 + 2 + 2
    failed = box.outbox / "_reports" / "notes.jpg.error.json"
    assert json.loads(failed.read_text())["input"] == "notes.jpg"


def test_every_report_has_a_one_sentence_summary(box):
    for path in (box.outbox / "city" / "_reports").glob("*.json"):
        report = json.loads(path.read_text())
        summary = report["summary"]
        photo = Path(report["input"]["path"]).name
        assert summary.startswith(f"{photo} restyled with starry"), summary
        assert summary.count(".") >= 1 and summary.endswith(" on cpu."), summary
        assert "64 px, 4 steps" in summary and "\n" not in summary
        if len(report["styles"]) == 2:
            assert "starry 70% and scream 30%" in summary


def test_pages_are_complete_html_with_states_and_curves(box):
    page = (box.outbox / "city" / "index.html").read_text()
    parsed = parse_page(page)
    assert parsed.states == ["done"] * 4
    assert page.count('<svg class="curve"') == 4          # one loss curve per output
    assert page.count('class="styles"') == 4 and "starry &middot; 70%" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    index = (box.outbox / "index.html").read_text()
    parse_page(index)
    assert 'href="city/index.html"' in index
    assert "notes.jpg" in index and "Failed:</strong> &#34;notes.jpg&#34; could not" in index


def test_hostile_name_is_escaped_text(box):
    page = (box.outbox / "city" / "index.html").read_text()
    assert XSS not in page and "onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in page
    assert 'href="%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.starry.jpg"' in page


def test_gallery_command_rebuilds_from_reports_alone(box, tmp_path):
    """After an upgrade (or with the journal gone): the pages come back from the reports."""
    outbox = tmp_path / "outbox"
    shutil.copytree(box.outbox, outbox)
    for page in outbox.rglob("index.html"):
        page.unlink()
    shutil.rmtree(outbox / "city" / ".gallery")
    config = dict(box.config_dict)
    config.update(outbox=str(outbox), state_dir=str(tmp_path / "state"),
                  inbox=str(box.inbox), styles_dir=str(box.styles), manifest=str(box.manifest))
    write_config(tmp_path / "config.yaml", config)
    res = box.cli("gallery", "--config", tmp_path / "config.yaml")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(outbox / "index.html")
    page = (outbox / "city" / "index.html").read_text()
    assert parse_page(page).states == ["done"] * 4
    assert page.count('<svg class="curve"') == 4
    assert list((outbox / "city" / ".gallery").glob("*.jpg"))


def test_contact_sheet_from_outbox(box, tmp_path):
    from PIL import Image
    res = box.cli("contact-sheet", "--config", box.config, "--campaign", "city",
                  "--cell", "64", "-o", tmp_path / "city.png")
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "city.png") as im:
        assert sorted(json.loads(im.text["deepart:rows"])) == [f"city/{XSS}", "city/tubingen.jpg"]
        assert json.loads(im.text["deepart:columns"]) == ["starry", "starry 70% + scream 30%"]
        assert im.size == (12 + 3 * (64 + 12), 12 + 3 * (64 + 20 + 12))


# -- in Chromium ------------------------------------------------------------------------


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


def test_campaign_page_in_chromium(box, browser, tmp_path):
    from PIL import Image, ImageStat
    city = box.outbox / "city"
    page = open_page(browser, city / "index.html")
    assert page.locator("article.output").count() == len(output_images(city)) == 4
    assert page.locator("article.output svg.curve").count() == 4
    assert page.locator("article.output svg.curve polyline").count() >= 4
    assert check_links(page, box.outbox) >= 4 * 2 + 2 * 2
    # the hostile name is text: no element from it, no script ran, no dialog opened
    assert page.locator("img[src='x']").count() == 0
    assert page.get_by_text(XSS, exact=True).count() == 1
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    shot = tmp_path / "city.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as im:
        stat = ImageStat.Stat(im.convert("L"))
        assert stat.stddev[0] > 20 and len(im.convert("RGB").getcolors(1 << 24)) > 1000
    assert page.problems == []
    page.close()


def test_index_page_in_chromium(box, browser):
    page = open_page(browser, box.outbox / "index.html")
    assert page.locator("li.campaign").count() == 1
    assert page.locator("article.output").count() == 1 == len(output_images(box.outbox))
    check_links(page, box.outbox)
    failed = page.locator("p.problem.failed")
    assert failed.count() == 1 and "notes.jpg" in page.inner_text("main")
    page.locator("li.campaign a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/city/index.html")
    assert page.problems == []
    page.close()


# -- the writer in the daemon -----------------------------------------------------------


def test_gallery_never_half_written_while_rendering(tmp_path):
    """Read and parse the pages in a loop while a daemon renders: always whole, and they
    show the renders in progress, then done."""
    import time
    from support.boxes import stop, wait_for
    b = Box(tmp_path, defaults={"size": 64, "steps": 8, "log_every": 1})
    proc = b.start_watch()
    try:
        b.drop("tubingen.jpg", "city/a.jpg")    # two outputs, one after the other
        page, seen, reads = b.outbox / "city" / "index.html", set(), 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.02)
            for path in (page, b.outbox / "index.html"):
                if path.exists():
                    states = parse_page(path.read_text()).states
                    reads += 1
                    if path == page:
                        seen.update(states)
                        if states == ["done"] * 2:
                            break
            else:
                continue
            break
        assert states == ["done"] * 2, (states, b.log.read_text()[-3000:])
        assert "rendering" in seen and reads > 20, (seen, reads)
    finally:
        assert stop(proc) == 0
    assert not b.temp_files()
    assert "not updated" not in b.log.read_text()


def test_writer_failure_is_logged_never_raised(tmp_path):
    from deepart_batch.settings.config import load_config
    from deepart_batch.gallery.writer import GalleryWriter
    b = Box(tmp_path)
    (b.outbox / "index.html").mkdir()           # the page cannot be written there
    writer = GalleryWriter(load_config(b.config), min_interval=0.05)
    assert writer.rebuild() is False
    writer.start()
    writer.close()
    assert (b.outbox / "index.html").is_dir()


def test_gallery_false_writes_nothing(tmp_path):
    from deepart_batch.settings.config import load_config
    from deepart_batch.gallery.writer import GalleryWriter
    b = Box(tmp_path, gallery=False)
    config = load_config(b.config)
    assert config.gallery is False and load_config(Box(tmp_path / "b").config).gallery is True
    writer = GalleryWriter(config)
    writer.start()
    writer.close()
    assert not (b.outbox / "index.html").exists()


@pytest.mark.parametrize("override, message", [
    ({"gallery": "yes"}, "gallery: 'yes' is not allowed; use true or false"),
    ({"output": {"reports": "aside"}}, "output.reports: 'aside' is not allowed"),
])
def test_config_checks_gallery_settings(tmp_path, override, message):
    from deepart_batch.settings.config import load_config
    from deepart_batch.errors import ConfigError
    b = Box(tmp_path, **override)
    with pytest.raises(ConfigError) as err:
        load_config(b.config)
    assert f"{b.config}: {message}" in str(err.value)


def test_gallery_modules_do_not_import_torch():
    import subprocess
    code = ("import sys; import deepart_batch.gallery.pages, deepart_batch.gallery.writer, "
            "deepart_batch.gallery.contact_sheet; print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr


# -- states from the journal, curves ------------------------------------------------------


def test_states_and_messages_from_the_journal(tmp_path):
    """What is on its way comes from the daemon's journal: rendering with its step, held
    (queued again after a crash, or waiting in the inbox for a valid manifest), failed."""
    from deepart_batch.journal import Journal
    from deepart_batch.gallery.pages import GalleryBuild
    state, outbox = tmp_path / "state", tmp_path / "outbox"
    journal = Journal(state / "journal.sqlite")
    spec = toy_spec(styles=[("starry", "/styles/starry.jpg", 1.0)],
                    params={"size": 512, "steps": 300, "preserve_color": "luminance"})
    input_id = journal.begin_claim("city/a.jpg", "city", str(tmp_path / "work" / "a.jpg"))
    journal.finish_claim(input_id, "sha")
    ids = [journal.add_job(input_id, f"k{i}", "city", 0, f"s{i}", spec,
                           str(outbox / f"city/a.s{i}.jpg"), str(outbox / f"city/a.s{i}.json"))
           for i in range(3)]
    for job_id in ids:
        journal.mark_running(job_id, "cpu#0", "cpu")
    journal.set_progress(ids[0], {"step": 120, "total": 300, "loss": 1.0})
    journal.requeue(ids[1], "crashed", "worker cpu#0 died (signal 9)")
    journal.mark_failed(ids[2], "oom", "out of memory at 512 px; lower size in the manifest")
    journal.close()
    GalleryBuild(outbox, state).run(held={"city/b.jpg": "waiting until manifest.yaml is valid"})
    page = (outbox / "city" / "index.html").read_text()
    assert parse_page(page).states == ["rendering", "held", "failed"]
    assert '<progress max="300" value="120">' in page and "step 120 of 300 (40%)" in page
    assert "waiting to try again (crashed): worker cpu#0 died (signal 9)" in page
    assert "Use a smaller size for this folder in the manifest" in page   # the note's words
    assert "out of memory at 512 px; lower size in the manifest" in page  # under Details
    assert "Held:</strong> The manifest has a mistake" in page
    assert "waiting until manifest.yaml is valid" in page
    assert "512 px, 300 steps, the photo&#39;s colours kept" in page
    assert '<meta http-equiv="refresh"' not in page   # no daemon holds the state_dir
    (state / "daemon.lock").write_text(f"{os.getpid()} daemon\n")
    GalleryBuild(outbox, state).run(held={"city/b.jpg": "waiting until manifest.yaml is valid"})
    page = (outbox / "city" / "index.html").read_text()
    assert '<meta http-equiv="refresh" content="5">' in page   # live while work is pending


def test_loss_curve_points_and_scale_marks():
    from deepart_batch.gallery.curve import HEIGHT, PAD, WIDTH, loss_curve
    trace = [{"step": s, "total": 10.0 ** (6 - s / 10), "scale": (s - 1) // 10} for s in range(1, 31)]
    curve = loss_curve(trace + [{"step": 31, "total": float("nan"), "scale": 2}])
    assert [len(seg.split()) for seg in curve.segments] == [10, 10, 10]
    points = [tuple(map(float, p.split(","))) for p in " ".join(curve.segments).split()]
    assert len(points) == 30 and curve.steps == 30 and curve.first == trace[0]["total"]
    assert points[0] == (PAD, PAD) and points[-1] == (WIDTH - PAD, HEIGHT - PAD)
    assert len(curve.scale_marks) == 2                     # 3 scales, 2 changes
    assert loss_curve(trace[:1]) is None and loss_curve([]) is None
