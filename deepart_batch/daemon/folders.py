"""The daemon's side of folder checks: refuse a bulk pass, or wait loudly in `watch`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from loguru import logger

from ..errors import ConfigError
from ..paths import atomic_write_json
from ..settings.folders import folder_problems

REPEAT_SECONDS = 60.0     # how often `watch` repeats the error while it waits


def require_folders(config) -> None:
    """For `run --once`: ConfigError with one line when the inbox or outbox is unusable."""
    problems = folder_problems(config)
    if problems:
        raise ConfigError("; ".join(problems) + "; nothing was rendered")


def wait_for_folders(config, notifier, status_file: Path,
                     stopping: Callable[[], bool]) -> None:
    """For `watch`: until the folders are usable (or a stop is requested), log an error
    every REPEAT_SECONDS, tell systemd (STATUS=, watchdog pings) and write the problem into
    status.json, where `deepart-batch status` shows it."""
    last_said, ready_sent = 0.0, False
    while not stopping():
        problems = folder_problems(config)
        if not problems:
            if last_said:
                logger.info("inbox and outbox are usable again; starting")
            return
        now = time.monotonic()
        if now - last_said >= REPEAT_SECONDS:
            for problem in problems:
                logger.error("waiting: {}", problem)
            last_said = now
        status = "waiting: " + "; ".join(problems)
        if not ready_sent:       # started and waiting, not failing to start
            notifier.ready(status)
            ready_sent = True
        notifier.status(status)
        notifier.watchdog()
        try:
            atomic_write_json(status_file, {"pid": os.getpid(), "time": time.time(),
                                            "mode": "watch", "waiting": problems,
                                            "workers": []})
        except OSError as exc:
            logger.warning("cannot write {}: {}", status_file, exc)
        time.sleep(1.0)
