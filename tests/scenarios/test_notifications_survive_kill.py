"""The team's notifications across a kill -9: a real `watch` daemon (canned executor)
announces a photo done, one failed, one held and then released when its painting arrives,
a print of an approved preview (a real render) and style cards. The local receiver is
hung while the second half of those events is queued, so they are pending or in flight
when the daemon is killed with SIGKILL; a restarted daemon sends them.

The receiver verifies EVERY request with the independent `standardwebhooks` library, and
"no duplicate" means: each event (its kind and photo) arrived under exactly one webhook-id,
and each webhook-id carried exactly one event, byte for byte the same body on every try.
The one try in flight at the kill (the receiver hung) is sent again after the restart, with
its id and bytes (receivers drop the repeat); no other request repeats. An event under a
second id, an id carrying two events, or an event missing fails the test."""

import json
import os
import shutil
import signal

from standardwebhooks import Webhook

from support.boxes import CANNED, Box, stop, wait_for
from support.http_receiver import HttpReceiver
from support.manifests import DATA, ONE_PAINTING_MISSING
from deepart_batch.core.layout import StateLayout
from deepart_batch.core.states import InputState
from deepart_batch.core.webhook_secret import WebhookSecret
from deepart_batch.journal.reader import open_reader

PREVIEW = {"size": 64, "steps": 4, "log_every": 1, "print_size": 128}
BEFORE_KILL = {("done", "city/ok.jpg"), ("failed", "city/broken.jpg"),
               ("held", "park/waits.jpg"), ("card_ready", "_styles/starry_night.jpg"),
               ("card_ready", "_styles/the_scream.jpg")}
FINISHED_BEFORE_KILL = {"park/waits.jpg", "_approve/ok.starry.jpg", "_styles/water_lilies.jpg"}
PENDING_AT_KILL = {("released", "park/waits.jpg"), ("done", "park/waits.jpg"),
                   ("print_ready", "_approve/ok.starry.jpg"),
                   ("card_ready", "_styles/water_lilies.jpg")}


def _verified(hook, secret) -> list[tuple[str, bytes, dict]]:
    """(webhook-id, body, event) of every request so far; verify() raises on a bad one."""
    return [(r.headers["webhook-id"], r.raw, Webhook(secret).verify(r.raw, r.headers))
            for r in list(hook.raw_requests)]


def _arrived(hook, secret) -> set[tuple[str, str]]:
    return {(e["event"], e["photo"]) for _, _, e in _verified(hook, secret)}


def _finished(box) -> set[str]:
    """The inputs the journal says are done (photos, approvals, style cards)."""
    reader = open_reader(StateLayout(box.state).journal)
    try:
        return {inp.relpath for inp in reader.inputs_in(InputState.DONE)}
    finally:
        reader.db.close()


def _pending_kinds(box) -> set[tuple[str, str]]:
    """The events the journal keeps for sending: what a kill -9 must not lose."""
    reader = open_reader(StateLayout(box.state).journal)
    try:
        return {(e["event"], e["photo"]) for e in
                (json.loads(body) for _, body in reader.pending_notices())}
    finally:
        reader.db.close()


def test_every_event_arrives_signed_under_one_id_across_a_kill_9(tmp_path):
    secret = WebhookSecret.new().text
    with HttpReceiver(path="/hook") as hook:
        box = Box(tmp_path, manifest=ONE_PAINTING_MISSING, cards=True, defaults=PREVIEW,
                  notify={"webhook": hook.url, "secret": secret, "timeout_seconds": 60,
                          "retries": 0})
        # One real 64 px render, the preview approved below: a canned render (32 px) is
        # too small to print from. Everything after it renders canned.
        box.drop("tubingen.jpg", "city/ok.jpg")
        res = box.cli("run", "--once", "--no-cards", "--config", box.config)
        assert res.returncode == 0, res.stderr[-3000:]
        box.rewrite_config(executor={"kind": CANNED})
        proc = box.start_watch()
        try:
            box.drop("golden_gate.jpg", "park/waits.jpg")       # its painting is missing
            (box.inbox / "city" / "broken.jpg").write_bytes(b"\xff\xd8 not a photo at all")
            wait_for(lambda: BEFORE_KILL <= _arrived(hook, secret), timeout=120,
                     what="done, failed, held and the first style cards")

            hook.hang.set()            # from now on every POST waits: in flight at the kill
            preview = box.outbox / "city" / "ok.starry.jpg"
            shutil.copy(preview, box.outbox / "_approve" / preview.name)
            shutil.copy(DATA / "golden_gate.jpg", box.styles / "water_lilies.jpg")  # arrives
            wait_for(lambda: FINISHED_BEFORE_KILL <= _finished(box) and hook.blocked,
                     timeout=120, what="the release, the print and the card, told to no one")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        in_flight, kept = hook.blocked, _pending_kinds(box)
        requests_before = len(hook.raw_requests)
        in_flight_ids = {r.headers["webhook-id"] for r in hook.raw_requests[-in_flight:]}
        hook.hang.clear()
        hook.release.set()             # the hung tries end (their client is gone)

        proc = box.start_watch(log_name="watch2.log")
        try:
            wait_for(lambda: BEFORE_KILL | PENDING_AT_KILL <= _arrived(hook, secret)
                     and not _pending_kinds(box), timeout=60,
                     what="every event after the restart")
        finally:
            assert stop(proc) == 0
        deliveries = _verified(hook, secret)   # raises if any request does not verify

    assert in_flight >= 1 and PENDING_AT_KILL <= kept   # the kill caught them unsent
    ids_of: dict[tuple[str, str], set[str]] = {}
    bodies_of: dict[str, set[bytes]] = {}
    for msg_id, body, event in deliveries:
        ids_of.setdefault((event["event"], event["photo"]), set()).add(msg_id)
        bodies_of.setdefault(msg_id, set()).add(body)
    assert set(ids_of) >= BEFORE_KILL | PENDING_AT_KILL            # none lost
    assert {k: v for k, v in ids_of.items() if len(v) != 1} == {}  # one id per event
    assert {k: len(v) for k, v in bodies_of.items() if len(v) != 1} == {}  # one event per id
    sent = [msg_id for msg_id, _, _ in deliveries]
    # only a try in flight at the kill comes twice (same id, same bytes), and it does come
    assert {i for i in sent if sent.count(i) > 1} == in_flight_ids
    assert in_flight_ids <= {msg_id for msg_id, _, _ in deliveries[requests_before:]}
    released = next(e for _, _, e in deliveries if e["event"] == "released")
    assert released["reason"] == "style_missing" and "painting" in released["message"]
