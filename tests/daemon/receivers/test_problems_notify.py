"""The problems folder and team notifications, on real folders, a real local HTTP server
and a real command."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from deepart_batch.daemon.receivers import problems
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.daemon.schedule.policy import backoff
from deepart_batch.notifications.delivery import Endpoint, RetryPolicy
from deepart_batch.notifications.notifier import Notifier
from support.boxes import write_config
from support.http_receiver import HttpReceiver
from support.mounts import read_only_folder

DATA = Path(__file__).resolve().parents[2] / "data"
ODD = "a<b>&'x' \"$(touch PWNED)\"; `id` {detail}.jpg"




def policy(retries=3, timeout=10.0, retry_seconds=2.0) -> RetryPolicy:
    """The daemon's backoff from a first wait of `retry_seconds`."""
    return RetryPolicy(retries, timeout, lambda n: backoff(n, retry_seconds))


def webhook(url: str) -> Endpoint:
    return Endpoint("json", "webhook", url=url)


def Hook(fail=0):
    """A real webhook receiver on 127.0.0.1; `fail` first requests answer 500; `events`:
    (content type, body) pairs in `received`."""
    return HttpReceiver(fail=fail, status=204, path="/hook")


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_problem_entry_is_written_in_plain_words_and_cleared(tmp_path):
    outbox = tmp_path / "outbox"
    (outbox / "city").mkdir(parents=True)
    stale = outbox / "city" / "photo.jpg.error.json"
    stale.write_text("{}")
    text = problems.problem_text("city/photo.jpg", "style_missing",
                                 "/srv/deepart/styles/starry.jpg: No such file", held=True,
                                 reference="job 7")
    note = problems.write_problem(outbox, "_problems", "city/photo.jpg", DATA / "tubingen.jpg",
                                  text)
    assert note == outbox / "_problems/city/photo.jpg.txt"
    assert (outbox / "_problems/city/photo.jpg").read_bytes() == (DATA / "tubingen.jpg").read_bytes()
    body = note.read_text()
    assert "starry.jpg" in body and "/srv" not in body and "renders by itself" in body
    assert problems.list_problems(outbox, "_problems") == ["city/photo.jpg"]
    assert problems.clear_problem(outbox, "_problems", "city/photo.jpg", stale)
    assert not stale.exists() and not (outbox / "_problems/city").exists()
    assert problems.list_problems(outbox, "_problems") == []
    assert not problems.clear_problem(outbox, "_problems", "city/photo.jpg", stale)


def test_problem_entry_never_escapes_the_outbox_and_never_raises(tmp_path):
    outbox, outside = tmp_path / "outbox", tmp_path / "outside"
    outbox.mkdir()
    outside.mkdir()
    os.symlink(outside, outbox / "_problems")
    assert problems.write_problem(outbox, "_problems", "c/p.jpg", None, "x") is None
    assert not any(outside.iterdir())


def test_unwritable_outbox_is_only_a_warning(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only_folder(ro):
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")     # nobody can write here, root included
        assert problems.write_problem(ro, "_problems", "p.jpg", None, "x") is None
        assert not (ro / "_problems").exists()


def test_odd_names_pass_through_problem_text_unchanged(tmp_path):
    outbox = tmp_path / "outbox"
    text = problems.problem_text(f"c/{ODD}", "no_rule", "", held=True)
    problems.write_problem(outbox, "_problems", f"c/{ODD}", DATA / "tubingen.jpg", text)
    note = outbox / "_problems" / "c" / (ODD + ".txt")
    assert f"Photo:   c/{ODD}\n" in note.read_text() and f'"{ODD}"' in note.read_text()
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_webhook_gets_each_event_once_with_plain_fields(hook):
    n = Notifier([webhook(hook.url)], policy=policy(2, 5, 0.05))
    n.emit(build_event("held", photo=f"city/{ODD}", campaign="city", reason="style_missing",
                       detail="/srv/styles/starry.jpg missing", jobs=[3]))
    n.emit(build_event("done", photo="city/b.jpg", campaign="city",
                       outputs=["city/b.starry.jpg"], jobs=[4]))
    n.close(wait=10)
    assert [e["event"] for _, e in hook.received] == ["held", "done"]
    ctype, held = hook.received[0]
    assert ctype.startswith("application/json")
    assert held["photo"] == f"city/{ODD}" and held["campaign"] == "city"
    assert held["reason"] == "style_missing" and held["category"] == "setup"
    assert "starry.jpg" in held["message"] and "/srv" not in json.dumps(held)
    assert hook.received[1][1]["outputs"] == ["city/b.starry.jpg"]
    assert len({e["id"] for _, e in hook.received}) == 2
    assert len({r.headers["webhook-id"] for r in hook.raw_requests}) == 2


def test_webhook_delivery_is_retried_with_backoff():
    h = Hook(fail=2)
    try:
        n = Notifier([webhook(h.url)], policy=policy(3, 5, 0.05))
        n.emit(build_event("failed", photo="a.jpg", campaign="", reason="unreadable"))
        n.close(wait=10)
        assert h.requests == 3 and len(h.received) == 1 and n.delivered == 1
    finally:
        h.close()


def test_a_dead_endpoint_never_blocks_and_is_logged_once_per_period(tmp_path):
    from loguru import logger
    lines = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        # A port that accepts nothing, and a listener that never answers (timeouts).
        import socket
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        n = Notifier([webhook(f"http://127.0.0.1:{silent.getsockname()[1]}/")],
                     policy=policy(1, 0.3, 0.05), log_every=3600)
        start = time.monotonic()
        for i in range(20):
            n.emit(build_event("done", photo=f"p{i}.jpg", campaign=""))
        assert time.monotonic() - start < 0.1       # emit only queues
        time.sleep(1.5)
        n.close(wait=0.2)
        silent.close()
        complaints = [l for l in lines if "notify webhook" in l]
        assert len(complaints) == 1, lines
    finally:
        logger.remove(sink)


def test_command_gets_the_event_on_stdin_never_in_its_arguments(tmp_path):
    out = tmp_path / "got.json"
    script = tmp_path / "receive.py"
    script.write_text("import sys, pathlib\n"
                      f"pathlib.Path({str(out)!r}).write_bytes(sys.stdin.buffer.read())\n"
                      "assert len(sys.argv) == 2\n")
    n = Notifier([Endpoint.command([sys.executable, str(script), "fixed-arg"])],
                 policy=policy(timeout=30))
    n.emit(build_event("failed", photo=ODD, campaign="", reason="unreadable",
                       detail="cannot identify image file"))
    n.close(wait=30)
    event = json.loads(out.read_text())
    assert event["photo"] == ODD and event["reason"] == "unreadable"
    assert f'"{ODD}"' in event["message"]
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_event_filter_and_disabled_notifier(hook):
    n = Notifier([webhook(hook.url)], events=["failed"], policy=policy(retry_seconds=0.05))
    n.emit(build_event("done", photo="a.jpg", campaign=""))
    n.emit(build_event("pass_finished", counts={"done": 2, "failed": 1}))
    n.emit(build_event("failed", photo="a.jpg", campaign="", reason="empty"))
    n.close(wait=10)
    assert [e["event"] for _, e in hook.received] == ["failed"]
    Notifier([]).emit(build_event("done", photo="a.jpg", campaign=""))  # no target: no-op


def test_problems_and_notify_config_are_checked(tmp_path):
    from deepart_batch.settings.config import load_config
    from deepart_batch.errors import ConfigError
    base = {"inbox": "in", "outbox": "out", "state_dir": "state", "styles_dir": "styles",
            "manifest": "m.yaml"}
    path = write_config(tmp_path / "c.yaml", {
        **base, "problems": {"folder": "Problems"},
        "notify": {"webhook": "http://127.0.0.1:9/x", "command": "/bin/mailer --to 'a b'",
                   "events": ["failed", "held"]}})
    config = load_config(path)
    assert config.problems.folder == "Problems" and config.problems.hold_seconds == 30
    assert config.notify.command == ["/bin/mailer", "--to", "a b"]
    assert config.notify.events == ["failed", "held"]
    write_config(path, {**base, "problems": {"folder": "../x"},
                        "notify": {"webhook": "ftp://x", "events": ["sent"], "retries": -1}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    for key in ("problems.folder", "notify.webhook", "notify.events", "notify.retries"):
        assert key in text, text


def test_pass_finished_reads_as_a_sentence():
    event = build_event("pass_finished", counts={"photos_done": 3, "photos_failed": 1})
    assert event["message"] == "Bulk pass finished: 3 photos done, 1 photos failed."
    assert event["counts"] == {"photos_done": 3, "photos_failed": 1} and event["photo"] is None


def test_a_failed_photos_note_and_error_report_are_written_once_the_outbox_is_writable(
        tmp_path):
    """What could not be written for a failed photo while the outbox
    refused writes is written at a later tick, once it takes them again."""
    from deepart_batch.daemon.events import EventBus, PhotoFailed, Tick
    from deepart_batch.daemon.receivers.team import TeamDesk
    from deepart_batch.settings.config import load_config
    from support.boxes import Box

    box = Box(tmp_path)
    desk, bus = TeamDesk(load_config(box.config)), EventBus()
    desk.connect(bus)
    desk.retry_seconds = 0.0
    archived = box.state / "failed/city/a.jpg"
    archived.parent.mkdir(parents=True)
    shutil.copy(DATA / "tubingen.jpg", archived)
    blockers = [box.outbox / "_problems", box.outbox / "city"]   # files where folders go
    for blocker in blockers:
        blocker.write_text("")
    bus.emit(PhotoFailed(photo="city/a.jpg", campaign="city", reason="unreadable",
                         detail="cannot identify image file", archived=archived,
                         time="2026-01-01T00:00:00+00:00"))
    note = box.outbox / "_problems/city/a.jpg.txt"
    error = box.outbox / "city/a.jpg.error.json"
    bus.emit(Tick())                     # still refused: nothing, and no error
    assert bus.errors == 0
    for blocker in blockers:
        blocker.unlink()
    bus.emit(Tick())
    assert "could not be opened" in note.read_text()
    assert (box.outbox / "_problems/city/a.jpg").read_bytes() == archived.read_bytes()
    assert json.loads(error.read_text())["reason"] == "unreadable"
    note.unlink()
    bus.emit(Tick())                     # written once: not again
    assert not note.exists()
