"""The daemon's side of folder checks: refuse a bulk pass, or wait loudly in `watch`; and,
once running, `FolderWatch`: the inbox, outbox and state_dir looked at again every tick."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from loguru import logger

from ...errors import ConfigError
from ..events import FolderBack, FolderMissing
from ...paths import atomic_write_json, folder_problem, guard_folder
from ...settings.folders import folder_problems

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


class FolderWatch:
    """Every tick, one stat per folder: is each still the folder it was at start (there, a
    folder, on the same device)? A change is logged once each way and announced
    (FOLDER_MISSING, FOLDER_BACK) on the service's bus; receivers stop and resume the work
    that needs the folder. The outbox and state_dir are guarded (paths.guard_folder): no
    write re-creates them while they are gone. An inbox deleted and made again comes back
    as FOLDER_BACK with replaced=True (its observer must watch the new folder)."""

    def __init__(self, folders: dict[str, Path], events, guard: tuple[str, ...] = ()):
        self.folders = {key: Path(path) for key, path in folders.items()}
        self.events = events
        self.guard = guard
        self.missing: dict[str, str] = {}       # folder key -> the problem, while it lasts
        self._ids: dict[str, tuple[int, int]] = {}

    def start(self) -> None:
        """Remember each folder as it is now (once they are all there: wait_for_folders)."""
        for key, path in self.folders.items():
            st = os.stat(path)
            self._ids[key] = (st.st_dev, st.st_ino)
            if key in self.guard:
                guard_folder(path)

    def check(self) -> list[str]:
        """The folders that came back since the last check (the service resumes their
        work by a direct call; FOLDER_BACK only tells the receivers)."""
        back = []
        for key, path in self.folders.items():
            dev, ino = self._ids[key]
            problem = folder_problem(path, dev)
            if problem is not None:
                if key not in self.missing:
                    self.missing[key] = f"{key} {problem}"
                    logger.error("{} {}: {} stops until it is back, and nothing is created in "
                                 "its place", key, problem, _WHAT_STOPS.get(key, "its work"))
                    self.events.emit(FolderMissing(folder=key, path=str(path),
                                                   detail=self.missing[key]))
                continue
            try:
                now_ino = os.stat(path).st_ino
            except OSError:
                continue   # gone between two stats: seen at the next tick
            replaced = now_ino != ino
            self._ids[key] = (dev, now_ino)
            if key in self.missing or replaced:
                self.missing.pop(key, None)
                logger.info("{} {} is back{}; resuming", key, path,
                            " (a new folder)" if replaced else "")
                back.append(key)
                self.events.emit(FolderBack(folder=key, path=str(path), replaced=replaced))
        return back

    def is_missing(self, key: str) -> bool:
        return key in self.missing

    def problems(self) -> list[str]:
        return list(self.missing.values())


_WHAT_STOPS = {"outbox": "publishing", "inbox": "taking new photos",
               "state": "all work (the journal's folder)"}
