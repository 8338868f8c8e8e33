"""Approve to print in the gallery: a print is part of its preview's item, never one more
photo or image; the print says it is one (its size, its own detail steps, its preview), and
the preview's card says where its approval stands, in words."""

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.approvals import approved_box  # noqa: E402
from support.jobs import toy_spec  # noqa: E402
from test_gallery import CHROMIUM_ARGS, browser, check_links, open_page, parse_page  # noqa: E402,F401

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return approved_box(tmp_path_factory.mktemp("prints"))


def text(html: str) -> str:
    """The page's words, tags dropped and spaces joined."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.replace("&middot;", "·")))


def article_of(page: str, image_name: str) -> str:
    """The <article> of the output whose image is `image_name`."""
    for article in page.split("<article")[1:]:
        if f'href="{image_name}"' in article.split("</article>")[0]:
            return article.split("</article>")[0]
    raise AssertionError(f"no article for {image_name}")


def test_a_print_is_counted_as_part_of_its_preview(scene):
    page = (scene.box.outbox / "city" / "index.html").read_text()
    parse_page(page)
    tally = text(page.split('class="tally">')[1].split("</span>")[0]).strip()
    assert tally == "2 photos · 2 rendered · 1 print ready · 1 print refused", tally
    assert page.count("<article") == 4          # two photos, two outputs each
    index = text((scene.box.outbox / "index.html").read_text())
    assert "2 photos · 2 rendered · 1 print ready" in index
    assert "4 of 4 images done" in index, index


def test_the_print_says_it_is_a_print_with_its_own_size_and_steps(scene):
    page = (scene.box.outbox / "city" / "index.html").read_text()
    card = article_of(page, scene.approved.name)
    report = json.loads(scene.printed.with_suffix(".json").read_text())
    steps = sum(s["evaluations"] for s in report["timings"]["scales"])
    words = text(card.split('class="print"')[1].split("</div>")[0])   # the print's block
    assert f"128 px print, {steps} detail step" in words, words
    assert f"above the 64 px preview {scene.approved.name}" in words, words
    assert "64 px, 4 steps" not in words         # never the preview's settings
    assert f'href="{scene.printed.name}"' in card


def test_the_preview_card_says_where_its_approval_stands(scene):
    page = (scene.box.outbox / "city" / "index.html").read_text()
    ready = text(article_of(page, scene.approved.name))
    assert "print ready 128 px" in ready, ready
    refused = text(article_of(page, scene.refused.name))
    assert "approval refused:" in refused and "not the one its report describes" in refused
    assert "Read the note" in refused


def test_a_rebuild_from_the_reports_alone_keeps_the_print_on_its_preview(scene, tmp_path):
    from deepart_batch.gallery.pages import build_gallery
    build_gallery(scene.box.outbox)               # no journal: the reports only
    page = (scene.box.outbox / "city" / "index.html").read_text()
    assert page.count("<article") == 4
    assert "print ready 128 px" in text(article_of(page, scene.approved.name))
    assert "2 photos · 2 rendered · 1 print ready" in text(page)
    build_gallery(scene.box.outbox, scene.box.state)   # the journal's pages again


def test_an_approval_waiting_or_rendering_says_so_in_words(tmp_path):
    """From the journal: approved (with its time) until the print starts, then rendering."""
    import shutil
    from deepart_batch.gallery.pages import GalleryBuild
    from deepart_batch.journal import Journal
    state, outbox = tmp_path / "state", tmp_path / "outbox"
    (outbox / "city").mkdir(parents=True)
    preview = outbox / "city" / "a.s.jpg"
    shutil.copy(DATA / "tubingen.jpg", preview)
    from deepart_batch.report import FileRef, RenderReport
    preview.with_suffix(".json").write_text(json.dumps(RenderReport(
        status="done", input=FileRef("city/a.jpg", "sha"), styles=[], params={"size": 1024},
        weights={}, device="cpu", seed=0, versions={},
        output={"path": "city/a.s.jpg", "width": 1024, "height": 768}).to_dict()))
    journal = Journal(state / "journal.sqlite")
    photo = journal.begin_claim("city/a.jpg", "city", str(tmp_path / "a.jpg"))
    journal.finish_claim(photo, "sha")
    spec = toy_spec(params={"size": 1024, "steps": 300})
    done = journal.add_job(photo, "k", "city", 0, "s", spec, str(preview),
                           str(preview.with_suffix(".json")))
    journal.mark_running(done, "cpu#0", "cpu")
    journal.mark_done(done, 1.0)
    approval = journal.begin_claim("_approve/a.s.jpg", "city", str(tmp_path / "ap.jpg"))
    journal.finish_claim(approval, "sha2")
    from dataclasses import replace
    print_spec = replace(toy_spec(params={"size": 2048, "steps": 300, "look_size": 1024}),
                         look_size=1024)
    job = journal.add_job(approval, "kp", "city", 0, "s-print", print_spec,
                          str(outbox / "city" / "a.s.print.jpg"),
                          str(outbox / "city" / "a.s.print.json"))
    GalleryBuild(outbox, state).run()
    page = (outbox / "city" / "index.html").read_text()
    at = time.strftime("%H:%M", time.localtime(journal.input(approval).received_at))
    words = text(article_of(page, preview.name))
    assert f"approved {at}" in words, words
    assert "2048 px print, detail steps above the 1024 px preview a.s.jpg" in words, words
    assert page.count("<article") == 1 and "1 photo · 1 rendered" in text(page)
    journal.mark_running(job, "cpu#0", "cpu")
    journal.close()
    GalleryBuild(outbox, state).run()
    words = text(article_of((outbox / "city" / "index.html").read_text(), preview.name))
    assert "print rendering" in words and "approved" not in words.split("print rendering")[0]


def test_the_prints_in_chromium(scene, browser):
    page = open_page(browser, scene.box.outbox / "city" / "index.html")
    assert page.locator("article.output").count() == 4
    ready = page.locator("[data-approval='ready']")
    assert ready.count() == 1 and "print ready 128 px" in ready.inner_text()
    assert page.locator("[data-approval='refused']").count() == 1
    assert page.locator("[data-print-state='ready'] img").count() == 1
    check_links(page, scene.box.outbox)
    ready.locator("a").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/city/" + scene.printed.name)
    assert page.problems == []
    page.close()
