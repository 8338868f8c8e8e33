"""A `watch` that waits for a running bulk pass tells systemd it is up
(READY=1) and stops at once on SIGTERM, with a real lock held by another process and a real
NOTIFY_SOCKET listener."""

import signal
import subprocess
import sys
import time

from support.boxes import Box, wait_for
from support.notify_socket import NotifyListener
from support.processes import start_cli

HOLDER = """
import sys, time
from pathlib import Path
from deepart_batch.daemon.admin.lock import BULK, take_lock
fh = take_lock(Path(sys.argv[1]), BULK)
print("locked", flush=True)
time.sleep(600)
"""


def test_watch_waiting_for_a_bulk_pass_is_ready_and_stops_on_sigterm(tmp_path):
    box = Box(tmp_path)
    box.state.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(box.state / "daemon.lock")],
                              stdout=subprocess.PIPE, text=True, env=box.env)
    sock = NotifyListener(tmp_path / "notify.sock", timeout=0.2)
    proc = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = start_cli(box, "watch", env={"NOTIFY_SOCKET": sock.address})
        seen = sock.messages                 # every datagram received, in order
        wait_for(lambda: any("READY=1" in d for d in sock.drain()),
                 timeout=60, what="READY=1 while waiting for the bulk pass")
        assert any("waiting for it to finish" in d for d in seen), seen
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)    # before the fix: still alive after minutes
        took = time.monotonic() - sent
        print(f"stopped {took:.2f} s after SIGTERM")
        assert code == 0, box.log.read_text()
        log = box.log.read_text()
        assert "Traceback" not in log
        assert "stop requested" in log
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        holder.kill()
        holder.wait()
        sock.close()


def test_watch_waiting_for_a_bulk_pass_survives_a_reload_and_applies_it_when_it_starts(tmp_path):
    """`systemctl reload` (SIGHUP) while `watch` waits for the box lock: the daemon stays
    up, and the reload is applied once the bulk pass is gone and the daemon starts."""
    box = Box(tmp_path, canned=True)
    box.state.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(box.state / "daemon.lock")],
                              stdout=subprocess.PIPE, text=True, env=box.env)
    proc = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = start_cli(box, "watch")
        wait_for(lambda: "waiting for it to finish" in box.log.read_text(),
                 timeout=60, what="the daemon waiting for the bulk pass")
        box.rewrite_config(defaults={"size": 48})
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None, f"killed by the reload ({proc.returncode}): " + \
            box.log.read_text()
        holder.kill()
        holder.wait()
        wait_for(lambda: "reload: applied defaults" in box.log.read_text(),
                 timeout=60, what="the deferred reload once the daemon started")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, box.log.read_text()
        assert "Traceback" not in box.log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if holder.poll() is None:
            holder.kill()
            holder.wait()
