"""What the service loop owes operators: status file, metrics, systemd status and watchdog
pings, retention. A receiver of the service's events (TICK, READY, STOPPING, STOPPED); it
sees the service only through the public collaborators it is given."""

from __future__ import annotations

import heapq
import os
import time
from collections import Counter
from typing import Callable

from loguru import logger

from ... import testing
from ...ops.metrics import MetricsServer, MetricsSnapshot, render_prometheus, write_textfile
from ...ops.sdnotify import watchdog_interval
from ...paths import FolderMissing, atomic_write_json
from ...core.states import DaemonEvent
from ..admin.retention import RetentionTimer
from ..events import Tick


HELD_IN_INBOX_LISTED = 60   # held inbox photos the status file names; all are counted


class OpsHooks:
    def __init__(self, config, journal, pool, watcher, manifests, notifier, status_file,
                 once: bool, held_in_inbox: Callable[[], dict[str, str]],
                 waiting: Callable[[], list[str]] = list):
        self.config, self.journal, self.pool, self.watcher = config, journal, pool, watcher
        self.manifests, self.notifier, self.status_file = manifests, notifier, status_file
        self.once, self.held_in_inbox = once, held_in_inbox
        self.waiting = waiting    # what keeps the daemon from working: a folder gone, ...
        self.started = time.monotonic()
        self.watchdog_every = watchdog_interval()
        self._last = {"status": 0.0, "watchdog": 0.0, "metrics": 0.0}
        self.server = None
        self._status_text = ""
        self.retention = RetentionTimer(config, journal)
        # The HTTP endpoint answers from its own threads; the journal's connection belongs
        # to the loop's thread. So the loop publishes the text (at start and each second)
        # and the server only hands out the last one published.
        self._published = ""
        metrics = config.metrics
        if metrics.http_port is not None:
            self.publish_metrics()
            try:
                self.server = MetricsServer(self.published_metrics, metrics.http_host,
                                            metrics.http_port).start()  # it logs the address
            except (OSError, ValueError) as exc:
                logger.error("metrics endpoint not started: {}", exc)
        # Test hook: simulate the observer thread dying, to prove the watchdog notices.
        after = testing.stop_observer_after()
        self._kill_observer_at = None if after is None else self.started + after

    def connect(self, bus) -> None:
        bus.connect(self.tick, DaemonEvent.TICK)
        bus.connect(self.ready, DaemonEvent.READY)
        bus.connect(self.stopping, DaemonEvent.STOPPING)
        bus.connect(self.close, DaemonEvent.STOPPED)

    def snapshot(self) -> MetricsSnapshot:
        j = self.journal
        return MetricsSnapshot(jobs_by_state=j.counts(),
                               queue_depth_by_campaign=j.queue_depth_by_campaign(),
                               render_seconds=j.render_seconds(),
                               device_busy_seconds=self.pool.busy_seconds(),
                               uptime_seconds=time.monotonic() - self.pool.started_at,
                               failures_by_reason=j.failures_by_reason(),
                               workers=self.pool.status())

    def prometheus_text(self) -> str:
        return render_prometheus(self.snapshot())

    def publish_metrics(self) -> None:
        """On the loop's thread: the text the HTTP endpoint serves until the next one."""
        self._published = self.prometheus_text()

    def published_metrics(self) -> str:
        """For the HTTP server's threads: touches no journal."""
        return self._published

    def healthy(self) -> bool:
        observer_ok = self.once or self.watcher.alive()
        return observer_ok and self.pool.healthy()

    def ready(self, _event=None) -> None:
        self.notifier.ready()

    def stopping(self, _event=None) -> None:
        self.notifier.stopping()

    def tick(self, event: Tick) -> None:
        """Each pass of the loop; while draining, `drain_left` seconds remain, and systemd
        is asked to wait that long."""
        now, stopping, drain_left = time.monotonic(), event.stopping, event.drain_left
        if drain_left is not None:
            self.notifier.extend_timeout(min(30, drain_left) + 5)
        self.retention.tick()
        if self._kill_observer_at and now >= self._kill_observer_at and self.watcher.observer:
            logger.warning("test hook: stopping the observer thread")
            self.watcher.observer.stop()
            self._kill_observer_at = None
        if now - self._last["status"] >= 1.0:
            self._last["status"] = now
            counts = self.journal.counts()
            waiting = self.waiting()
            held = self.held_in_inbox()
            listed = heapq.nsmallest(HELD_IN_INBOX_LISTED, held)
            try:
                atomic_write_json(self.status_file, {
                    "pid": os.getpid(), "time": time.time(),
                    "mode": "once" if self.once else "watch", "counts": counts,
                    "workers": self.pool.status(), "stopping": stopping,
                    "held_in_inbox": listed,
                    "held_in_inbox_reasons": {rel: held[rel] for rel in listed},
                    "held_in_inbox_by_reason": dict(Counter(held.values())),
                    "manifest_errors": self.manifests.errors[:20], "waiting": waiting})
            except FolderMissing:
                pass   # the state_dir is gone: said once by the folder watch
            except OSError as exc:
                logger.warning("cannot write {}: {}", self.status_file, exc)
            if self.server is not None:
                self.publish_metrics()
            text = "; ".join((["waiting: " + "; ".join(waiting)] if waiting else [])
                             + [", ".join(f"{state} {n}" for state, n in counts.items())])
            if text != self._status_text:
                self.notifier.status(text)
                self._status_text = text
        if self.watchdog_every and now - self._last["watchdog"] >= self.watchdog_every:
            if self.healthy():  # a dead observer stops the pings; systemd then restarts us
                self.notifier.watchdog()
                self._last["watchdog"] = now
        textfile = self.config.metrics.textfile
        if textfile and now - self._last["metrics"] >= self.config.metrics.interval_seconds:
            self._last["metrics"] = now
            try:
                write_textfile(textfile, self.prometheus_text())
            except OSError as exc:
                logger.warning("cannot write metrics to {}: {}", textfile, exc)

    def close(self, _event=None) -> None:
        if self.config.metrics.textfile:
            try:
                write_textfile(self.config.metrics.textfile, self.prometheus_text())
            except OSError:
                pass
        if self.server is not None:
            self.server.stop()
