"""Nothing waits forever on notifications: a delivery attempt has a total
deadline, not one per socket read; close() never blocks on a full queue; a stopping daemon
waits on notifications a fixed budget at most and logs, in one line, what it did not deliver.
Real sockets, a real trickling HTTP endpoint and a real `watch` process."""

import signal
import threading
import time

from loguru import logger

from support.boxes import Box, wait_for
from support.http_receiver import HttpReceiver
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.daemon.schedule.policy import backoff
from deepart_batch.notifications.delivery import Endpoint, RetryPolicy
from deepart_batch.notifications.notifier import Notifier


def webhook_notifier(url: str, timeout: float, retries: int, retry_seconds: float = 2.0,
                     **kwargs) -> Notifier:
    """One json webhook, retried on the daemon's backoff from `retry_seconds`."""
    return Notifier([Endpoint("json", "webhook", url=url)],
                    policy=RetryPolicy(retries, timeout, lambda n: backoff(n, retry_seconds)),
                    **kwargs)


def _capture():
    lines = []
    return lines, logger.add(lines.append, level="INFO", format="{message}")


def test_a_trickling_webhook_times_out_at_the_attempt_deadline():
    # every read gets a byte well inside the 1 s timeout
    hook = HttpReceiver(trickle=0.5, path="/hook")
    lines, sink = _capture()
    try:
        n = webhook_notifier(hook.url, timeout=1, retries=0, log_every=0)
        n.emit(build_event("failed", photo="a.jpg", campaign="", reason="unreadable"))
        # the answer takes ~5,000 s to trickle out: only a total deadline ends the attempt
        wait_for(lambda: any("not delivered after 1 tries" in str(l) for l in lines),
                 timeout=60, what="the trickling delivery to give up")
        assert n.delivered == 0 and hook.requests == 1
        n.close(wait=1)
    finally:
        logger.remove(sink)
        hook.close()


def test_close_on_a_full_queue_returns_and_counts_what_was_not_delivered():
    hook = HttpReceiver(trickle=2, path="/hook")
    lines, sink = _capture()
    try:
        n = webhook_notifier(hook.url, timeout=3600, retries=3, queue_size=5)
        for i in range(12):          # the first is in flight, 5 queued, the rest dropped
            n.emit(build_event("failed", photo=f"p{i}.jpg", campaign="", reason="unreadable"))
        wait_for(lambda: hook.requests == 1, timeout=30, what="the first delivery")
        closer = threading.Thread(target=n.close, kwargs={"wait": 1}, daemon=True)
        closer.start()
        closer.join(timeout=30)
        assert not closer.is_alive(), "close() blocked"
        summary = [str(l) for l in lines if "not delivered before exit" in str(l)]
        assert len(summary) == 1, lines
        assert "12 event(s) not delivered" in summary[0], summary
    finally:
        logger.remove(sink)
        hook.close()


def test_sigterm_with_a_full_queue_and_a_trickling_webhook_exits_within_the_budget(tmp_path):
    hook = HttpReceiver(trickle=2, path="/hook")
    box = Box(tmp_path, canned=True,     # a watch process; nothing here reaches a worker
              notify={"webhook": hook.url, "timeout_seconds": 3600, "retries": 0},
              watch={"settle_seconds": 0.2, "rescan_seconds": 1, "poll_interval": 0.2})
    try:
        for i in range(1100):       # each is refused as empty: a failed event per photo
            (box.inbox / f"e{i:04d}.jpg").touch()
        proc = box.start_watch()
        try:
            wait_for(lambda: sum(1 for _ in (box.state / "failed").rglob("*.jpg")) >= 1100,
                     timeout=600, interval=1, what="1,100 refusals")
            proc.send_signal(signal.SIGTERM)
            start = time.monotonic()
            try:
                code = proc.wait(timeout=60)
            except Exception:
                proc.kill()
                raise AssertionError("watch did not exit within 60 s of SIGTERM")
            took = time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log = box.log.read_text()
        assert code == 0, log[-3000:]
        assert took < 20, took
        summary = [l for l in log.splitlines() if "not delivered before exit" in l]
        assert len(summary) == 1 and "event(s) not delivered" in summary[0], log[-3000:]
        assert "Traceback" not in log
    finally:
        hook.close()
