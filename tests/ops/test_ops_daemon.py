"""The daemon under systemd's eyes: sd_notify over a real socket, journald lines, metrics."""

import json
import os
import signal
import time

from prometheus_client.parser import text_string_to_metric_families

from support.boxes import Box, stop, wait_for
from support.journal_probe import JournalProbe
from support.notify_socket import NotifyListener as NotifySocket


def test_ready_watchdog_and_stopping_over_notify_socket(tmp_path):
    box = Box(tmp_path)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
    proc = box.start_watch(env=env)
    try:
        wait_for(lambda: notify.has("READY=1"), timeout=90, what="READY=1")
        wait_for(lambda: len(notify.has("WATCHDOG=1")) >= 3, timeout=30, what="watchdog pings")
        assert any(m.startswith("STATUS=queued") for m in notify.drain())
    finally:
        code = stop(proc, signal.SIGTERM)
    assert code == 0
    assert notify.has("STOPPING=1")
    ready_at = next(i for i, m in enumerate(notify.messages) if "READY=1" in m)
    first_ping = next(i for i, m in enumerate(notify.messages) if m == "WATCHDOG=1")
    assert ready_at < first_ping or ready_at < len(notify.messages)


def test_dead_observer_stops_watchdog_pings_and_exits_nonzero(tmp_path):
    box = Box(tmp_path)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000",
           "DEEPART_TEST_STOP_OBSERVER_AFTER": "4"}
    proc = box.start_watch(env=env)
    code = proc.wait(timeout=120)
    assert code == 3
    assert "observer died" in box.log.read_text()
    pings_before = len(notify.has("WATCHDOG=1"))
    assert pings_before >= 1
    time.sleep(1.5)
    assert len(notify.has("WATCHDOG=1")) == pings_before


def test_metrics_textfile_matches_the_journal(tmp_path):
    prom = tmp_path / "metrics" / "deepart.prom"
    prom.parent.mkdir()
    box = Box(tmp_path, metrics={"textfile": str(prom), "interval_seconds": 1}, canned=True)
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "b.jpg")
    (box.inbox / "c.jpg").write_text("not a picture")
    res = box.run_once()
    assert res.returncode == 1
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    jobs = {s.labels["state"]: s.value for s in families["deepart_jobs"].samples}
    journal = JournalProbe(box).counts()
    assert jobs["done"] == journal["done"] == 3
    assert jobs["queued"] == jobs["running"] == 0
    hist = {s.name: s.value for s in families["deepart_render_duration_seconds"].samples
            if s.name.endswith("_count")}
    assert hist["deepart_render_duration_seconds_count"] == 3
    ratio = [s for s in families["deepart_device_busy_ratio"].samples]
    assert ratio and 0 < ratio[0].value <= 1 and ratio[0].labels["device"] == "cpu"


def test_journald_stream_gets_priority_prefixes(tmp_path):
    import subprocess
    import sys
    box = Box(tmp_path)
    (box.inbox / "bad.jpg").write_text("nope")
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        env = {**box.env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        code = subprocess.run([sys.executable, "-m", "deepart_batch.cli", "run", "--once",
                               "--config", str(box.config)], stderr=err, env=env,
                              timeout=120).returncode
    assert code == 1
    lines = [l for l in err_path.read_text().splitlines() if l.startswith("<")]
    assert any(l.startswith("<4>") and "refused bad.jpg" in l for l in lines)
    assert any(l.startswith("<6>") and "manifest loaded" in l for l in lines)
    assert not any(l[3:7].isdigit() and l[7] == "-" for l in lines)  # no timestamps
