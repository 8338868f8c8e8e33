"""Chat bodies: Slack and Teams messages checked against the shape each service documents
(tests/data/notify/*.schema.json), one readable line per event, a link to the campaign's
gallery page, and a drop of 300 photos batched into a handful of messages."""

import json

import jsonschema
import pytest

from conftest import DATA
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.notifications.batching import Batch, Batcher
from deepart_batch.notifications.formats import chat_body, slack_payload, teams_payload
from deepart_batch.notifications.text import gallery_link, one_line

SCHEMAS = DATA / "notify"
BASE_URL = "https://share.example.com/deepart/outbox/"
TEAMS_MAX_BYTES = 28 * 1024      # Teams refuses larger messages


def _schema(name):
    return json.loads((SCHEMAS / f"{name}_incoming_webhook.schema.json").read_text())


def _photo(i, kind="done", campaign="summer sale", **extra):
    event = build_event(kind, photo=f"{campaign}/photo{i:03}.jpg", campaign=campaign,
                        outputs=[f"{campaign}/photo{i:03}.starry.jpg"] if kind == "done" else [],
                        reason="unreadable" if kind == "failed" else
                        ("style_missing" if kind == "held" else None),
                        detail="starry.jpg" if kind == "held" else "")
    event["styles"] = ["starry"]
    event.update(extra)
    return event


def _drop(n=300):
    kinds = ["done"] * 8 + ["failed", "held"]
    return [_photo(i, kinds[i % len(kinds)]) for i in range(n)]


def test_one_line_says_photo_campaign_style_state_and_reason():
    line = one_line(_photo(1, "failed"))
    assert line.startswith("photo001.jpg · summer sale · starry · failed: ")
    assert line.endswith('"photo001.jpg" could not be opened as an image (no details).'), line
    assert one_line(_photo(2)) == ("photo002.jpg · summer sale · starry · done: 1 picture in "
                                   "the outbox")
    odd = one_line(_photo(3, "failed", message="two\nlines\r\nhere"))
    assert "\n" not in odd and "\r" not in odd


def test_the_gallery_link_is_the_campaigns_page_under_base_url():
    assert gallery_link(None, "summer") is None
    assert gallery_link(BASE_URL, "summer sale") == BASE_URL + "summer%20sale/index.html"
    assert gallery_link(BASE_URL.rstrip("/"), "") == BASE_URL + "index.html"


@pytest.mark.parametrize("fmt, make", [("slack", slack_payload), ("teams", teams_payload)])
@pytest.mark.parametrize("events", [[_photo(1, "failed")], _drop(300)],
                         ids=["one event", "300 photos"])
def test_chat_bodies_match_the_documented_schema(fmt, make, events):
    batch = Batch("summer sale", events)
    payload = make(batch, BASE_URL)
    jsonschema.validate(payload, _schema(fmt))
    body = chat_body(fmt, batch, BASE_URL)
    assert json.loads(body) == payload
    if fmt == "teams":
        assert len(body) < TEAMS_MAX_BYTES
    text = json.dumps(payload)
    assert BASE_URL + "summer%20sale/index.html" in text
    assert len(events) == 1 or "and 285 more" in text    # 15 lines shown, the rest counted


def test_long_lines_are_split_over_sections_never_cut():
    events = [_photo(i, "failed", message="x" * 250) for i in range(40)]
    payload = slack_payload(Batch("c", events, lines=40))
    jsonschema.validate(payload, _schema("slack"))
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert len(sections) > 1
    assert "\n".join(sections).count("• ") == 40


def test_the_schemas_do_refuse_what_the_services_refuse():
    good = slack_payload(Batch("c", [_photo(1)]))
    too_long = json.loads(json.dumps(good))
    too_long["blocks"][1]["text"]["text"] = "x" * 3001
    no_text = {k: v for k, v in good.items() if k != "text"}
    for bad in (too_long, no_text):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, _schema("slack"))
    card = teams_payload(Batch("c", [_photo(1)]))
    card["attachments"][0]["contentType"] = "application/json"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(card, _schema("teams"))


def test_slack_text_has_a_fallback_and_no_markup_from_names():
    payload = slack_payload(Batch("c", [_photo(1, "failed", photo="c/<!channel> & co.jpg")]))
    assert payload["text"].startswith("summer sale: 1 photo (1 failed): ")
    text = json.dumps(payload)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co.jpg" in text


def test_without_base_url_there_is_no_link():
    assert "actions" not in teams_payload(Batch("c", [_photo(1)]))["attachments"][0]["content"]
    assert all(b["type"] != "actions" for b in slack_payload(Batch("c", [_photo(1)]))["blocks"])


def test_a_drop_of_300_photos_in_two_campaigns_is_two_messages():
    now = [0.0]
    batcher = Batcher(window=10, lines=15, clock=lambda: now[0])
    for i, event in enumerate(_drop(300)):
        if i % 2:
            event["campaign"] = "autumn"
        batcher.add(event)
        now[0] += 0.01                      # all 300 within the window
    assert batcher.due() == [] and batcher.next_due() == pytest.approx(7.0)
    now[0] += 10
    batches = batcher.due()
    assert sorted((b.campaign, len(b.events)) for b in batches) == [("autumn", 150),
                                                                     ("summer sale", 150)]
    assert len(batcher) == 0 and batcher.next_due() is None


def test_a_batch_that_is_not_about_photos_goes_at_once_and_alone():
    batcher = Batcher(window=60)
    batcher.add(_photo(1))
    batcher.add(build_event("pass_finished", counts={"done": 3, "failed": 1}))
    ready = batcher.due()
    assert [b.events[0]["event"] for b in ready] == ["pass_finished"]
    assert ready[0].title().startswith("Bulk pass finished")
    assert [len(b.events) for b in batcher.due(flush=True)] == [1]


def test_a_batch_id_is_the_same_for_the_same_events():
    events = _drop(20)
    assert Batch("c", events).id == Batch("c", list(reversed(events))).id
    assert Batch("c", events).id != Batch("c", events[:19]).id
    assert Batch("c", events[:1]).id.startswith("msg_")
