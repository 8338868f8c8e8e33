"""/metrics scraped over real HTTP from the daemon, under watch and run --once."""

import re
import socket
import struct
import time
import urllib.error
import urllib.request

from support.boxes import Box, stop, wait_for
from support.processes import free_port, start_cli

FAMILIES = ("deepart_jobs", "deepart_queue_depth", "deepart_render_duration_seconds",
            "deepart_job_failures_total", "deepart_uptime_seconds")


def _scrape(port: int):
    """(status, body) of GET /metrics, or None while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def _check(box, proc, port):
    got = wait_for(lambda: _scrape(port) or (proc.poll() is not None and ("exited", "")),
                   timeout=120, what="the metrics endpoint")
    assert got[0] == 200, (got, box.log.read_text()[-3000:])
    for family in FAMILIES:
        assert f"# TYPE {family} " in got[1], family
    assert re.search(r'^deepart_jobs\{state="queued"\} [\d.]+$', got[1], re.M)
    # a second scrape (another request thread) answers too
    assert _scrape(port)[0] == 200
    return got[1]


def test_metrics_over_http_under_watch(tmp_path):
    port = free_port()
    box = Box(tmp_path, metrics={"http_port": port})
    box.drop("tubingen.jpg", "city/a.jpg")
    proc = box.start_watch()
    try:
        _check(box, proc, port)
    finally:
        assert stop(proc) == 0
    log = box.log.read_text()
    assert "SQLite objects created in a thread" not in log
    assert len(re.findall(rf"metrics on http://127\.0\.0\.1:{port}/metrics", log)) == 1, log


def test_metrics_over_http_under_run_once(tmp_path):
    port = free_port()
    box = Box(tmp_path, metrics={"http_port": port}, drain_seconds=1)
    box.drop("tubingen.jpg", "city/a.jpg")
    # the render hangs, so the pass is surely still running while we scrape
    proc = start_cli(box, "run", "--once", env={"DEEPART_INJECT_FAULT": "hang"})
    try:
        _check(box, proc, port)
    finally:
        stop(proc)
    assert "SQLite objects created in a thread" not in box.log.read_text()


def _rst(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashes or a scanner does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionError:
        return True
    except (BlockingIOError, socket.timeout):
        return False


MALFORMED = (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # TLS hello
             b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",                     # 414
             b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",       # 431
             b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",          # too many
             b"\x00\xff\r\n\r\n", b"POST /metrics HTTP/1.1\r\n\r\n")


def test_slow_and_malformed_clients_leave_no_traceback_and_scrapes_answer(tmp_path):
    """50 slowloris connections (half of them trickling a byte a second, which resets a
    per-read timeout), garbage, oversized requests and clients that reset mid-request or
    mid-answer: the log has no traceback, a scrape still answers, and every slow
    connection is closed by the server."""
    port = free_port()
    box = Box(tmp_path, canned=True, metrics={"http_port": port})
    proc = start_cli(box, "watch")
    slow: list[socket.socket] = []
    try:
        _check(box, proc, port)
        for n in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        for payload in MALFORMED:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
        for payload in (b"GET /metrics HTTP/1.1\r\nHo", b"GET /metrics HTTP/1.0\r\n\r\n"):
            for _ in range(10):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
                s.sendall(payload)
                _rst(s)
        got = _scrape(port)          # beside 50 slow connections, within urlopen's timeout
        assert got is not None and got[0] == 200, got
        for s in slow:
            s.setblocking(False)
        deadline = time.monotonic() + 60
        while slow and time.monotonic() < deadline:
            for s in slow[:25]:      # these keep trickling
                try:
                    s.send(b"X")
                except OSError:
                    pass
            for s in [s for s in slow if _closed_by_server(s)]:
                s.close()
                slow.remove(s)
            time.sleep(1)
        assert not slow, f"{len(slow)} slow connection(s) still held by the server"
        assert _scrape(port)[0] == 200
    finally:
        for s in slow:
            s.close()
        assert stop(proc) == 0
    log = box.log.read_text()
    assert "Traceback" not in log and "Exception occurred" not in log, log[-4000:]
