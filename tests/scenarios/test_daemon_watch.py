"""`watch`: a real watchdog observer on real directories, signals, crashes and restarts."""

import hashlib
import json
import os
import signal
import time

from support.boxes import Box, stop, wait_for
from support.manifests import DATA


def test_half_written_file_is_rendered_once_after_it_is_complete(tmp_path):
    box = Box(tmp_path, watch={"settle_seconds": 2.0})
    proc = box.start_watch()
    try:
        data = (DATA / "golden_gate.jpg").read_bytes()
        target = box.inbox / "slow.jpg"
        with open(target, "wb") as fh:       # an uploader that writes in two halves
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(1.0)
            fh.write(data[len(data) // 2:])
        wait_for(lambda: (box.outbox / "slow.scream.json").exists(), what="the output report")
        report = json.loads((box.outbox / "slow.scream.json").read_text())
        assert report["input"]["sha256"] == hashlib.sha256(data).hexdigest()
        wait_for(lambda: (box.state / "done/slow.jpg").exists(), what="archive")
        assert not (box.state / "failed").exists() or not any((box.state / "failed").iterdir())
        assert box.status()["counts"] == {"queued": 0, "running": 0, "waiting": 0, "held": 0,
                                          "done": 1, "failed": 0, "retried": 0}
    finally:
        assert stop(proc) == 0


def test_manifest_edits_take_effect_and_bad_edits_keep_the_old_one(tmp_path):
    box = Box(tmp_path)
    proc = box.start_watch()
    error_file = box.root / "manifest.yaml.error.json"
    try:
        box.drop("tubingen.jpg", "one.jpg")
        wait_for(lambda: (box.outbox / "one.scream.jpg").exists(), what="first output")
        box.manifest.write_text(box.manifest.read_text() + "  - match: [broken\n")
        wait_for(error_file.exists, what="manifest error file")
        assert "manifest.yaml" in error_file.read_text()
        box.drop("golden_gate.jpg", "two.jpg")   # still rendered with the last good manifest
        wait_for(lambda: (box.outbox / "two.scream.jpg").exists(), what="output under old manifest")
        box.manifest.write_text(box.manifest.read_text().split("  - match: [broken")[0]
                                .replace("outputs: [{style: scream}]", "outputs: [{style: starry}]"))
        wait_for(lambda: not error_file.exists(), what="error file cleared")
        box.drop("the_scream.jpg", "three.jpg")
        wait_for(lambda: (box.outbox / "three.starry.jpg").exists(), what="output under new manifest")
        assert not (box.outbox / "three.scream.jpg").exists()
    finally:
        assert stop(proc) == 0
    assert "keeping the last good manifest" in box.log.read_text().lower() or \
        "last good" in box.log.read_text().lower()


def _running_progress(box):
    info = box.status()
    running = info["running"]
    return running and running[0]["progress"] and running[0]["progress"]["step"] >= 2 and running[0]


def test_kill_9_mid_job_then_restart_finishes_without_duplicates(tmp_path):
    box = Box(tmp_path, defaults={"steps": 40})
    proc = box.start_watch()
    box.drop("tubingen.jpg", "city/photo.jpg")
    wait_for(lambda: _running_progress(box), what="a job in progress")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (box.outbox / "city").mkdir(parents=True, exist_ok=True)
    (box.outbox / "city" / ".photo.starry.jpg.abc123.part").write_bytes(b"torn write")
    assert box.status()["counts"]["running"] >= 1
    proc = box.start_watch(log_name="watch2.log")
    try:
        wait_for(lambda: (box.state / "done/city/photo.jpg").exists(), timeout=240,
                 what="input archived after restart")
    finally:
        assert stop(proc) == 0
    assert box.outputs() == ["city/photo.starry-70_scream-30.jpg", "city/photo.starry.jpg"]
    assert box.temp_files() == []
    info = box.status()
    assert info["counts"] == {"queued": 0, "running": 0, "waiting": 0, "held": 0,
                              "done": 2, "failed": 0, "retried": 0}
    assert "queued again" in box.log.with_name("watch2.log").read_text()


def test_sigterm_during_a_job_exits_0_and_loses_nothing(tmp_path):
    box = Box(tmp_path, defaults={"steps": 400}, drain_seconds=2)
    proc = box.start_watch()
    box.drop("golden_gate.jpg", "long.jpg")
    wait_for(lambda: _running_progress(box), what="a job in progress")
    started = time.monotonic()
    assert stop(proc, signal.SIGTERM) == 0
    assert time.monotonic() - started < 30
    info = box.status()
    assert info["counts"]["running"] == 0
    assert info["counts"]["queued"] + info["counts"]["done"] == 1
    assert "did not finish within drain_seconds: queued again" in box.log.read_text()
    assert list((box.state / "work").iterdir())  # the claimed input waits for the next start
