"""Telling the team: a JSON event per photo done, failed or held, and per bulk pass.

Delivered to a webhook (HTTP POST, application/json) and/or a command that reads the same
JSON on stdin (for mail or chat), from one background thread: the render loop only puts
events on a queue, so a slow or dead endpoint never blocks or slows rendering. Each
delivery is retried with backoff; each attempt has a total deadline (`timeout_seconds`),
not one per socket read, so an endpoint that trickles its answer cannot hold it. A broken
endpoint is logged once per period, not on every event. Events carry an `id`, so a receiver
can drop the rare repeat (a POST that timed out after it arrived).

Stopping never waits on notifications longer than SHUTDOWN_BUDGET: `close` never blocks on
the queue, cuts the attempt in flight at the budget, and logs in one line how many events
were not delivered.
"""

from __future__ import annotations

import http.client
import json
import queue
import shlex
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath

from loguru import logger

from ...core.states import NOTICES, DaemonEvent, FailureReason, message, plain
from ..schedule.policy import backoff

SCHEMA_VERSION = 1
SHUTDOWN_BUDGET = 10.0   # the most seconds a stop waits on notifications, whatever is asked


def build_event(kind: DaemonEvent | str, *, photo: str | None = None, campaign: str | None = None,
                outputs: list[str] | tuple = (), reason=None, detail: str = "",
                counts: dict | None = None, jobs: list[int] | tuple = ()) -> dict:
    """One event as the team's tools receive it: names as dropped, outputs relative to the
    outbox, a plain-language message; no server paths."""
    kind = DaemonEvent(kind)
    if kind not in NOTICES:
        raise ValueError(f"{kind} is not something the team is notified of")
    name = PurePosixPath(photo).name if photo else ""
    event = {"schema": SCHEMA_VERSION, "event": kind.value, "id": uuid.uuid4().hex,
             "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "box": socket.gethostname(), "campaign": campaign, "photo": photo,
             "outputs": list(outputs), "jobs": list(jobs), "reason": None, "category": None,
             "message": "", "todo": ""}
    if kind in (DaemonEvent.PHOTO_FAILED, DaemonEvent.PHOTO_HELD):
        reason = FailureReason.parse(reason)
        event["reason"], event["category"] = reason.value, reason.category.value
        event["message"], event["todo"] = message(reason, name, detail)
    elif kind in (DaemonEvent.FOLDER_MISSING, DaemonEvent.FOLDER_BACK):
        missing = kind is DaemonEvent.FOLDER_MISSING
        event["reason"] = FailureReason.FOLDER_MISSING.value if missing else None
        event["category"] = FailureReason.FOLDER_MISSING.category.value if missing else None
        event["message"] = (f"A folder of the render box cannot be reached ({plain(detail)}): "
                            "nothing is published until it is back." if missing else
                            f"The folder is back ({plain(detail)}): work goes on by itself.")
        event["todo"] = message(FailureReason.FOLDER_MISSING, "", detail)[1] if missing else ""
    elif kind is DaemonEvent.PHOTO_DONE:
        event["message"] = f'"{name}" is ready: {len(event["outputs"])} picture(s) in the outbox.'
    else:
        counts = dict(counts or {})
        event["counts"] = counts
        event["message"] = "Bulk pass finished: " + ", ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) + "."
    return event


@dataclass
class _Target:
    name: str
    failures_unlogged: int = 0
    last_logged: float = field(default=-1e18)


class TeamNotifier:
    """Queue + one delivery thread. `emit` never blocks; `close` waits a bounded moment."""

    def __init__(self, webhook: str | None = None, command=None, events=None,
                 timeout: float = 10.0, retries: int = 3, retry_seconds: float = 2.0,
                 log_every: float = 300.0, queue_size: int = 1000):
        self.webhook = webhook
        self.command = shlex.split(command) if isinstance(command, str) else \
            (list(command) if command else None)
        self.events = {DaemonEvent(e) for e in events} & NOTICES if events else set(NOTICES)
        self.timeout, self.retries, self.retry_seconds = timeout, retries, retry_seconds
        self.log_every = log_every
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._targets = {"webhook": _Target("webhook"), "command": _Target("command"),
                         "queue": _Target("queue")}
        self._wake = threading.Event()        # close() was called: re-read _stop_by
        self._stop_by = float("inf")          # monotonic time the thread must be done by
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._abort = None                    # cuts the attempt in flight (socket/process)
        self._in_flight = 0
        self.delivered = 0
        self.dropped = 0                      # not queued: the queue was full

    @classmethod
    def from_config(cls, cfg) -> "TeamNotifier":
        return cls(cfg.webhook, cfg.command, cfg.events, cfg.timeout_seconds, cfg.retries,
                   cfg.retry_seconds, cfg.log_every_seconds)

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or self.command)

    def emit(self, event: dict) -> None:
        if not self.enabled or DaemonEvent(event["event"]) not in self.events:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            self._complain(self._targets["queue"], "queue full: notifications are being "
                                                   "dropped (is the endpoint down?)")

    def close(self, wait: float = SHUTDOWN_BUDGET) -> int:
        """Deliver what is queued within `wait` seconds (SHUTDOWN_BUDGET at the most), then
        stop; never blocks on the queue. Returns how many events were not delivered, and
        logs that in one line."""
        if self._thread is None:
            return 0
        wait = max(0.0, min(wait, SHUTDOWN_BUDGET))
        self._stop_by = time.monotonic() + wait
        self._wake.set()
        self._thread.join(timeout=wait)
        self._stop_by = time.monotonic()      # past the budget: the attempt in flight goes
        self._cut()
        self._thread.join(timeout=1.0)        # the thread is a daemon: exit does not wait
        left = self._queue.qsize() + self._in_flight + self.dropped
        if left:
            logger.warning("notify: {} event(s) not delivered before exit ({} queued, {} in "
                           "flight, {} dropped on a full queue); the endpoint was slow or "
                           "down", left, self._queue.qsize(), self._in_flight, self.dropped)
        return left

    # -- delivery thread ------------------------------------------------------------------
    def _left(self) -> float:
        return self._stop_by - time.monotonic()

    def _run(self) -> None:
        while self._left() > 0:
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._wake.is_set():
                    return                    # closing and nothing left
                continue
            self._in_flight = 1
            body = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogateescape")
            ok = True
            if self.webhook:
                ok &= self._deliver(self._targets["webhook"], self._post, body)
            if self.command:
                ok &= self._deliver(self._targets["command"], self._run_command, body)
            self.delivered += ok
            self._in_flight = 0 if ok or self._left() > 0 else 1   # cut short: not delivered

    def _deliver(self, target: _Target, send, body: bytes) -> bool:
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            deadline = time.monotonic() + min(self.timeout, max(0.0, self._left()))
            try:
                send(body, deadline)
                if target.failures_unlogged:
                    logger.info("notify {}: delivering again ({} event(s) lost meanwhile)",
                                target.name, target.failures_unlogged)
                    target.failures_unlogged = 0
                return True
            except Exception as exc:  # any failure is the endpoint's; rendering goes on
                error = exc
            if attempt >= self.retries or not self._pause(backoff(attempt, self.retry_seconds)):
                break
        if self._left() > 0:                  # a shutdown cut is counted once, by close()
            self._complain(target, f"event not delivered after {attempt + 1} tries: {error}")
        return False

    def _pause(self, seconds: float) -> bool:
        """Wait between tries; False when the stop budget ends first."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self._stop_by <= now:
                return False
            if now >= end:
                return True
            self._wake.wait(min(end, self._stop_by) - now)
            if self._wake.is_set():           # closing: no more waiting between tries
                return self._left() > 0

    def _cut(self) -> None:
        abort = self._abort
        if abort is not None:
            try:
                abort()
            except OSError:
                pass

    def _complain(self, target: _Target, text: str) -> None:
        now = time.monotonic()
        target.failures_unlogged += 1
        if now - target.last_logged >= self.log_every:
            logger.warning("notify {}: {} ({} failure(s); next message in {:.0f} s at the most)",
                           target.name, text, target.failures_unlogged, self.log_every)
            target.last_logged = now

    def _post(self, body: bytes, deadline: float) -> None:
        """One POST that ends by `deadline`, however slowly the endpoint answers: a timer
        shuts the socket down at the deadline, which ends any read in progress."""
        url = urllib.parse.urlsplit(self.webhook)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left to deliver")
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.hostname, url.port, timeout=left)
        timed_out = threading.Event()

        def cut() -> None:
            timed_out.set()
            if conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(left, lambda: self._quiet(cut))
        timer.daemon = True
        self._abort = cut
        timer.start()
        try:
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "deepart-batch"})
            response = conn.getresponse()
            response.read(65536)
            if response.status >= 400:
                raise RuntimeError(f"HTTP {response.status} {response.reason}")
        except Exception as exc:
            if timed_out.is_set():
                raise TimeoutError(f"no answer within {self.timeout:g} s") from None
            raise exc
        finally:
            self._abort = None
            timer.cancel()
            conn.close()

    @staticmethod
    def _quiet(fn) -> None:
        try:
            fn()
        except OSError:
            pass

    def _run_command(self, body: bytes, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left to deliver")
        proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, shell=False)
        self._abort = proc.kill
        try:
            _, err = proc.communicate(body, timeout=left)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise TimeoutError(f"{self.command[0]} did not finish within {self.timeout:g} s") \
                from None
        finally:
            self._abort = None
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip()[-300:]
            raise RuntimeError(f"{self.command[0]} exited {proc.returncode}: {tail}")
