"""The daemon CLI as a background process with any arguments (watch, run --once), logging
to a file in the box; and a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys


def start_cli(box, *args, env=None, log_name="daemon.log", **popen) -> subprocess.Popen:
    """`deepart-batch ARGS --config box.config` in its own session; box.log is its output."""
    box.log = box.root / log_name
    fh = open(box.log, "w")
    return subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", *map(str, args),
                             "--config", str(box.config)], stdout=fh, stderr=subprocess.STDOUT,
                            env={**box.env, **(env or {})}, start_new_session=True, **popen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
