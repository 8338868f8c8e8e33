"""Issue 25 item 4: a `watch` that waits for a running bulk pass tells systemd it is up
(READY=1) and stops at once on SIGTERM, with a real lock held by another process and a real
NOTIFY_SOCKET listener."""

import signal
import socket
import subprocess
import sys
import time

from daemon_helpers import Box, wait_for
from support.processes import start_cli

HOLDER = """
import sys, time
from pathlib import Path
from deepart_batch.daemon.lock import BULK, take_lock
fh = take_lock(Path(sys.argv[1]), BULK)
print("locked", flush=True)
time.sleep(600)
"""


def _datagrams(sock) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except (BlockingIOError, socket.timeout):
            return out


def test_watch_waiting_for_a_bulk_pass_is_ready_and_stops_on_sigterm(tmp_path):
    box = Box(tmp_path)
    box.state.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(box.state / "daemon.lock")],
                              stdout=subprocess.PIPE, text=True, env=box.env)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    proc = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = start_cli(box, "watch", env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        seen: list[str] = []
        wait_for(lambda: seen.extend(_datagrams(sock)) or any("READY=1" in d for d in seen),
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
