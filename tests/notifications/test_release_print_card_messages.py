"""The released, print ready and card ready notifications: one readable line each for chat
(photo or painting, campaign, style, state, the reason in words), Slack and Teams bodies
that pass the schemas those services document, the styles page as a card's gallery link,
and a webhook-id that comes from the journal's identity, not from when it was built."""

import json

import jsonschema
import pytest

from conftest import DATA
from deepart_batch.daemon.receivers.event_bodies import build_event, photo_key
from deepart_batch.notifications.batching import Batch, Batcher
from deepart_batch.notifications.formats import slack_payload, teams_payload
from deepart_batch.notifications.signing import message_id
from deepart_batch.notifications.text import one_line

BASE_URL = "https://share.example.com/deepart/outbox/"


def _schema(name):
    return json.loads((DATA / "notify" / f"{name}_incoming_webhook.schema.json").read_text())


def released(i=1):
    return build_event("released", photo=f"summer/photo{i}.jpg", campaign="summer",
                       reason="style_missing", styles=["lilies"],
                       key=photo_key(7 + i, "released", 2))


def print_ready():
    return build_event("print_ready", photo="_approve/photo1.starry.jpg", campaign="_approve",
                       outputs=["summer/photo1.starry.print.jpg"], styles=["starry-print"],
                       key=photo_key(20, "print_ready", 0))


def card_ready():
    return build_event("card_ready", photo="_styles/lilies.jpg", campaign="_styles",
                       outputs=["_styles/lilies.tubingen.jpg", "_styles/lilies.golden_gate.jpg"],
                       styles=["card-tubingen", "card-golden_gate"],
                       key=photo_key(21, "card_ready", 0))


def test_each_has_one_readable_line():
    assert one_line(released()) == ('photo1.jpg · summer · lilies · released: "photo1.jpg" no '
                                    "longer waits (its painting is there now): it is "
                                    "rendered now.")
    assert one_line(print_ready()) == ("photo1.starry.jpg · _approve · starry-print · print "
                                       "ready: 1 picture in the outbox")
    assert one_line(card_ready()).startswith("lilies.jpg · _styles · card-tubingen, "
                                             "card-golden_gate · card ready: 2 pictures")


def test_the_json_body_says_what_happened_in_words():
    event = released()
    assert (event["event"], event["reason"], event["category"]) == \
        ("released", "style_missing", "setup")
    assert "painting is there now" in event["message"]
    assert "print" in print_ready()["message"] and "style card" in card_ready()["message"]
    assert all(e["key"].startswith("input ") for e in (released(), print_ready(), card_ready()))


def test_the_id_is_the_journal_identity_not_the_moment():
    first, again = released(), released()
    assert first["id"] != again["id"]                    # built twice (a resend)...
    assert message_id(first) == message_id(again)        # ...one webhook-id
    assert len({message_id(e) for e in (released(1), released(2), print_ready(),
                                        card_ready())}) == 4


@pytest.mark.parametrize("make", [slack_payload, teams_payload], ids=["slack", "teams"])
@pytest.mark.parametrize("event", [released, print_ready, card_ready],
                         ids=["released", "print_ready", "card_ready"])
def test_chat_bodies_pass_the_services_schemas(make, event):
    fmt = "slack" if make is slack_payload else "teams"
    e = event()
    payload = make(Batch(e["campaign"], [e]), BASE_URL)
    jsonschema.validate(payload, _schema(fmt))
    link = BASE_URL + ("styles.html" if e["campaign"] == "_styles"
                       else f"{e['campaign']}/index.html")
    assert link in json.dumps(payload)


def test_they_are_batched_per_campaign_with_the_other_photo_events():
    batcher = Batcher(window=0)
    for event in (released(1), released(2), build_event("done", photo="summer/photo3.jpg",
                                                        campaign="summer")):
        batcher.add(event)
    [batch] = batcher.due(flush=True)
    assert batch.title() == "summer: 3 photos (1 done, 2 released)"
