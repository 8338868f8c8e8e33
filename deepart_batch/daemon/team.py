"""What the team sees when a photo finishes, fails or waits: the problems folder, the
outbox `.error.json` and notifications, kept consistent in one place.

The service calls these at its decision points; none of them raises for an outbox or an
endpoint in trouble, so telling the team can never stop the daemon.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from loguru import logger

from ..paths import UnsafePathError
from . import outbox, problems
from .notify import TeamNotifier, build_event
from ..core.states import NoticeKind, FailureReason, message, plain


class TeamDesk:
    def __init__(self, config, notifier: TeamNotifier | None = None):
        self.outbox = Path(config.outbox)
        self.folder = config.problems.folder
        self.notifier = notifier or TeamNotifier.from_config(config.notify)

    def outbox_relative(self, path: str) -> str:
        """A path as the team sees it on the share: relative to the outbox."""
        try:
            return Path(path).relative_to(os.path.realpath(self.outbox)).as_posix()
        except ValueError:
            try:
                return Path(path).relative_to(self.outbox).as_posix()
            except ValueError:
                return Path(path).name

    # -- decision points ------------------------------------------------------------------
    def done(self, relpath: str, campaign: str, outputs: list[str], job_ids: list[int]) -> None:
        """All renders are in the outbox: any earlier problem entry and error report go."""
        if problems.clear_problem(self.outbox, self.folder, relpath, self._error_json(relpath)):
            logger.info("{}: rendered now; its problem note and error report are removed",
                        relpath)
        self.notifier.emit(build_event(NoticeKind.DONE, photo=relpath, campaign=campaign,
                                       outputs=[self.outbox_relative(o) for o in outputs],
                                       jobs=job_ids))

    def failed(self, relpath: str, campaign: str, reason, detail: str, photo: Path | None,
               job_ids: list[int], when: float | None = None) -> dict:
        """Went to failed/: a note beside a copy of the photo, and a failed event. Returns
        the plain fields for the outbox error report."""
        reason = FailureReason.parse(reason)
        text = problems.problem_text(relpath, reason, detail, held=False, when=when,
                                     reference=_jobs_ref(job_ids))
        problems.write_problem(self.outbox, self.folder, relpath, photo, text)
        self.notifier.emit(build_event(NoticeKind.FAILED, photo=relpath, campaign=campaign,
                                       reason=reason, detail=detail, jobs=job_ids))
        what, todo = message(reason, PurePosixPath(relpath).name, detail)
        return {"reason": reason.value, "category": reason.category.value, "message": what,
                "todo": todo, "detail": plain(detail)}

    def held(self, relpath: str, campaign: str, reason, detail: str, photo: Path | None,
             first: bool, job_ids: list[int] = ()) -> None:
        """Waiting for the setup: the note says so; one event per photo, when it first waits."""
        reason = FailureReason.parse(reason)
        text = problems.problem_text(relpath, reason, detail, held=True,
                                     reference=_jobs_ref(job_ids))
        problems.write_problem(self.outbox, self.folder, relpath, photo, text)
        if first:
            self.notifier.emit(build_event(NoticeKind.HELD, photo=relpath, campaign=campaign,
                                           reason=reason, detail=detail, jobs=list(job_ids)))

    def retried(self, relpath: str) -> None:
        problems.clear_problem(self.outbox, self.folder, relpath, self._error_json(relpath))

    def pass_finished(self, counts: dict) -> None:
        self.notifier.emit(build_event(NoticeKind.PASS_FINISHED, counts=counts))

    def close(self, wait: float) -> None:
        self.notifier.close(wait)

    def _error_json(self, relpath: str) -> Path | None:
        try:
            return outbox.error_report_path(self.outbox, relpath)
        except UnsafePathError:
            return None


def _jobs_ref(job_ids) -> str:
    ids = list(job_ids)
    return f"job{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}" if ids else ""
