"""Exposition text checked with prometheus_client's own parser, served over real HTTP."""

from __future__ import annotations

import os
import stat
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deepart_batch.ops.metrics import (
    CONTENT_TYPE,
    MetricsServer,
    MetricsSnapshot,
    render_prometheus,
    write_textfile,
)
from support.jobs import toy_spec

SNAPSHOT = MetricsSnapshot(
    jobs_by_state={"queued": 4, "running": 1, "done": 12, "failed": 2},
    queue_depth_by_campaign={"spring-24": 3, 'odd "name"\\with\nnewline': 1},
    render_seconds=[0.4, 1.0, 4.2, 29.9, 30.0, 75.0, 400.0, 3600.0],
    device_busy_seconds={"cuda:0": 450.0, "cpu": 0.0},
    uptime_seconds=900.0,
    failures_by_reason={"oom": 1, "decode": 1},
)


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}}"""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_types_and_prefix():
    types = families(render_prometheus(SNAPSHOT))
    assert types == {
        "deepart_jobs": "gauge",
        "deepart_queue_depth": "gauge",
        "deepart_render_duration_seconds": "histogram",
        "deepart_job_failures": "counter",  # parser strips _total from the family
        "deepart_device_busy_seconds": "counter",
        "deepart_device_busy_ratio": "gauge",
        "deepart_workers": "gauge",
        "deepart_worker_progress_ratio": "gauge",
        "deepart_uptime_seconds": "gauge",
    }


def test_every_family_has_help_and_type_before_samples():
    text = render_prometheus(SNAPSHOT)
    seen_type = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            seen_type.add(line.split()[2])
        elif not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert any(name.startswith(f) for f in seen_type), line
    assert text.count("# HELP ") == text.count("# TYPE ") == 9
    assert text.endswith("\n")


def test_values_match_snapshot():
    m = parse(render_prometheus(SNAPSHOT))
    assert m["deepart_jobs"] == {
        (("state", "queued"),): 4,
        (("state", "running"),): 1,
        (("state", "waiting"),): 0,
        (("state", "held"),): 0,
        (("state", "retried"),): 0,
        (("state", "done"),): 12,
        (("state", "failed"),): 2,
    }
    assert m["deepart_job_failures_total"] == {(("reason", "oom"),): 1, (("reason", "decode"),): 1}
    assert m["deepart_uptime_seconds"] == {(): 900.0}
    assert m["deepart_device_busy_seconds_total"][(("device", "cuda:0"),)] == 450.0


def test_label_values_are_escaped_and_round_trip():
    m = parse(render_prometheus(SNAPSHOT))
    assert m["deepart_queue_depth"] == {
        (("campaign", "spring-24"),): 3,
        (("campaign", 'odd "name"\\with\nnewline'),): 1,
    }
    raw = render_prometheus(SNAPSHOT)
    assert 'campaign="odd \\"name\\"\\\\with\\nnewline"' in raw


def test_histogram_buckets_are_cumulative():
    m = parse(render_prometheus(SNAPSHOT))
    buckets = {dict(k)["le"]: v for k, v in m["deepart_render_duration_seconds_bucket"].items()}
    # 0.4, 1.0 | 4.2 | - | 29.9, 30.0 | - | 75.0 | - | 400.0 | - | 3600.0
    assert buckets == {
        "1.0": 2, "5.0": 3, "15.0": 3, "30.0": 5, "60.0": 5, "120.0": 6,
        "300.0": 6, "600.0": 7, "1800.0": 7, "+Inf": 8,
    }
    assert m["deepart_render_duration_seconds_count"] == {(): 8}
    assert m["deepart_render_duration_seconds_sum"][()] == pytest.approx(sum(SNAPSHOT.render_seconds))


def test_busy_ratio_is_busy_over_uptime():
    m = parse(render_prometheus(SNAPSHOT))
    assert m["deepart_device_busy_ratio"] == {(("device", "cuda:0"),): 0.5, (("device", "cpu"),): 0.0}


def test_busy_ratio_clamped_and_zero_uptime_safe():
    m = parse(render_prometheus(MetricsSnapshot(device_busy_seconds={"cuda:0": 10.0}, uptime_seconds=9.0)))
    assert m["deepart_device_busy_ratio"] == {(("device", "cuda:0"),): 1.0}
    m = parse(render_prometheus(MetricsSnapshot(device_busy_seconds={"cuda:0": 1.0}, uptime_seconds=0.0)))
    assert m["deepart_device_busy_ratio"] == {(("device", "cuda:0"),): 0.0}


def test_empty_snapshot_still_reports_all_states_and_empty_histogram():
    m = parse(render_prometheus(MetricsSnapshot()))
    assert {dict(k)["state"]: v for k, v in m["deepart_jobs"].items()} == {
        "queued": 0, "running": 0, "waiting": 0, "held": 0, "done": 0, "failed": 0, "retried": 0,
    }
    assert m["deepart_render_duration_seconds_count"] == {(): 0}
    assert all(v == 0 for v in m["deepart_render_duration_seconds_bucket"].values())


def test_write_textfile_is_atomic_and_world_readable(tmp_path):
    target = tmp_path / "deepart.prom"
    old_umask = os.umask(0o077)  # a strict umask must not make the file unreadable
    try:
        write_textfile(target, "a 1\n")
        write_textfile(target, render_prometheus(SNAPSHOT))
    finally:
        os.umask(old_umask)
    assert target.read_text() == render_prometheus(SNAPSHOT)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["deepart.prom"]  # no temp files left behind


def test_write_textfile_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "deepart.prom"
    write_textfile(target, "old 1\n")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_textfile(target, "new 2\n")
    assert target.read_text() == "old 1\n"
    assert os.listdir(tmp_path) == ["deepart.prom"]


def test_server_serves_metrics_over_http():
    calls = []

    def provider() -> str:
        calls.append(1)
        return render_prometheus(SNAPSHOT)

    with MetricsServer(provider, port=0) as server:
        assert server.port != 0
        url = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = resp.read().decode()
        assert parse(body)["deepart_uptime_seconds"] == {(): 900.0}
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(url + "/other", timeout=5)
        assert exc.value.code == 404
    assert calls == [1]
    with pytest.raises(OSError):  # stopped: nothing listens any more
        urllib.request.urlopen(url + "/metrics", timeout=2)


def test_server_reports_provider_failure_as_500():
    def broken() -> str:
        raise RuntimeError("store locked")

    with MetricsServer(broken, port=0) as server:
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        assert exc.value.code == 500


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_server_refuses_non_loopback_by_default(host):
    with pytest.raises(ValueError, match="non-loopback"):
        MetricsServer(lambda: "", host=host, port=0)


def test_server_allows_remote_when_asked():
    # Construction only: no need to actually listen on all interfaces in a test.
    server = MetricsServer(lambda: "", host="0.0.0.0", port=0, allow_remote=True)
    assert server.host == "0.0.0.0"


def test_localhost_name_is_loopback():
    MetricsServer(lambda: "", host="localhost", port=0)  # must not raise


def test_workers_per_node_with_state_and_progress():
    workers = [
        {"worker": "a1/cuda#0", "node": "10.0.0.2/a1", "state": "busy", "job": 7,
         "progress": {"step": 30, "total": 120}},
        {"worker": "a1/cuda#1", "node": "10.0.0.2/a1", "state": "idle", "job": None,
         "progress": None},
        {"worker": "b2/cuda#0", "node": "10.0.0.3/b2", "state": "busy", "job": 8,
         "progress": None},
    ]
    m = parse(render_prometheus(MetricsSnapshot(workers=workers)))
    assert m["deepart_workers"] == {
        (("node", "10.0.0.2/a1"), ("state", "busy")): 1,
        (("node", "10.0.0.2/a1"), ("state", "idle")): 1,
        (("node", "10.0.0.3/b2"), ("state", "busy")): 1,
    }
    assert m["deepart_worker_progress_ratio"] == {
        (("job", "7"), ("node", "10.0.0.2/a1"), ("worker", "a1/cuda#0")): 0.25}


def test_failure_labels_are_exactly_the_failure_reason_enum(tmp_path):
    from deepart_batch.journal import Journal
    from deepart_batch.core.states import FailureReason
    j = Journal(tmp_path / "journal.sqlite")
    for n, reason in enumerate(("oom", "pixels", "something older")):
        input_id = j.begin_claim(f"p{n}.jpg", "", f"/w/p{n}.jpg")
        j.finish_claim(input_id, "sha")
        job = j.add_job(input_id, f"k{n}", "", 0, "s", toy_spec(), f"/o/{n}.jpg", f"/o/{n}.json")
        j.mark_failed(job, reason, "x")
    m = parse(render_prometheus(MetricsSnapshot(failures_by_reason=j.failures_by_reason())))
    j.close()
    labels = {dict(k)["reason"]: v for k, v in m["deepart_job_failures_total"].items()}
    assert set(labels) == {r.value for r in FailureReason}
    assert (labels["oom"], labels["too_many_pixels"], labels["error"]) == (1, 1, 1)


def test_a_bad_request_is_one_debug_line_with_its_code():
    import socket

    from loguru import logger
    lines: list[tuple[str, str]] = []
    sink = logger.add(lambda m: lines.append((m.record["level"].name, m.record["message"])),
                      level="DEBUG")
    bad = (b"\x16\x03\x01garbage\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
           b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n")
    try:
        with MetricsServer(lambda: "", port=0) as server:
            for payload in bad:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
    finally:
        logger.remove(sink)
    about = [(level, text) for level, text in lines if text.startswith("metrics http:")]
    assert [level for level, _ in about] == ["DEBUG"] * 3, lines
    assert [text.rsplit(" ", 2)[1] for _, text in about] == ["400", "414", "431"], about
