"""Watching the inbox: a watchdog observer feeds candidates; a settle check releases them.

The observer only says "look at this path". Whether a file is complete is decided by
stat: size and mtime unchanged for settle_seconds. Start-up scans and periodic rescans feed
the same candidate table, so overlap with observer events de-duplicates itself.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from threading import Lock

from loguru import logger
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

# During bursts watchdog re-adds the watch of a folder it already watches and warns
# "Callback with id ... already exists ... will be Overwritten": harmless (the same
# callback replaces itself), and noise in the journal; drop just that record.
logging.getLogger("watchdog.observers.inotify_c").addFilter(
    lambda record: "already exists for watch" not in record.getMessage())

NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
              "lustre", "gpfs", "davfs", "sshfs", "virtiofs"}


def filesystem_type(path: str | os.PathLike) -> str:
    """The fs type of the mount holding `path`, from /proc/self/mounts (longest prefix)."""
    real = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        with open("/proc/self/mounts") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = fields[1].replace("\\040", " ")
                if (real == mount or real.startswith(mount.rstrip("/") + "/")) \
                        and len(mount) > len(best):
                    best, fstype = mount, fields[2]
    except OSError:
        pass
    return fstype


def needs_polling(path, mode: str) -> bool:
    """inotify sees no changes made by other hosts on NFS/SMB/FUSE mounts: poll there."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    fstype = filesystem_type(path)
    return fstype in NETWORK_FS or fstype.startswith("fuse")


def is_ignored(relpath: str, patterns: list[str]) -> bool:
    parts = PurePosixPath(relpath).parts
    if any(p.startswith(".") for p in parts):  # dotfiles and anything in hidden folders
        return True
    name = parts[-1] if parts else relpath
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    stable_since: float


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "InboxWatcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        path = getattr(event, "dest_path", "") or event.src_path
        if event.event_type in ("created", "modified", "moved", "closed"):
            self.watcher.notice(Path(os.fsdecode(path)))


class InboxWatcher:
    def __init__(self, inbox: Path, settle_seconds: float, ignore: list[str],
                 polling: str = "auto", poll_interval: float = 2.0,
                 exclude: tuple[Path, ...] = ()):
        self.inbox = Path(inbox)
        self.settle_seconds = settle_seconds
        self.ignore = list(ignore)
        self.exclude = {Path(os.path.realpath(p)) for p in exclude}
        self.polling = needs_polling(self.inbox, polling)
        self.poll_interval = poll_interval
        self._candidates: dict[Path, _Candidate | None] = {}
        self.unreadable: dict[Path, str] = {}   # folders the last scan could not list
        self._lock = Lock()
        self.observer = None

    def start(self) -> None:
        """Observe the inbox (which must exist: it is never created here), then scan it."""
        cls = PollingObserver if self.polling else Observer
        self.observer = cls(timeout=self.poll_interval) if self.polling else cls()
        self.observer.schedule(_Handler(self), str(self.inbox), recursive=True)
        self.observer.start()  # before the scan, so nothing dropped meanwhile is missed
        logger.info("watching {} with {}", self.inbox,
                    "polling" if self.polling else "inotify")
        self.scan()

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)

    def restart(self) -> None:
        """A new observer on the inbox as it is now: inotify stops for good, silently, when
        the watched folder is deleted (its thread lives on), and never sees a new folder
        made under the same name."""
        self.stop()
        self.start()

    def alive(self) -> bool:
        return self.observer is not None and self.observer.is_alive()

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.inbox).as_posix()

    def notice(self, path: Path) -> None:
        try:
            rel = self.relpath(path)
        except ValueError:
            return
        if is_ignored(rel, self.ignore) or Path(os.path.realpath(path)) in self.exclude:
            return
        with self._lock:
            self._candidates.setdefault(path, None)

    def scan(self) -> int:
        """Walk the inbox (start-up and periodic safety net); returns files noticed."""
        found, unreadable = 0, {}

        def onerror(exc: OSError) -> None:   # a folder we may not list: said, not skipped
            if exc.errno in (errno.EACCES, errno.EPERM) and exc.filename:
                unreadable[Path(exc.filename)] = exc.strerror or str(exc)

        for root, dirs, files in os.walk(self.inbox, onerror=onerror):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                self.notice(Path(root) / name)
                found += 1
        self.unreadable = unreadable
        return found

    def pending(self) -> int:
        with self._lock:
            return len(self._candidates)

    def settled(self, now: float | None = None) -> list[Path]:
        """Candidates whose size and mtime held still for settle_seconds; they leave the table."""
        now = time.monotonic() if now is None else now
        ready = []
        with self._lock:
            for path, seen in list(self._candidates.items()):
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    del self._candidates[path]
                    continue
                if seen is None or (st.st_size, st.st_mtime_ns) != (seen.size, seen.mtime_ns):
                    self._candidates[path] = _Candidate(st.st_size, st.st_mtime_ns, now)
                elif now - seen.stable_since >= self.settle_seconds:
                    del self._candidates[path]
                    ready.append(path)
        return sorted(ready)
