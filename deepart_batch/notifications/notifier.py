"""The notifier: `emit` puts an event on a bounded queue and returns at once; one thread
turns events into messages (json and command endpoints: one per event; chat endpoints: one
per batch of a campaign's photos) and delivers them with retries, recording each outcome
in the journal's delivery log. With the daemon's journal (`pending`), each event is kept
there from `emit` until every endpoint has had it, and a new notifier sends what an earlier
one left (pending.py): a kill -9 or a stop loses no event, and a resend carries its id.

A full queue drops its OLDEST event (the newest news is the most useful), says so in one
warning per episode, and counts every drop (`dropped`). A broken endpoint is logged once
per `log_every` seconds, not per event. `close` never waits longer than SHUTDOWN_BUDGET:
it flushes open batches, delivers what fits, cuts the try in flight, and logs in one line
how many events were not delivered.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Protocol

from loguru import logger

from ..core.states import NOTICES, DaemonEvent, DeliveryStatus
from ..journal.records import Delivery
from .batching import Batch, Batcher
from .delivery import Endpoint, Message, RetryPolicy, deliver
from .formats import chat_body, json_body
from .pending import PendingNotices
from .signing import message_id
from .transport import Cutter

SHUTDOWN_BUDGET = 10.0   # the most seconds a stop waits on notifications, whatever is asked


class DeliveryLog(Protocol):
    def record(self, delivery: Delivery) -> None: ...

    def forget(self, message_id: str) -> None: ...


class JournalDeliveryLog:
    """Writes the delivery log through its own journal connection, opened in the thread
    that records (the notifier's); a journal in trouble is logged once, never raised."""

    def __init__(self, journal_path: str | Path):
        self.path = Path(journal_path)
        self._journal = None
        self._complained = False

    def record(self, delivery: Delivery) -> None:
        self._write(lambda journal: journal.record_delivery(delivery))

    def forget(self, message_id: str) -> None:
        """Every endpoint had it: it is no longer kept for a resend after a restart."""
        self._write(lambda journal: journal.forget_notice(message_id))

    def _write(self, write) -> None:
        from ..journal.store import Journal
        try:
            if self._journal is None:
                self._journal = Journal(self.path, busy_budget=5.0)
            write(self._journal)
        except Exception as exc:   # the log is a record, never a reason to stop telling
            if not self._complained:
                logger.warning("notify: the delivery log could not be written ({}); "
                               "notifications go on without it", exc)
                self._complained = True

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


class Notifier:
    """Queue + one delivery thread. `emit` never blocks; `close` waits a bounded moment."""

    def __init__(self, endpoints: list[Endpoint], *, events=None, policy: RetryPolicy | None
                 = None, log: DeliveryLog | None = None, batch_seconds: float = 10.0,
                 batch_lines: int = 15, queue_size: int = 1000, log_every: float = 300.0,
                 gallery_base_url: str | None = None, pending: PendingNotices | None = None):
        self.endpoints = list(endpoints)
        self.events = {DaemonEvent(e) for e in events} & NOTICES if events else set(NOTICES)
        self.policy = policy or RetryPolicy()
        self.log = log
        self.base_url = gallery_base_url
        self.log_every = log_every
        self.batcher = Batcher(batch_seconds, batch_lines)
        self._queue: deque = deque(maxlen=queue_size)
        self._cond = threading.Condition()
        self._closing = False
        self._stop_by = float("inf")         # monotonic time the thread must be done by
        self._thread: threading.Thread | None = None
        self._cutter = Cutter()
        self._complained: dict[str, tuple[float, int]] = {}  # endpoint -> (last log, unlogged)
        self._dropping = False
        self.dropped = 0                     # events dropped from a full queue
        self.delivered = 0                   # messages taken by an endpoint
        self.failed = 0                      # messages given up on
        self.cut = 0                         # events whose delivery a stop cut short
        self.pending = pending
        self._queued: set[str] = set()       # ids in the queue: the same event queued once
        self._parts: dict[str, int] = {}     # id -> sends left (json/command, chat batch)
        if pending is not None and self.enabled:
            for event in pending.load():     # what an earlier run had not sent
                if self._wanted(event):
                    self._enqueue(event)
                else:
                    pending.forget(message_id(event))

    @classmethod
    def from_config(cls, notify, backoff: Callable[[int, float], float],
                    journal_path: str | Path | None = None,
                    gallery_base_url: str | None = None, journal=None) -> "Notifier":
        from .delivery import endpoints_from_config
        return cls(endpoints_from_config(notify), events=notify.events,
                   policy=RetryPolicy.from_config(notify, backoff),
                   log=JournalDeliveryLog(journal_path) if journal_path else None,
                   batch_seconds=notify.batch_seconds, batch_lines=notify.batch_lines,
                   queue_size=notify.queue_size, log_every=notify.log_every_seconds,
                   gallery_base_url=gallery_base_url,
                   pending=PendingNotices(journal) if journal is not None else None)

    @classmethod
    def for_box(cls, config, backoff: Callable[[int, float], float],
                journal=None) -> "Notifier":
        """The daemon's notifier for a whole Config: its notify section, the delivery log
        in its journal, links under gallery.base_url; `backoff` is daemon.policy.backoff.
        `journal`: the daemon's own (main thread), which keeps events until they are sent."""
        from ..core.layout import StateLayout
        return cls.from_config(config.notify, backoff,
                               journal_path=StateLayout(Path(config.state_dir)).journal,
                               gallery_base_url=config.gallery_base_url, journal=journal)

    @property
    def enabled(self) -> bool:
        return bool(self.endpoints)

    def emit(self, event: dict) -> None:
        """Queue one event (build_event's dict); never blocks, never raises for trouble."""
        if not self._wanted(event):
            return
        if self._closing or message_id(event) in self._queued:
            return
        if self.pending is not None:
            self.pending.remember(message_id(event), event)
        self._enqueue(event)

    def _enqueue(self, event: dict) -> None:
        with self._cond:
            if self._closing:
                return
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1            # deque(maxlen) drops the oldest on append
                oldest = message_id(self._queue[0])
                self._queued.discard(oldest)
                if self.pending is not None:
                    self.pending.forget(oldest)
                if not self._dropping:
                    logger.warning("notify: the queue is full ({} events): the oldest are "
                                   "dropped (is an endpoint down or slow?)",
                                   self._queue.maxlen)
                    self._dropping = True
            else:
                self._dropping = False
            self._queue.append(event)
            self._queued.add(message_id(event))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _wanted(self, event: dict) -> bool:
        """Whether this notifier sends events of this kind (notify.events)."""
        try:
            return self.enabled and DaemonEvent(event["event"]) in self.events
        except (KeyError, ValueError):
            return False

    def close(self, wait: float = SHUTDOWN_BUDGET) -> int:
        """Deliver what is queued within `wait` seconds (SHUTDOWN_BUDGET at the most);
        returns how many events were not delivered and logs that in one line."""
        with self._cond:
            self._closing = True
            self._stop_by = time.monotonic() + max(0.0, min(wait, SHUTDOWN_BUDGET))
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, self._stop_by - time.monotonic()))
            self._cutter.cut()
            thread.join(1.0)
        waiting = len(self._queue) + len(self.batcher)
        left = waiting + self.cut + self.dropped
        if left:
            logger.warning("notify: {} event(s) not delivered before exit ({} queued or "
                           "batched, {} cut in flight, {} dropped on a full queue){}", left,
                           waiting, self.cut, self.dropped,
                           "; the queued and cut ones are sent at the next start"
                           if self.pending is not None else "")
        return left

    # -- the delivery thread ----------------------------------------------------------------
    def _left(self) -> float:
        return self._stop_by - time.monotonic()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if isinstance(self.log, JournalDeliveryLog):
                self.log.close()             # its connection belongs to this thread

    def _loop(self) -> None:
        chat = any(e.is_chat for e in self.endpoints)
        while True:
            with self._cond:
                wait = self.batcher.next_due() if chat else None
                if not self._queue and not self._closing:
                    self._cond.wait(timeout=wait if wait is not None else 1.0)
                event = self._queue.popleft() if self._queue else None
                if event is not None:
                    self._queued.discard(message_id(event))
                closing = self._closing
            if event is not None:
                self._parts[message_id(event)] = chat + any(not e.is_chat
                                                            for e in self.endpoints)
                self._send_event(event)
                if chat:
                    self.batcher.add(event)
            if chat:
                for batch in self.batcher.due(flush=closing and event is None):
                    self._send_batch(batch)
            if closing and event is None and not len(self.batcher):
                return
            if self._left() <= 0:
                return

    def _send_event(self, event: dict) -> None:
        body = json_body(event)
        message = Message(message_id(event), str(event.get("event")),
                          str(event.get("message") or "")[:200], body)
        results = [self._deliver(endpoint, message) for endpoint in self.endpoints
                   if not endpoint.is_chat]
        if results:
            cut = any(r.status == DeliveryStatus.CUT.value for r in results)
            self.cut += cut
            self._sent(message.id, cut)

    def _send_batch(self, batch: Batch) -> None:
        kind = batch.events[0].get("event") if len(batch.events) == 1 else "batch"
        results = [self._deliver(endpoint, Message(batch.id, str(kind), batch.summary(),
                                                   chat_body(endpoint.format, batch,
                                                             self.base_url)))
                   for endpoint in self.endpoints if endpoint.is_chat]
        cut = any(r.status == DeliveryStatus.CUT.value for r in results)
        if cut:
            self.cut += len(batch.events)
        for event in batch.events:
            self._sent(message_id(event), cut)

    def _sent(self, msg_id: str, cut: bool) -> None:
        """One send of an event is over; when all are (and none was cut by a stop), the
        journal no longer keeps it. A cut one stays kept: the next start sends it."""
        if cut:
            self._parts.pop(msg_id, None)
            return
        left = self._parts.get(msg_id, 1) - 1
        if left > 0:
            self._parts[msg_id] = left
            return
        self._parts.pop(msg_id, None)
        forget = getattr(self.log, "forget", None)
        if forget is not None:
            forget(msg_id)

    def _deliver(self, endpoint: Endpoint, message: Message) -> Delivery:
        result = deliver(endpoint, message, self.policy, stop_by=lambda: self._stop_by,
                         pause=self._pause, cutter=self._cutter)
        if result.status == DeliveryStatus.DELIVERED.value:
            self.delivered += 1
            last, unlogged = self._complained.pop(endpoint.shown, (0.0, 0))
            if unlogged:
                logger.info("notify {}: delivering again ({} message(s) lost meanwhile)",
                            endpoint.shown, unlogged)
        elif result.status == DeliveryStatus.FAILED.value:
            self.failed += 1
            self._complain(endpoint, f"not delivered after {result.attempts} tries: "
                                     f"{result.last_status}")
        if self.log is not None:
            self.log.record(result)
        return result

    def _pause(self, seconds: float) -> bool:
        """Wait between tries; closing, the next try comes at once (within the stop budget).
        False when the budget is spent."""
        end = min(time.monotonic() + seconds, self._stop_by)
        with self._cond:
            while not self._closing and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
        return self._left() > 0

    def _complain(self, endpoint: Endpoint, text: str) -> None:
        now = time.monotonic()
        last, unlogged = self._complained.get(endpoint.shown, (-1e18, 0))
        unlogged += 1
        if now - last >= self.log_every:
            logger.warning("notify {}: {} ({} failure(s); next message in {:.0f} s at the "
                           "most)", endpoint.shown, text, unlogged, self.log_every)
            self._complained[endpoint.shown] = (now, 0)
        else:
            self._complained[endpoint.shown] = (last, unlogged)
