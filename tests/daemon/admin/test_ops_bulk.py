"""The nightly bulk pass beside the daemon, and missing inbox/outbox folders."""

import os
import shutil
import time

from support.boxes import Box, stop, wait_for

from deepart_batch.daemon.admin.lock import BULK, DAEMON, read_holder, take_lock


def _daemon_up(box):
    d = box.status()["daemon"]
    return d and d["alive"] and d["mode"] == "watch" and d


def test_bulk_pass_beside_a_running_daemon_exits_0(tmp_path):
    box = Box(tmp_path)
    proc = box.start_watch()
    try:
        wait_for(lambda: _daemon_up(box), timeout=120, what="daemon up")
        assert read_holder(box.state / "daemon.lock") == (proc.pid, DAEMON)
        res = box.run_once(timeout=120)
        assert res.returncode == 0, res.stderr
        assert "the daemon handles the inbox" in res.stderr.strip().splitlines()[-1]
        assert str(proc.pid) in res.stderr
    finally:
        assert stop(proc) == 0


def test_two_bulk_passes_at_once_the_second_exits_75(tmp_path):
    box = Box(tmp_path)
    box.state.mkdir()
    held = take_lock(box.state / "daemon.lock", BULK)     # this process: the first pass
    try:
        res = box.run_once(timeout=120)
        assert res.returncode == 75, res.stderr
        assert "bulk pass" in res.stderr and str(os.getpid()) in res.stderr
    finally:
        held.close()


def test_daemon_waits_for_a_bulk_pass_then_starts(tmp_path):
    box = Box(tmp_path)
    box.state.mkdir()
    held = take_lock(box.state / "daemon.lock", BULK)
    proc = box.start_watch()
    try:
        wait_for(lambda: "waiting for it to finish" in box.log.read_text(), timeout=60,
                 what="daemon saying it waits")
        assert proc.poll() is None
        held.close()
        wait_for(lambda: _daemon_up(box), timeout=120, what="daemon up after the bulk pass")
    finally:
        held.close()
        assert stop(proc) == 0


def test_missing_inbox_fails_the_bulk_pass_with_one_line(tmp_path):
    box = Box(tmp_path)
    shutil.rmtree(box.inbox)
    res = box.run_once(timeout=120)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("deepart-batch: error: inbox ") and str(box.inbox) in last, last
    assert "does not exist" in last and "mounted" in last
    assert "Traceback" not in res.stderr
    assert not box.inbox.exists()          # never created: that would hide a missing mount


def test_daemon_waits_loudly_for_a_missing_outbox(tmp_path):
    box = Box(tmp_path)
    shutil.rmtree(box.outbox)
    proc = box.start_watch()
    try:
        waiting = wait_for(lambda: (_daemon_up(box) or {}).get("waiting"), timeout=60,
                           what="status showing the wait")
        assert "outbox" in waiting[0] and "does not exist" in waiting[0]
        text = box.cli("status", "--config", box.config, timeout=60).stdout
        assert "WAITING: outbox" in text
        assert "ERROR" in box.log.read_text() and not box.outbox.exists()
        box.outbox.mkdir()
        wait_for(lambda: "usable again" in box.log.read_text() and
                 not box.status()["daemon"]["waiting"], timeout=60, what="the wait to end")
        wait_for(lambda: "watching" in box.log.read_text(), timeout=120, what="watching")
    finally:
        assert stop(proc) == 0


def test_validate_checks_the_folders(tmp_path):
    box = Box(tmp_path)
    shutil.rmtree(box.inbox)
    box.outbox.chmod(0o500)
    try:
        res = box.cli("validate", "--config", box.config, timeout=60)
    finally:
        box.outbox.chmod(0o700)
    assert res.returncode == 2
    assert f"inbox {box.inbox} does not exist" in res.stderr
    if os.geteuid() != 0:                  # root may write anywhere
        assert "cannot write" in res.stderr
