"""What a `run --once` bulk pass tells the person or cron job that started it: progress as
"n of N renders finished", one exit code per way it ended, and a summary line saying which.

Exit codes (README, "Bulk runs"): 0 everything done; 1 some failed; 20 some photos held or
left untaken; 21 stopped (SIGTERM) before the end. 1 is what earlier versions used for any
trouble; 20-29 is this module's range, clear of 2 (usage), 3 (observer died) and 75
(locked). When several apply, the first of stopped, failed, held wins.
"""

from __future__ import annotations

from loguru import logger

from ...core.style_card_names import STYLES_FOLDER, photo_jobs
from ...core.states import DaemonEvent, FailureReason, InputState, JobState, PassOutcome

EXIT_DONE, EXIT_SOME_FAILED, EXIT_HELD_OR_LEFT, EXIT_STOPPED = 0, 1, 20, 21
EXIT_CODES = {PassOutcome.DONE: EXIT_DONE, PassOutcome.SOME_FAILED: EXIT_SOME_FAILED,
              PassOutcome.HELD_OR_LEFT: EXIT_HELD_OR_LEFT, PassOutcome.STOPPED: EXIT_STOPPED}


def outcome(summary) -> PassOutcome:
    if summary.stopped:
        return PassOutcome.STOPPED
    if summary.jobs_failed or summary.inputs_failed:
        return PassOutcome.SOME_FAILED
    if summary.held or summary.left_photos or summary.left_jobs:
        return PassOutcome.HELD_OR_LEFT
    return PassOutcome.DONE


def exit_code(summary) -> int:
    return EXIT_CODES[outcome(summary)]


def verdict_line(summary) -> str:
    """The one line a cron mail or a terminal ends with: how the pass ended, and its code."""
    s, how = summary, outcome(summary)
    if how is PassOutcome.STOPPED:
        text = (f"stopped before the end: {s.left_jobs} render(s) left queued, "
                f"{s.left_photos} photo(s) left in the inbox; the next run or the daemon "
                f"finishes them")
    elif how is PassOutcome.SOME_FAILED:
        text = (f"some failed: {s.inputs_failed} photo(s), {s.jobs_failed} render(s); see "
                f"deepart-batch status")
    elif how is PassOutcome.HELD_OR_LEFT:
        text = (f"held or left: {s.held} photo(s) held, {s.left_photos} left untaken in the "
                f"inbox; they render once the setup is fixed (deepart-batch status)")
    else:
        text = f"everything done: {s.inputs_done} photo(s), {s.jobs_done} render(s)"
    return f"  result: {text} (exit {EXIT_CODES[how]})"


class PassProgress:
    """Receiver: one "n of N renders finished" line per finished render of the pass."""

    def __init__(self, journal, summary):
        self.journal, self.summary = journal, summary

    def connect(self, bus) -> None:
        bus.connect(self.finished, DaemonEvent.JOB_DONE)
        bus.connect(self.finished, DaemonEvent.JOB_FAILED)

    def finished(self, _event) -> None:
        s = self.summary
        n = s.jobs_done + s.jobs_failed
        total = n + self.journal.count_unfinished_outside(STYLES_FOLDER)   # cards: apart
        failed = f" ({s.jobs_failed} failed)" if s.jobs_failed else ""
        logger.info("progress: {} of {} renders finished{}", n, total, failed)


class PassEnd:
    """How a bulk pass ends: its summary lines (logged where they arise, repeated at the
    end), what it leaves (held, queued, untaken) and its exit code. The run's counts are
    Outcomes' (RunSummary); this adds what is left when the pass stops."""

    def __init__(self, summary, journal, holding, watcher, layout, config):
        self.summary, self.journal, self.holding = summary, journal, holding
        self.watcher, self.layout, self.config = watcher, layout, config

    def note(self, message: str, level: str) -> None:
        """A line of the bulk pass's summary: logged now, repeated at the end."""
        logger.opt(depth=1).log(level, message)   # the caller's place in the record
        self.summary.failures.append(message)

    def count_what_is_left(self) -> None:
        """For the bulk pass's summary and exit code: held, queued, untaken."""
        s = self.summary
        untaken = self.holding.in_inbox(FailureReason.INBOX_PERMISSIONS)
        s.held = len(photo_jobs(self.journal.held())) + \
            len(self.journal.inputs_in(InputState.HELD)) + \
            len(self.holding.in_inbox(FailureReason.MANIFEST_INVALID))
        s.left_jobs = len(photo_jobs(self.journal.jobs_in(JobState.QUEUED, JobState.RUNNING,
                                                          JobState.WAITING)))
        s.left_photos = self.watcher.pending() + len(untaken)

    def stopped(self) -> int:
        """SIGTERM before the end: the exit code of a stopped pass."""
        self.summary.stopped = True
        self.count_what_is_left()
        return exit_code(self.summary)

    def finish(self) -> int:
        """Everything present is done, failed or held: the last summary lines, exit code."""
        held_jobs = photo_jobs(self.journal.held())
        if held_jobs:
            message = (f"{len(held_jobs)} job(s) held: {held_jobs[0].error}; their photos wait "
                       f"in {self.layout.work} and are rendered by the next run or the daemon")
            self.note(message, "WARNING")
        held_photos = self.journal.inputs_in(InputState.HELD)
        if held_photos:
            message = (f"{len(held_photos)} photo(s) held ({held_photos[0].reason}: "
                       f"{held_photos[0].error}); see deepart-batch status and "
                       f"{self.config.problems.folder}/ in the outbox")
            self.note(message, "WARNING")
        untaken = self.holding.in_inbox(FailureReason.INBOX_PERMISSIONS)
        if untaken:
            message = (f"{len(untaken)} photo(s) left in the inbox: the service may not take "
                       f"them from their folder (inbox_permissions), e.g. {untaken[0]}; see "
                       f"\"Permissions\" in the README")
            self.note(message, "WARNING")
        self.count_what_is_left()
        return exit_code(self.summary)
