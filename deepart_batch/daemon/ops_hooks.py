"""What the service loop owes operators each tick: status file, metrics, systemd pings,
retention."""

from __future__ import annotations

import os
import time

from loguru import logger

from .. import testing
from ..ops.metrics import MetricsServer, MetricsSnapshot, render_prometheus, write_textfile
from ..ops.sdnotify import watchdog_interval
from ..paths import atomic_write_json
from .retention import RetentionTimer


class OpsHooks:
    def __init__(self, service):
        self.service = service
        self.started = time.monotonic()
        self.watchdog_every = watchdog_interval()
        self._last = {"status": 0.0, "watchdog": 0.0, "metrics": 0.0}
        self.server = None
        self._status_text = ""
        self.retention = RetentionTimer(service.config, service.journal)
        metrics = service.config.metrics
        if metrics.http_port is not None:
            try:
                self.server = MetricsServer(self.prometheus_text, metrics.http_host,
                                            metrics.http_port).start()
                logger.info("metrics on http://{}:{}/metrics", metrics.http_host, self.server.port)
            except (OSError, ValueError) as exc:
                logger.error("metrics endpoint not started: {}", exc)
        # Test hook: simulate the observer thread dying, to prove the watchdog notices.
        after = testing.stop_observer_after()
        self._kill_observer_at = None if after is None else self.started + after

    def snapshot(self) -> MetricsSnapshot:
        j = self.service.journal
        return MetricsSnapshot(jobs_by_state=j.counts(),
                               queue_depth_by_campaign=j.queue_depth_by_campaign(),
                               render_seconds=j.render_seconds(),
                               device_busy_seconds=self.service.pool.busy_seconds(),
                               uptime_seconds=time.monotonic() - self.service.pool.started_at,
                               failures_by_reason=j.failures_by_reason(),
                               workers=self.service.pool.status())

    def prometheus_text(self) -> str:
        return render_prometheus(self.snapshot())

    def healthy(self) -> bool:
        s = self.service
        observer_ok = s.once or s.watcher.alive()
        return observer_ok and s.pool.healthy()

    def tick(self) -> None:
        now = time.monotonic()
        s = self.service
        self.retention.tick()
        if self._kill_observer_at and now >= self._kill_observer_at and s.watcher.observer:
            logger.warning("test hook: stopping the observer thread")
            s.watcher.observer.stop()
            self._kill_observer_at = None
        if now - self._last["status"] >= 1.0:
            self._last["status"] = now
            counts = s.journal.counts()
            try:
                atomic_write_json(s.status_file, {"pid": os.getpid(), "time": time.time(),
                                                  "mode": "once" if s.once else "watch",
                                                  "counts": counts, "workers": s.pool.status(),
                                                  "stopping": s.stopping,
                                                  "held_in_inbox": sorted(s._held),
                                                  "manifest_errors": s.manifests.errors[:20]})
            except OSError as exc:
                logger.warning("cannot write {}: {}", s.status_file, exc)
            text = ", ".join(f"{state} {n}" for state, n in counts.items())
            if text != self._status_text:
                s.notifier.status(text)
                self._status_text = text
        if self.watchdog_every and now - self._last["watchdog"] >= self.watchdog_every:
            if self.healthy():  # a dead observer stops the pings; systemd then restarts us
                s.notifier.watchdog()
                self._last["watchdog"] = now
        textfile = s.config.metrics.textfile
        if textfile and now - self._last["metrics"] >= s.config.metrics.interval_seconds:
            self._last["metrics"] = now
            try:
                write_textfile(textfile, self.prometheus_text())
            except OSError as exc:
                logger.warning("cannot write metrics to {}: {}", textfile, exc)

    def close(self) -> None:
        s = self.service
        if s.config.metrics.textfile:
            try:
                write_textfile(s.config.metrics.textfile, self.prometheus_text())
            except OSError:
                pass
        if self.server is not None:
            self.server.stop()
