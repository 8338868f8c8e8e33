"""Prometheus metrics without the prometheus_client dependency.

The daemon already knows its numbers (job store, device timers), so a plain
snapshot rendered to text exposition format 0.0.4 is all we need. It is
published either as a file for node_exporter's textfile collector (the
one-shot bulk job has no lifetime to scrape) or over a tiny loopback HTTP
endpoint for the long-running daemon.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loguru import logger
from ..core.states import JobState

__all__ = [
    "CONTENT_TYPE", "JOB_STATES", "RENDER_BUCKETS", "MetricsSnapshot", "MetricsServer",
    "render_prometheus", "write_textfile",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_STATES = tuple(JobState)   # every one labelled, zero included
# A Gatys render is seconds on a GPU at preview size and tens of minutes on a
# CPU at print size; buckets span both so either shows up as a shape.
RENDER_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


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


def _escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs: Mapping[str, object]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs.items()) + "}"


class _Writer:
    """Accumulates families; keeps the HELP/TYPE-before-samples rule in one place."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, **labels: object) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def labelled(self, name: str, label: str, values: Mapping[str, float]) -> None:
        for key in sorted(values):
            self.sample(name, values[key], **{label: key})

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _histogram(w: _Writer, name: str, observations: Iterable[float]) -> None:
    values = sorted(float(v) for v in observations)
    counts, i = [], 0
    for bound in RENDER_BUCKETS:
        while i < len(values) and values[i] <= bound:
            i += 1
        counts.append(i)  # cumulative: everything <= bound
    for bound, count in zip(RENDER_BUCKETS, counts, strict=True):
        w.sample(f"{name}_bucket", count, le=_number(bound))
    w.sample(f"{name}_bucket", len(values), le="+Inf")
    w.sample(f"{name}_sum", math.fsum(values))
    w.sample(f"{name}_count", len(values))


def render_prometheus(snapshot: MetricsSnapshot) -> str:
    """Render a snapshot in text exposition format 0.0.4."""
    s, w = snapshot, _Writer()

    # Every known state is always present, so "failed > 0" alerts and rate()
    # work from the first scrape instead of seeing a missing series.
    w.family("deepart_jobs", "gauge", "Jobs in the store by state.")
    w.labelled("deepart_jobs", "state", {**dict.fromkeys(JOB_STATES, 0), **s.jobs_by_state})

    w.family("deepart_queue_depth", "gauge", "Queued jobs waiting to render, by campaign.")
    w.labelled("deepart_queue_depth", "campaign", s.queue_depth_by_campaign)

    w.family("deepart_render_duration_seconds", "histogram", "Wall time of finished renders.")
    _histogram(w, "deepart_render_duration_seconds", s.render_seconds)

    w.family("deepart_job_failures_total", "counter", "Failed jobs by reason.")
    w.labelled("deepart_job_failures_total", "reason", s.failures_by_reason)

    w.family("deepart_device_busy_seconds_total", "counter", "Seconds each device spent rendering.")
    w.labelled("deepart_device_busy_seconds_total", "device", s.device_busy_seconds)

    w.family("deepart_device_busy_ratio", "gauge", "Busy seconds over process uptime, per device.")
    uptime = s.uptime_seconds
    ratios = {
        dev: min(1.0, busy / uptime) if uptime > 0 else 0.0  # clock skew must not give >100%
        for dev, busy in s.device_busy_seconds.items()
    }
    w.labelled("deepart_device_busy_ratio", "device", ratios)

    w.family("deepart_workers", "gauge", "Render slots (workers, Ray actors) by node and state.")
    by_node_state: dict[tuple, int] = {}
    for slot in s.workers:
        key = (slot.get("node") or "", slot["state"])
        by_node_state[key] = by_node_state.get(key, 0) + 1
    for (node, state), n in sorted(by_node_state.items()):
        w.sample("deepart_workers", n, node=node, state=state)

    w.family("deepart_worker_progress_ratio", "gauge", "Step over total steps of each busy slot.")
    for slot in s.workers:
        p = slot.get("progress") or {}
        if slot["state"] == "busy" and p.get("total"):
            w.sample("deepart_worker_progress_ratio", min(1.0, p.get("step", 0) / p["total"]),
                     node=slot.get("node") or "", worker=slot["worker"], job=slot["job"])

    w.family("deepart_uptime_seconds", "gauge", "Seconds since the process started.")
    w.sample("deepart_uptime_seconds", float(uptime))
    return w.text()


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
    server: _Server

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
        # Scrapes every 15 s would drown the journal; keep them at debug.
        logger.debug("metrics http: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], provider: Callable[[], str], family: int) -> None:
        self.address_family = family
        self.provider = provider
        super().__init__(address, _Handler)


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
