"""Deliveries to a real HTTP receiver on 127.0.0.1, checked with the `standardwebhooks`
library (an independent implementation): signed json deliveries verify, a tampered body,
a wrong secret and a stale timestamp are refused; retries keep one webhook-id; chat
endpoints get a handful of batched, unsigned messages; the journal's delivery log records
each outcome without secrets; a full queue drops the oldest events with one warning."""

import json
import socket
import sys
import time

import pytest
from loguru import logger
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from support.boxes import wait_for
from support.http_receiver import HttpReceiver
from deepart_batch.core.states import DeliveryStatus
from deepart_batch.core.webhook_secret import WebhookSecret
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.daemon.schedule.policy import backoff
from deepart_batch.journal import Journal, open_reader
from deepart_batch.notifications.delivery import Endpoint, RetryPolicy
from deepart_batch.notifications.notifier import JournalDeliveryLog, Notifier
from deepart_batch.notifications.signing import signed_headers
from deepart_batch.settings.notify_config import EndpointConfig

SLACK_PATH = "/services/T000/B000/slackTOKENxyz"
FAST = RetryPolicy(retries=3, timeout=5, backoff=lambda n: backoff(n, 0.05))


@pytest.fixture
def secret():
    return WebhookSecret.new()


@pytest.fixture
def captured():
    lines = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink)


def _dead_url(path="/hook"):
    with socket.socket() as s:          # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def _event(i=1, kind="done", campaign="summer"):
    event = build_event(kind, photo=f"{campaign}/p{i:03}.jpg", campaign=campaign,
                        outputs=[f"{campaign}/p{i:03}.starry.jpg"],
                        reason="unreadable" if kind == "failed" else None)
    event["styles"] = ["starry"]
    return event


def _json(url, secret):
    return Endpoint("json", "json test", url=url, secret=secret)


def test_a_signed_delivery_verifies_and_tampering_does_not(secret):
    with HttpReceiver(path="/hook") as hook:
        n = Notifier([_json(hook.url, secret)], policy=FAST)
        n.emit(_event(1, "failed"))
        wait_for(lambda: hook.raw_requests, timeout=30, what="the delivery")
        n.close(wait=2)
    request = hook.raw_requests[0]
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret.text).verify(request.raw, request.headers)["photo"] == "summer/p001.jpg"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret.text).verify(request.raw.replace(b"failed", b"done__"), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(WebhookSecret.new().text).verify(request.raw, request.headers)
    stale = signed_headers(secret, request.headers["webhook-id"], request.raw,
                           now=time.time() - 301)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret.text).verify(request.raw, stale)


def test_retries_keep_one_id_and_the_delivery_log_records_them(tmp_path, secret):
    journal = tmp_path / "state" / "journal.db"
    Journal(journal).close()
    with HttpReceiver(fail=2, path="/hook") as hook:
        n = Notifier([_json(hook.url, secret)], policy=FAST, log=JournalDeliveryLog(journal))
        n.emit(_event(1))
        wait_for(lambda: hook.events, timeout=30, what="the third try to be taken")
        assert n.close(wait=5) == 0
    ids = {r.headers["webhook-id"] for r in hook.raw_requests}
    assert hook.requests == 3 and len(ids) == 1
    for r in hook.raw_requests:              # each try signed afresh, each verifies
        Webhook(secret.text).verify(r.raw, r.headers)
    reader = open_reader(journal)
    try:
        [row] = reader.deliveries()
        assert (row.message_id, row.event, row.attempts, row.status, row.last_status) == \
            (ids.pop(), "done", 3, DeliveryStatus.DELIVERED.value, "HTTP 204")
        assert row.endpoint == "json test"
        assert reader.delivery_counts() == {"delivered": 1, "failed": 0, "cut": 0}
    finally:
        reader.close()


def test_a_dead_endpoint_is_given_up_after_its_tries_and_logged_once(tmp_path, secret,
                                                                     captured):
    journal = tmp_path / "journal.db"
    dead = Endpoint.from_config(EndpointConfig(_dead_url(SLACK_PATH), "slack", "team chat"))
    n = Notifier([dead], policy=RetryPolicy(1, 2, lambda n: 0.05), batch_seconds=0,
                 log=JournalDeliveryLog(journal), log_every=300)
    for i in range(3):
        n.emit(_event(i, campaign=f"c{i}"))
    wait_for(lambda: n.failed == 3, timeout=60, what="three messages given up")
    n.close(wait=1)
    warnings = [l for l in captured if "not delivered after 2 tries" in l]
    assert len(warnings) == 1, captured
    assert "connection refused" in warnings[0]
    rows = open_reader(journal).deliveries()
    assert [(r.attempts, r.status) for r in rows] == [(2, "failed")] * 3
    assert all(r.endpoint.startswith("team chat (slack http://127.0.0.1:") for r in rows)
    everything = "\n".join(captured) + repr([r.to_dict() for r in rows])
    assert "slackTOKENxyz" not in everything and "/services/" not in everything


def test_300_photos_to_slack_and_teams_are_a_handful_of_unsigned_messages(secret):
    with HttpReceiver(path=SLACK_PATH) as slack, HttpReceiver(path="/teams") as teams:
        endpoints = [Endpoint.from_config(EndpointConfig(slack.url, "slack")),
                     Endpoint.from_config(EndpointConfig(teams.url, "teams", secret=secret))]
        n = Notifier(endpoints, policy=FAST, batch_seconds=2, batch_lines=10,
                     gallery_base_url="https://share.example.com/out/")
        for i in range(300):
            n.emit(_event(i, "failed" if i % 10 == 0 else "done",
                          campaign="summer" if i < 200 else "autumn"))
        assert n.close(wait=10) == 0
    assert len(slack.events) == len(teams.events) == 2, (len(slack.events), len(teams.events))
    assert all("webhook-signature" not in r.headers for r in slack.raw_requests +
               teams.raw_requests)
    titles = sorted(m["blocks"][0]["text"]["text"] for m in slack.events)
    assert titles == ["autumn: 100 photos (90 done, 10 failed)",
                      "summer: 200 photos (180 done, 20 failed)"]
    card = teams.events[0]["attachments"][0]["content"]
    assert card["actions"][0]["url"].startswith("https://share.example.com/out/")


def test_a_full_queue_drops_the_oldest_with_one_warning_and_counts(captured):
    with HttpReceiver(path="/hook") as hook:
        hook.hang.set()                       # the first delivery blocks in the endpoint
        n = Notifier([_json(hook.url, None)], policy=FAST, queue_size=3)
        n.emit(_event(0))
        wait_for(lambda: hook.blocked == 1, timeout=30, what="the first delivery to hang")
        for i in range(1, 10):
            n.emit(_event(i))
        assert n.dropped == 6
        assert len([l for l in captured if "the oldest are dropped" in l]) == 1
        hook.hang.clear()
        hook.release.set()
        wait_for(lambda: len(hook.events) == 4, timeout=30, what="the kept events")
        assert n.close(wait=2) == 6           # the dropped ones, said in one line
    assert [e["photo"] for e in hook.events] == ["summer/p000.jpg", "summer/p007.jpg",
                                                  "summer/p008.jpg", "summer/p009.jpg"]
    assert any("6 dropped on a full queue" in l for l in captured)


def test_close_is_bounded_with_a_hanging_endpoint():
    with HttpReceiver(path="/hook") as hook:
        hook.hang.set()
        n = Notifier([_json(hook.url, None)], policy=RetryPolicy(3, 60, lambda n: 1))
        n.emit(_event(0))
        wait_for(lambda: hook.blocked == 1, timeout=30, what="the delivery to hang")
        started = time.monotonic()
        left = n.close(wait=1)
        waited = time.monotonic() - started
    assert waited < 5, waited                 # the try in flight was cut at the budget
    assert left == 1 and n.cut == 1 and n.delivered == 0


def test_a_command_gets_each_event_on_stdin_and_json_endpoints_only_what_they_asked(tmp_path):
    out = tmp_path / "got"
    script = tmp_path / "receive.py"
    script.write_text("import sys, pathlib\n"
                      f"p = pathlib.Path({str(out)!r})\n"
                      "p.write_bytes(p.read_bytes() + sys.stdin.buffer.read() + b'\\n' "
                      "if p.exists() else sys.stdin.buffer.read() + b'\\n')\n")
    with HttpReceiver(path="/hook") as hook:
        n = Notifier([_json(hook.url, None), Endpoint.command([sys.executable, str(script)])],
                     events=["failed", "pass_finished"], policy=FAST)
        n.emit(_event(1, "done"))
        n.emit(_event(2, "failed"))
        n.emit(build_event("pass_finished", counts={"done": 1, "failed": 1}))
        assert n.close(wait=10) == 0
    assert [e["event"] for e in hook.events] == ["failed", "pass_finished"]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in got] == ["failed", "pass_finished"]
    assert Notifier([]).enabled is False
    Notifier([]).emit(_event(3))             # no endpoint: nothing, no thread


def test_a_journal_without_the_delivery_log_reads_as_empty(tmp_path):
    import sqlite3
    path = tmp_path / "journal.db"
    Journal(path).close()
    with sqlite3.connect(path) as db:            # as a journal from before the table
        db.execute("DROP TABLE deliveries")
    reader = open_reader(path)
    try:
        assert reader.deliveries() == []
        assert reader.delivery_counts() == {"delivered": 0, "failed": 0, "cut": 0}
    finally:
        reader.close()
    journal = Journal(path)                      # a daemon's open brings the table back
    journal.close()
    assert open_reader(path).deliveries() == []
