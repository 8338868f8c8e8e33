"""The daemon CLI as a background process with any arguments (watch, run --once), logging
to a file in the box (Box.start_watch is its `watch`); and a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys


def start_cli(box, *args, env=None, log_name="daemon.log", python=sys.executable,
              **popen) -> subprocess.Popen:
    """`deepart-batch ARGS --config box.config` in its own session, as a real process:
    the one way tests start a daemon process (`watch`, `run --once`) and let it run;
    box.log is its output. `python`: the interpreter (a service user's venv); `popen`:
    more subprocess arguments (user, group)."""
    box.log = box.root / log_name
    with open(box.log, "w") as fh:   # the child keeps its own copy of the descriptor
        return subprocess.Popen([python, "-m", "deepart_batch.cli", *map(str, args),
                                 "--config", str(box.config)], stdout=fh,
                                stderr=subprocess.STDOUT, env={**box.env, **(env or {})},
                                start_new_session=True, **popen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
