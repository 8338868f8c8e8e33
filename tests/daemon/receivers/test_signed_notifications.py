"""The daemon's notifications end to end: a canned box renders one photo, holds one whose
painting is missing and refuses a corrupt one, and a local receiver gets each as a Standard
Webhooks message that the independent `standardwebhooks` library verifies, one webhook-id
per event, the same id on a resend of the same event. The delivery log in the journal
records each message; `status` names an endpoint that refuses them."""

from standardwebhooks import Webhook

from support.boxes import Box
from support.boxes import run_in_process
from support.http_receiver import HttpReceiver
from support.manifests import ONE_PAINTING_MISSING
from deepart_batch.core.layout import StateLayout
from deepart_batch.core.webhook_secret import WebhookSecret
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.journal.reader import open_reader
from deepart_batch.notifications.signing import message_id


def test_done_failed_and_held_photos_arrive_signed_with_one_id_per_event(tmp_path):
    secret = WebhookSecret.new().text
    with HttpReceiver(path="/hook") as hook:
        box = Box(tmp_path, manifest=ONE_PAINTING_MISSING, canned=True,
                  notify={"webhook": hook.url, "secret": secret, "timeout_seconds": 5})
        box.drop("tubingen.jpg", "city/ok.jpg")
        box.drop("golden_gate.jpg", "park/waits.jpg")            # its painting is missing
        (box.inbox / "city").mkdir(exist_ok=True)
        (box.inbox / "city" / "broken.jpg").write_bytes(b"\xff\xd8 not a photo at all")
        res = box.run_once()
        assert res.returncode == 1, res.stderr[-3000:]   # one photo failed
        requests = list(hook.raw_requests)

    verified = [Webhook(secret).verify(r.raw, r.headers) for r in requests]
    photos = {e["photo"]: e for e in verified if e.get("photo")}
    assert photos["city/ok.jpg"]["event"] == "done"
    assert photos["city/broken.jpg"]["event"] == "failed"
    assert photos["city/broken.jpg"]["reason"] == "unreadable"
    assert photos["park/waits.jpg"]["event"] == "held"
    assert photos["park/waits.jpg"]["reason"] == "style_missing"
    assert photos["city/ok.jpg"]["styles"] == ["starry"]     # chat lines name the style
    for event in photos.values():
        assert event["key"].startswith("input ") and event["event"] in event["key"]

    ids = {}
    for request, event in zip(requests, verified):
        ids.setdefault(request.headers["webhook-id"], set()).add(event["id"])
    assert all(len(events) == 1 for events in ids.values()), ids   # no id for two events
    assert len(ids) == len(verified)
    for request, event in zip(requests, verified):   # a resend (new event id, same news)
        if event.get("photo"):
            again = build_event(event["event"], photo=event["photo"], key=event["key"],
                                reason=event["reason"], campaign=event["campaign"])
            assert message_id(again) == request.headers["webhook-id"]

    reader = open_reader(StateLayout(box.state).journal)
    try:
        log = reader.deliveries(limit=100)
    finally:
        reader.db.close()
    assert sorted(d.message_id for d in log if d.status == "delivered") == sorted(ids)


def test_status_names_an_endpoint_that_refuses_every_message(tmp_path):
    with HttpReceiver(path="/hook", fail=1000) as hook:      # every request answers 500
        box = Box(tmp_path, canned=True,
                  notify={"webhook": hook.url, "secret": WebhookSecret.new().text,
                          "timeout_seconds": 5, "retries": 0})
        (box.inbox / "broken.jpg").write_bytes(b"not a photo")
        assert box.run_once().returncode == 1
        assert hook.requests >= 1
    info = box.status()
    assert info["notifications"]["counts"]["failed"] >= 1
    [failing] = info["notifications"]["failing"]
    assert "127.0.0.1" in failing["endpoint"] and "500" in failing["last_status"]
    assert "/hook" not in failing["endpoint"]               # a URL's path is never shown
    text = run_in_process(["status", "--config", str(box.config)]).stdout
    [line] = [l for l in text.splitlines() if l.startswith("notifications:")]
    assert "FAILING: " in line and "127.0.0.1" in line, text
