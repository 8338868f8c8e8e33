"""The daemon's gallery hook: rebuild the pages in a background thread when anything changed.

The service starts it once and closes it once. The thread polls SQLite's `data_version`
(it moves whenever the daemon commits: a publish, a failure, a state change, progress) and
the held set. Changes are coalesced: at most one rebuild per `min_interval`, or per
BUSY_SHARE times the last rebuild's own time when that is longer, and each reads the newest
state, so a busy queue costs a bounded share of a core and rendering never waits for it.
A rebuild writes only the pages of the photos that changed (GalleryBuild.update); the whole
gallery is built at start, when the held set, the banner or an approval changes, and every
FULL_EVERY seconds or FULL_SHARE times its own time, whichever is longer (for what the
journal cannot say: files removed from the outbox, retention).
A failed rebuild is logged, never raised.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from loguru import logger

from ..core.layout import StateLayout
from ..journal import JournalDamaged, JournalUnavailable, open_reader
from .pages import PAGE, GalleryBuild

MIN_INTERVAL = 1.0
BUSY_SHARE = 4          # wait at least this many times the last rebuild's own time
FULL_EVERY = 3600.0     # seconds between whole builds while the daemon runs, at least,
FULL_SHARE = 100        # and at least this many times the last whole build's own time


class GalleryWriter:
    def __init__(self, config, held: Callable[[], dict[str, str]] | None = None,
                 min_interval: float = MIN_INTERVAL, cards_made: bool | None = None):
        """`cards_made`: whether this process makes style cards (styles.html says so);
        None: as the lock file's run mode says (`watch` does, `run --once` does not)."""
        self.enabled = bool(getattr(config, "gallery", True))
        self.index = Path(config.outbox) / PAGE
        self.build = GalleryBuild(Path(config.outbox), Path(config.state_dir),
                                  config.limits.max_input_pixels, config.problems.folder,
                                  Path(config.manifest), config, cards_made)
        self.db_path = StateLayout(Path(config.state_dir)).journal
        self.held = held or dict
        self.min_interval = min_interval
        self.rebuilds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""
        self._seen = None
        self._last_full = float("-inf")
        self._full_seconds = 0.0
        self.last_seconds = 0.0   # how long the last rebuild took

    def start(self) -> None:
        """Write the pages now (start-up) and keep them current from a background thread."""
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="gallery", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write the final state (e.g. the end of `run --once`)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None
        journal = None   # this process is ending: its pages stop refreshing, those still
        try:             # moving, or all of them when catching up costs more
            journal = open_reader(self.db_path, timeout=5)
            if self.build.behind(journal):
                journal.close()
                journal = None
        except (OSError, JournalUnavailable, JournalDamaged):
            if journal is not None:
                journal.close()
            journal = None
        try:
            self.rebuild(live=False, journal=journal)
        finally:
            if journal is not None:
                journal.close()

    def rebuild(self, live: bool | None = None, journal=None) -> bool:
        """Bring the pages up to date: only what changed when `journal` (the writer's
        reader) can say what did, else everything."""
        started = time.monotonic()
        try:
            held = self._held()
            written = None
            if journal is not None and started - self._last_full < \
                    max(FULL_EVERY, FULL_SHARE * self._full_seconds):
                written = self.build.update(journal, held, live=live)
            if written is None:
                self.build.run(held, live=live)
                self._last_full = started
                self._full_seconds = time.monotonic() - started
            self.rebuilds += 1
            self._last_error = ""
            return True
        except Exception as exc:   # a full disk or an odd file must not stop the daemon
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                log = logger if isinstance(exc, OSError) else logger.opt(exception=exc)
                log.warning("gallery {} not updated: {} (the renders are not affected; it "
                            "is rewritten at the next change)", self.index, message)
                self._last_error = message
            return False
        finally:
            self.last_seconds = time.monotonic() - started

    def _held(self) -> dict[str, str]:
        try:
            return dict(self.held())
        except RuntimeError:   # the set changed while it was copied: next time
            return {}

    def _manifest_error(self) -> tuple | None:
        """The manifest's error file as it is now (its banner is on every page): a saved
        mistake changes no journal row, so it is watched here."""
        manifest = self.build.manifest
        if manifest is None:
            return None
        try:
            st = Path(manifest).with_name(Path(manifest).name + ".error.json").stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _loop(self) -> None:
        journal = None
        while True:
            try:
                if journal is None and self.db_path.exists():
                    journal = open_reader(self.db_path, timeout=5)
                version = journal.data_version() if journal else None
                seen = (version, tuple(sorted(self._held().items())), self._manifest_error())
            except (OSError, JournalUnavailable, JournalDamaged):
                if journal is not None:
                    journal.close()
                journal, seen = None, None
            if seen is None or seen != self._seen:
                if self.rebuild(journal=journal) and seen is not None:
                    self._seen = seen
            if self._stop.wait(max(self.min_interval, BUSY_SHARE * self.last_seconds)):
                break
        if journal is not None:
            journal.close()
