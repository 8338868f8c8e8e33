"""Issue 25 item 1: /metrics scraped over real HTTP from the daemon, under watch and run --once."""

import re
import urllib.error
import urllib.request

from daemon_helpers import Box, stop, wait_for
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
    assert re.search(r'^deepart_jobs\{state="queued"\} \d+$', got[1], re.M)
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
