"""Telling the team: a JSON event per photo done, failed or held, and per bulk pass.

Delivered to a webhook (HTTP POST, application/json) and/or a command that reads the same
JSON on stdin (for mail or chat), from one background thread: the render loop only puts
events on a queue, so a slow or dead endpoint never blocks or slows rendering. Each
delivery is retried with backoff and a timeout; a broken endpoint is logged once per
period, not on every event. Events carry an `id`, so a receiver can drop the rare repeat
(a POST that timed out after it arrived).
"""

from __future__ import annotations

import json
import queue
import shlex
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath

from loguru import logger

from ..core.states import NOTICES, DaemonEvent, FailureReason, message, plain
from .policy import backoff

SCHEMA_VERSION = 1


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
    """Queue + one delivery thread. `emit` never blocks; `close` gives it a moment to finish."""

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
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0

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
            self._complain(self._targets["queue"], "queue full: notifications are being "
                                                   "dropped (is the endpoint down?)")

    def close(self, wait: float = 10.0) -> None:
        """Deliver what is queued within `wait` seconds, then stop (the thread is a daemon)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout=wait)
        self._closing.set()
        if self._thread.is_alive():
            logger.warning("notify: {} event(s) not delivered before exit", self._queue.qsize())

    # -- delivery thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            body = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogateescape")
            ok = True
            if self.webhook:
                ok &= self._deliver(self._targets["webhook"], self._post, body)
            if self.command:
                ok &= self._deliver(self._targets["command"], self._run_command, body)
            self.delivered += ok

    def _deliver(self, target: _Target, send, body: bytes) -> bool:
        for attempt in range(self.retries + 1):
            try:
                send(body)
                if target.failures_unlogged:
                    logger.info("notify {}: delivering again ({} event(s) lost meanwhile)",
                                target.name, target.failures_unlogged)
                    target.failures_unlogged = 0
                return True
            except Exception as exc:  # any failure is the endpoint's; rendering goes on
                error = exc
            if attempt < self.retries and self._closing.wait(backoff(attempt, self.retry_seconds)):
                break
        self._complain(target, f"event not delivered after {self.retries + 1} tries: {error}")
        return False

    def _complain(self, target: _Target, text: str) -> None:
        now = time.monotonic()
        target.failures_unlogged += 1
        if now - target.last_logged >= self.log_every:
            logger.warning("notify {}: {} ({} failure(s); next message in {:.0f} s at the most)",
                           target.name, text, target.failures_unlogged, self.log_every)
            target.last_logged = now

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.webhook, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "deepart-batch"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read(65536)

    def _run_command(self, body: bytes) -> None:
        result = subprocess.run(self.command, input=body, capture_output=True,
                                timeout=self.timeout, shell=False)
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip()[-300:]
            raise RuntimeError(f"{self.command[0]} exited {result.returncode}: {tail}")
