"""Notifications kept in the journal until sent: a notifier that stops with events unsent
(a stop cuts the try to a hung endpoint) leaves them in the journal, and the next one sends
them first, byte for byte, under the same webhook-id; what was delivered, or given up on,
is not kept; an event dropped from a full queue is not kept either. Real journal, real
local receiver."""

import json

from support.boxes import wait_for
from support.http_receiver import HttpReceiver
from deepart_batch.daemon.receivers.event_bodies import build_event, photo_key
from deepart_batch.journal import Journal, open_reader
from deepart_batch.notifications.delivery import Endpoint, RetryPolicy
from deepart_batch.notifications.notifier import JournalDeliveryLog, Notifier
from deepart_batch.notifications.pending import PendingNotices
from deepart_batch.notifications.signing import message_id


def _event(i, kind="done"):
    return build_event(kind, photo=f"c/p{i}.jpg", campaign="c", outputs=[f"c/p{i}.s.jpg"],
                       key=photo_key(i, kind, 0))


def _notifier(path, journal, url, **kw):
    return Notifier([Endpoint("json", "hook", url=url)], policy=RetryPolicy(0, 30),
                    log=JournalDeliveryLog(path), pending=PendingNotices(journal), **kw)


def _kept(path) -> list[str]:
    reader = open_reader(path)
    try:
        return [mid for mid, _ in reader.pending_notices()]
    finally:
        reader.db.close()


def test_events_a_stop_left_unsent_go_first_after_a_restart_with_the_same_id(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    events = [_event(i) for i in range(3)]
    with HttpReceiver() as hung:
        hung.hang.set()
        first = _notifier(path, journal, hung.url)
        for event in events:
            first.emit(event)
        wait_for(lambda: hung.blocked, timeout=30, what="the first try in flight")
        assert first.close(wait=0.5) == 3           # one cut in flight, two queued
    assert _kept(path) == [message_id(e) for e in events]

    with HttpReceiver() as hook:
        second = _notifier(path, journal, hook.url)  # sends what the first one left
        second.emit(_event(9))
        wait_for(lambda: len(hook.raw_requests) == 4, timeout=30, what="four deliveries")
        assert second.close(wait=5) == 0
    sent = [(r.headers["webhook-id"], json.loads(r.raw)) for r in hook.raw_requests]
    assert [mid for mid, _ in sent] == [message_id(e) for e in events + [_event(9)]]
    assert [body for _, body in sent[:3]] == events    # as emitted, not built again
    assert _kept(path) == []
    journal.close()


def test_an_event_dropped_from_a_full_queue_is_not_kept(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    with HttpReceiver() as hook:
        hook.hang.set()
        n = _notifier(path, journal, hook.url, queue_size=2)
        n.emit(_event(0))
        wait_for(lambda: hook.blocked, timeout=30, what="the first try in flight")
        for i in (1, 2, 3):                          # the queue holds two: 1 is dropped
            n.emit(_event(i))
        assert n.dropped == 1
        assert _kept(path) == [message_id(_event(i)) for i in (0, 2, 3)]
        hook.hang.clear()
        hook.release.set()
        wait_for(lambda: _kept(path) == [], timeout=30, what="the rest delivered")
        assert n.close(wait=1) == 1                  # the dropped one
    journal.close()


def test_an_event_given_up_after_its_tries_is_not_kept(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    with HttpReceiver(fail=1000) as refusing:        # every try answers 500
        n = _notifier(path, journal, refusing.url)
        n.emit(_event(0))
        wait_for(lambda: refusing.requests and _kept(path) == [], timeout=30,
                 what="the event given up")
        n.close(wait=1)
    reader = open_reader(path)
    try:
        [entry] = reader.deliveries()
    finally:
        reader.db.close()
    assert entry.status == "failed"                  # `notify log --failed` shows it
    journal.close()
