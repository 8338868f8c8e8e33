"""Prometheus metrics: the daemon's numbers in prometheus_client's exposition format.

The daemon already knows its numbers (journal, device timers), so each publication is a
snapshot (`MetricsSnapshot`) that a prometheus_client collector turns into metric
families; prometheus_client writes the text (format 0.0.4, what every scraper reads). It
is published either as a file for node_exporter's textfile collector (the one-shot bulk
pass has no lifetime to scrape) or over a small loopback HTTP endpoint for the
long-running daemon.

The endpoint is ours, not prometheus_client's start_http_server: that one (wsgiref) has
no timeouts, so a client that sends its request slowly holds a thread forever, and a
client that resets or sends garbage prints a traceback to stderr (socketserver's
handle_error and wsgiref's log_exception), which is the daemon's log. Here each
connection gets REQUEST_SECONDS in all (a trickle of bytes does not extend it), one
request per connection, and a failed request is one debug line.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loguru import logger
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ..core.states import JobState

__all__ = [
    "CONTENT_TYPE", "JOB_STATES", "RENDER_BUCKETS", "REQUEST_SECONDS", "MetricsSnapshot",
    "MetricsServer", "render_prometheus", "write_textfile",
]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
JOB_STATES = tuple(state.value for state in JobState)   # each always exported
# A Gatys render is seconds on a GPU at preview size and tens of minutes on a
# CPU at print size; buckets span both so either shows up as a shape.
RENDER_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# How long one connection to the endpoint may take, request and answer together: a
# scrape on loopback takes milliseconds; a slow or stuck client is cut off after this.
REQUEST_SECONDS = 5.0


@dataclass
class MetricsSnapshot:
    """Everything exported, captured at one instant by the daemon."""

    jobs_by_state: dict[str, int] = field(default_factory=dict)
    queue_depth_by_campaign: dict[str, int] = field(default_factory=dict)
    render_seconds: list[float] = field(default_factory=list)
    device_busy_seconds: dict[str, float] = field(default_factory=dict)
    uptime_seconds: float = 0.0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    workers: list[dict] = field(default_factory=list)  # executor slots: node, worker, state


def _labelled(family, values: dict) -> None:
    for key in sorted(values):
        family.add_metric([str(key)], values[key])


def _histogram(name: str, help_text: str, observations) -> HistogramMetricFamily:
    values = sorted(float(v) for v in observations)
    buckets, i = [], 0
    for bound in RENDER_BUCKETS:
        while i < len(values) and values[i] <= bound:
            i += 1
        buckets.append((repr(bound), i))  # cumulative: everything <= bound
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, help_text, buckets=buckets, sum_value=sum(values))


class SnapshotCollector:
    """One snapshot as prometheus_client metric families (a registry's collector)."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self):
        s = self.snapshot
        # Every known state is always present, so "failed > 0" alerts and rate()
        # work from the first scrape instead of seeing a missing series.
        jobs = GaugeMetricFamily("deepart_jobs", "Jobs in the store by state.", labels=["state"])
        _labelled(jobs, {**dict.fromkeys(JOB_STATES, 0), **s.jobs_by_state})
        yield jobs
        queue = GaugeMetricFamily("deepart_queue_depth",
                                  "Queued jobs waiting to render, by campaign.",
                                  labels=["campaign"])
        _labelled(queue, s.queue_depth_by_campaign)
        yield queue
        yield _histogram("deepart_render_duration_seconds", "Wall time of finished renders.",
                         s.render_seconds)
        failures = CounterMetricFamily("deepart_job_failures_total", "Failed jobs by reason.",
                                       labels=["reason"])
        _labelled(failures, s.failures_by_reason)
        yield failures
        busy = CounterMetricFamily("deepart_device_busy_seconds_total",
                                   "Seconds each device spent rendering.", labels=["device"])
        _labelled(busy, s.device_busy_seconds)
        yield busy
        uptime = s.uptime_seconds
        ratio = GaugeMetricFamily("deepart_device_busy_ratio",
                                  "Busy seconds over process uptime, per device.",
                                  labels=["device"])
        _labelled(ratio, {dev: min(1.0, busy / uptime) if uptime > 0 else 0.0  # clock skew
                          for dev, busy in s.device_busy_seconds.items()})  # must not give >100%
        yield ratio
        yield self._workers()
        yield self._progress()
        up = GaugeMetricFamily("deepart_uptime_seconds", "Seconds since the process started.")
        up.add_metric([], float(uptime))
        yield up

    def _workers(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("deepart_workers",
                                   "Render slots (workers, Ray actors) by node and state.",
                                   labels=["node", "state"])
        by_node_state: dict[tuple, int] = {}
        for slot in self.snapshot.workers:
            key = (slot.get("node") or "", slot["state"])
            by_node_state[key] = by_node_state.get(key, 0) + 1
        for (node, state), n in sorted(by_node_state.items()):
            family.add_metric([node, state], n)
        return family

    def _progress(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("deepart_worker_progress_ratio",
                                   "Step over total steps of each busy slot.",
                                   labels=["node", "worker", "job"])
        for slot in self.snapshot.workers:
            p = slot.get("progress") or {}
            if slot["state"] == "busy" and p.get("total"):
                family.add_metric([slot.get("node") or "", str(slot["worker"]), str(slot["job"])],
                                  min(1.0, p.get("step", 0) / p["total"]))
        return family


def render_prometheus(snapshot: MetricsSnapshot) -> str:
    """A snapshot in text exposition format 0.0.4, written by prometheus_client."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry).decode("utf-8")


def write_textfile(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` atomically, so node_exporter never reads half a file.

    The temp file lives in the same directory (``os.replace`` is only atomic
    within one filesystem) and does not end in ``.prom``, which the textfile
    collector would otherwise pick up. Mode 0644: node_exporter usually runs
    as another user.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = "." + os.path.basename(path) + "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # persist the rename itself; best effort, not all filesystems allow it
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    try:
        return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
    except ValueError:  # e.g. a scoped "fe80::1%eth0"
        return False


class _Handler(BaseHTTPRequestHandler):
    """GET /metrics, one request per connection (HTTP/1.0), within REQUEST_SECONDS."""

    server: _Server
    timeout = REQUEST_SECONDS   # each read and write; the whole connection: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, "text/plain; charset=utf-8", b"see /metrics\n")
            return
        try:
            body = self.server.provider().encode("utf-8")
        except Exception:
            logger.exception("metrics provider failed")
            self._reply(500, "text/plain; charset=utf-8", b"metrics provider failed\n")
            return
        self._reply(200, CONTENT_TYPE, body)

    def _reply(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Scrapes every 15 s and bad requests (400, 414, 431) would drown the journal;
        # keep them at debug.
        logger.debug("metrics http: {}", format % args)   # http.server's %-format

    def log_error(self, format: str, *args: object) -> None:  # noqa: A002
        """Nothing: a bad request's one line is its request line with the code
        (log_request, from send_error); a read that timed out needs none."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows under a burst of connections, and a
    # scrape arriving then waits for the kernel's SYN retry (1 s and more).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: Callable[[], str], family: int) -> None:
        self.address_family = family
        self.provider = provider
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address) -> None:
        """The whole connection within REQUEST_SECONDS: a client that trickles one byte
        at a time resets each read's timeout, so the socket is shut at the deadline."""
        deadline = threading.Timer(REQUEST_SECONDS, _cut, (request,))
        deadline.daemon = True
        deadline.start()
        try:
            super().process_request_thread(request, client_address)
        finally:
            deadline.cancel()

    def handle_error(self, request, client_address) -> None:
        """A client that resets, times out or sends garbage: one debug line, no traceback
        (socketserver prints one to stderr, the daemon's log)."""
        exc = sys.exc_info()[1]
        logger.debug("metrics http: request from {} ended: {}: {}", client_address[0],
                     type(exc).__name__, exc)


def _cut(request: socket.socket) -> None:
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass   # already closed


class MetricsServer:
    """Serve ``GET /metrics`` from a background thread.

    Binds loopback only unless ``allow_remote=True``: the endpoint has no
    authentication and exposes campaign names. Port 0 picks a free port,
    readable from ``.port`` after ``start()``.
    """

    def __init__(
        self,
        provider: Callable[[], str],
        host: str = "127.0.0.1",
        port: int = 9464,
        *,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ValueError(
                f"refusing to serve metrics on non-loopback {host!r}; pass allow_remote=True"
            )
        self.provider, self.host, self.port = provider, host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
        self._server = _Server((self.host, self.port), self.provider, family)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()
        logger.info("serving metrics on http://{}:{}/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
