"""What the team sees when a photo finishes, fails, waits or goes on (prints and style
cards too): the problems folder, the outbox `.error.json` and notifications, kept
consistent in one place.

It receives the service's photo events (daemon/events.py); none of its receivers raises for
an outbox or an endpoint in trouble, so telling the team can never stop the daemon.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path, PurePosixPath
from typing import Callable

from loguru import logger

from ...paths import UnsafePathError
from ..outcomes import publish
from . import problems
from .event_bodies import build_event, photo_key
from ...notifications.notifier import Notifier
from ...core.state_texts import message, plain
from ...core.states import DaemonEvent, FailureReason
from ..events import (FolderBack, FolderMissing, Finished, PassFinished, PhotoFailed,
                      PhotoHeld, PhotoReleased)
from ..outcomes.archive import ERROR_SUFFIX
from ..schedule.policy import backoff

RETRY_SECONDS = 5.0   # how often what the outbox refused is tried again


class TeamDesk:
    def __init__(self, config, notifier: Notifier | None = None, journal=None):
        """`journal`: the daemon's own, where events wait until they are sent."""
        self.outbox = Path(config.outbox)
        self.folder = config.problems.folder
        self.subfolder = config.output.reports == "subfolder"
        self.journal = journal
        self.notifier = notifier or Notifier.for_box(config, backoff, journal)
        self._notify = self._notify_settings(config)   # what the notifier was built from
        self.retry_seconds = RETRY_SECONDS
        self._unwritten: dict[str, Callable[[bool], bool]] = {}  # photo -> write it again
        self._last_try = time.monotonic()

    def apply(self, config) -> None:
        """A reloaded config: a new notifier when the notify settings changed (the old
        one is given two seconds to deliver what it holds; the new one sends the rest)."""
        if self._notify_settings(config) == self._notify:
            return
        self.notifier.close(wait=2)
        self.notifier = Notifier.for_box(config, backoff, self.journal)
        self._notify = self._notify_settings(config)

    @staticmethod
    def _notify_settings(config):
        """What the notifier is built from: the notify section and the gallery links."""
        return copy.deepcopy(config.notify), config.gallery_base_url

    def outbox_relative(self, path: str) -> str:
        """A path as the team sees it on the share: relative to the outbox."""
        try:
            return Path(path).relative_to(os.path.realpath(self.outbox)).as_posix()
        except ValueError:
            try:
                return Path(path).relative_to(self.outbox).as_posix()
            except ValueError:
                return Path(path).name

    def connect(self, bus) -> None:
        """Receive the photo events and the end of a bulk pass from the service's bus."""
        bus.connect(self.done, DaemonEvent.PHOTO_DONE)
        bus.connect(self.failed, DaemonEvent.PHOTO_FAILED)
        bus.connect(self.held, DaemonEvent.PHOTO_HELD)
        bus.connect(self.released, DaemonEvent.PHOTO_RELEASED)
        bus.connect(self.done, DaemonEvent.PRINT_READY, DaemonEvent.CARD_READY)
        bus.connect(self.pass_finished, DaemonEvent.PASS_FINISHED)
        bus.connect(self.write_unwritten, DaemonEvent.TICK)
        bus.connect(self.folder_missing, DaemonEvent.FOLDER_MISSING)
        bus.connect(self.folder_back, DaemonEvent.FOLDER_BACK)

    # -- receivers --------------------------------------------------------------------------
    def done(self, event: Finished) -> None:
        """All renders are in the outbox (a photo's, a print's or a style card's): any
        earlier problem entry and error report go."""
        photo = event.photo
        self._unwritten.pop(photo, None)
        if problems.clear_problem(self.outbox, self.folder, photo, self._error_json(photo)):
            logger.info("{}: rendered now; its problem note and error report are removed",
                        photo)
        self.notifier.emit(build_event(event.kind, photo=photo, campaign=event.campaign,
                                       outputs=[self.outbox_relative(o) for o in event.outputs],
                                       jobs=list(event.jobs), styles=event.styles,
                                       key=photo_key(event.input, event.kind, event.holds)))

    def released(self, event: PhotoReleased) -> None:
        """A held photo goes on: the team hears (its note stays until it is done)."""
        self.notifier.emit(build_event(DaemonEvent.PHOTO_RELEASED, photo=event.photo,
                                       campaign=event.campaign, reason=event.reason,
                                       jobs=list(event.jobs), styles=event.styles,
                                       key=photo_key(event.input, DaemonEvent.PHOTO_RELEASED,
                                                     event.holds)))

    def failed(self, event: PhotoFailed) -> None:
        """Went to failed/: a note beside a copy of the photo, an error report in the
        outbox beside where its renders would be, and a failed event."""
        photo, campaign, reason, detail = event.photo, event.campaign, event.reason, \
            event.detail
        archived, jobs, time = event.archived, list(event.jobs), event.time
        reason = FailureReason.parse(reason)
        text = problems.problem_text(photo, reason, detail, held=False,
                                     reference=_jobs_ref(jobs))
        what, todo = message(reason, PurePosixPath(photo).name, detail)
        team_error = {"input": photo, "time": time, "reason": reason.value,
                      "category": reason.category.value, "message": what, "todo": todo,
                      "detail": plain(detail), "error": plain(detail)}  # no server paths
        wrote = {"note": False, "error": False}

        def write(first: bool) -> bool:
            if not wrote["note"]:
                wrote["note"] = problems.write_problem(self.outbox, self.folder, photo,
                                                       archived, text, quiet=not first) \
                    is not None
            if not wrote["error"]:
                wrote["error"] = publish.publish_error(self.outbox, photo, team_error,
                                                      self.subfolder) is not None
                if not wrote["error"] and first:
                    beside = f"; it is in {archived}{ERROR_SUFFIX}" if archived else ""
                    logger.warning("{}: could not write its error report into the outbox{}; "
                                   "written when the outbox takes it", photo, beside)
            return wrote["note"] and wrote["error"]

        if not write(True):
            self._unwritten[photo] = write
        self.notifier.emit(build_event(DaemonEvent.PHOTO_FAILED, photo=photo,
                                       campaign=campaign, reason=reason, detail=detail,
                                       jobs=jobs, styles=event.styles,
                                       key=photo_key(event.input, DaemonEvent.PHOTO_FAILED,
                                                     event.holds)))

    def write_unwritten(self, _tick=None) -> None:
        """Each tick (at most every retry_seconds): what the outbox refused before, again.
        Written once it takes it; nothing is logged again meanwhile."""
        if not self._unwritten or time.monotonic() - self._last_try < self.retry_seconds:
            return
        self._last_try = time.monotonic()
        for photo, write in list(self._unwritten.items()):
            if write(False):
                self._unwritten.pop(photo, None)
                logger.info("{}: its problem note and error report are in the outbox now",
                            photo)

    def held(self, event: PhotoHeld) -> None:
        """Waiting for the setup: the note says so; one event per photo, when it first waits."""
        photo, campaign, reason, detail = event.photo, event.campaign, event.reason, \
            event.detail
        work_copy, first, jobs = event.work_copy, event.first, event.jobs
        reason = FailureReason.parse(reason)
        text = problems.problem_text(photo, reason, detail, held=True,
                                     reference=_jobs_ref(jobs))
        problems.write_problem(self.outbox, self.folder, photo, work_copy, text)
        if first:
            self.notifier.emit(build_event(DaemonEvent.PHOTO_HELD, photo=photo,
                                           campaign=campaign, reason=reason, detail=detail,
                                           jobs=list(jobs), styles=event.styles,
                                           key=photo_key(event.input, DaemonEvent.PHOTO_HELD,
                                                         event.holds)))

    def folder_missing(self, event: FolderMissing) -> None:
        """The inbox, outbox or state_dir went: the team's tools hear it (and its return)."""
        self.notifier.emit(build_event(DaemonEvent.FOLDER_MISSING, detail=event.detail))

    def folder_back(self, event: FolderBack) -> None:
        self.notifier.emit(build_event(DaemonEvent.FOLDER_BACK,
                                       detail=f"{event.folder} {event.path}"))

    def pass_finished(self, event: PassFinished) -> None:
        self.notifier.emit(build_event(DaemonEvent.PASS_FINISHED, counts=event.counts()))

    def retried(self, relpath: str) -> None:
        self._unwritten.pop(relpath, None)
        problems.clear_problem(self.outbox, self.folder, relpath, self._error_json(relpath))

    def close(self, wait: float) -> None:
        self.notifier.close(wait)

    def _error_json(self, relpath: str) -> Path | None:
        try:
            return publish.error_report_path(self.outbox, relpath)
        except UnsafePathError:
            return None


def _jobs_ref(job_ids) -> str:
    ids = list(job_ids)
    return f"job{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}" if ids else ""
