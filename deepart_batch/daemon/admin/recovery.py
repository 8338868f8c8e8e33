"""Recovery: make the journal and the disk agree - at start-up after a crash, after a full
state_dir, and when the journal is lost or damaged (at start-up, or by hand with
`repair-journal`).

Every claim leaves a small note in state/claims/ naming the inbox path of the file it moved
into work/ (claim.claim_note). With the notes, a journal that was deleted, emptied or
damaged is rebuilt: files in work/ are claimed again under their own names, and done/ and
failed/ become its history. The module-level functions need no torch: `repair-journal` runs
them on a box without a working render stack.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Callable

from loguru import logger

from ...core.states import FailureReason, InputState, JobState
from ...core.hashing import sha256_file
from ...core.layout import StateLayout, campaign_of
from ...paths import is_disk_full
from ...settings.config import Config
from ..sources import claim
from ..outcomes import publish
from ..outcomes.archive import ERROR_SUFFIX
from ..sources.claim import claim_note
from ...journal import Journal, JournalDamaged
from ..schedule.policy import backoff

def clean_work(work_dir: Path, claims_dir: Path, known: set[str]) -> int:
    """Remove half copies (`.name.part`) from work/ and notes whose file is gone."""
    removed = 0
    for entry in list(work_dir.iterdir()) if work_dir.exists() else []:
        if entry.name.startswith(".") and entry.name.endswith(".part"):
            entry.unlink(missing_ok=True)
            removed += 1
    for note in list(claims_dir.iterdir()) if claims_dir.exists() else []:
        work = work_dir / note.name[: -len(".json")]
        if not work.exists() and str(work) not in known:
            note.unlink(missing_ok=True)
    return removed


def adopt_orphans(journal: Journal, work_dir: Path, claims_dir: Path) -> list[str]:
    """Give every file in work/ without a journal row one ('claiming': start-up then hashes,
    plans and renders it like any new claim). Returns the inbox paths adopted."""
    known = journal.work_paths()
    adopted = []
    for entry in sorted(work_dir.iterdir()) if work_dir.exists() else []:
        if entry.name.startswith(".") or not entry.is_file() or str(entry) in known:
            continue
        relpath = f"_recovered/{entry.name}"
        try:
            relpath = json.loads(claim_note(claims_dir, entry).read_text())["relpath"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        journal.adopt_input(relpath, campaign_of(relpath), str(entry))
        adopted.append(relpath)
    if adopted:
        logger.warning("{} file(s) in {} had no journal row (the journal was lost or "
                       "replaced): claimed again: {}", len(adopted), work_dir,
                       ", ".join(adopted[:10]) + (" ..." if len(adopted) > 10 else ""))
    return adopted


def rebuild_history(journal: Journal, done_dir: Path, failed_dir: Path) -> tuple[int, int]:
    """done/ and failed/ as archived inputs, so `status` and the team keep their history."""
    counts = []
    for state, root in (("done", done_dir), ("failed", failed_dir)):
        n = 0
        for dirpath, _, files in os.walk(root) if root.exists() else []:
            for name in sorted(files):
                if name.endswith(ERROR_SUFFIX) or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                relpath = path.relative_to(root).as_posix()
                error = None
                note = path.with_name(name + ERROR_SUFFIX)
                if note.exists():
                    try:
                        error = str(json.loads(note.read_text()).get("error"))
                    except (OSError, ValueError, AttributeError):
                        error = "see " + str(note)
                journal.add_archived(relpath, campaign_of(relpath), state, str(path), error,
                                     path.stat().st_mtime)
                n += 1
        counts.append(n)
    return counts[0], counts[1]


def move_aside(journal_path: Path) -> Path:
    """journal.sqlite (and its -wal/-shm) -> journal.sqlite.damaged-<time>, kept for study."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = journal_path.with_name(f"{journal_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(journal_path) + suffix)
        if src.exists():
            os.replace(src, str(aside) + suffix)
    return aside


def rebuild(layout: StateLayout, reason: str) -> tuple[Journal, str]:
    """Move a damaged journal aside and start a new one from what is on disk."""
    aside = move_aside(layout.journal)
    journal = Journal(layout.journal)
    done, failed = rebuild_history(journal, layout.done, layout.failed)
    adopted = adopt_orphans(journal, layout.work, layout.claims)
    message = (f"{reason}: moved it aside to {aside.name} and rebuilt the journal from "
               f"{layout.root}: {len(adopted)} file(s) in work/ claimed again, "
               f"{done} in done/, {failed} in failed/")
    return journal, message


def open_journal(layout: StateLayout, busy_budget: float | None = None) -> Journal:
    """The daemon's journal; a damaged one is moved aside and rebuilt from the disk.
    busy_budget: seconds a write waits out another program's lock (config
    journal_busy_seconds), then JournalBusy."""
    try:
        return Journal(layout.journal) if busy_budget is None else \
            Journal(layout.journal, busy_budget=busy_budget)
    except JournalDamaged as exc:
        journal, message = rebuild(layout, str(exc))
        logger.error("{} (`deepart-batch repair-journal --config FILE` does this by "
                     "hand)", message)
        return journal


def repair_journal(config: Config, force: bool = False) -> tuple[str, int]:
    """`repair-journal`: the daemon's start-up rebuild, by hand, without torch."""
    layout = StateLayout(Path(config.state_dir))
    with open(layout.lock, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return (f"{layout.root} is in use by a running deepart-batch; stop it first "
                    "(it rebuilds a damaged journal by itself at start-up)", 75)
        reason = None
        try:
            Journal(layout.journal).close()
        except JournalDamaged as exc:
            reason = str(exc)
        if reason is None and not force:
            return f"{layout.journal} is fine; nothing to do (--force rebuilds it anyway)", 0
        journal, message = rebuild(layout, reason or f"{layout.journal} rebuilt on request")
        journal.close()
        return message, 0


STATE_FULL_FIRST_SECONDS, STATE_FULL_MAX_SECONDS = 2.0, 300.0  # backoff while state_dir is full


class Recovery:
    """The service loop's recovery collaborator: start-up reconciliation and the wait and
    reconciliation after a full state_dir. Each step looks at what is on disk, so a crash
    in recovery is fine."""

    def __init__(self, config, layout: StateLayout, journal: Journal, manifests, sources,
                 outcomes, running_jobs: Callable[[], list[int]]):
        self.config = config
        self.layout = layout
        self.journal = journal
        self.manifests = manifests
        self.sources = sources     # sources/registry.Sources: plans behind the guard
        self.outcomes = outcomes
        self.running_jobs = running_jobs
        self.pending = False       # after a full state_dir: check the journal at next tick
        self._pending_done = ""    # what is logged once that is done
        self.full_count = 0        # times in a row the state_dir was full

    def at_start(self) -> None:
        """Make the journal and the disk agree after a crash, before taking new files."""
        requeued = self.journal.recover_running()
        if requeued:
            logger.warning("{} job(s) were running when the daemon stopped: queued again",
                           requeued)
        self.journal.release_holds()  # a new start tries held jobs and photos at once
        for job in self.journal.jobs_in(JobState.QUEUED):  # an image whose report never came
            image = Path(job.output_path)
            if image.exists() and not Path(job.report_path).exists():
                image.unlink()
                logger.warning("removed {}: written without its report before a crash; "
                               "job {} renders it again", image, job.id)
        removed = clean_work(self.layout.work, self.layout.claims, self.journal.work_paths())
        if removed:
            logger.info("removed {} half-copied file(s) from {}", removed, self.layout.work)
        adopt_orphans(self.journal, self.layout.work, self.layout.claims)
        self.reconcile_inputs()
        for folder in (Path(self.config.outbox), self.layout.root):  # state: status, notes
            removed = publish.clean_temp_files(folder)
            if removed:
                logger.info("removed {} temp file(s) left in {} by an interrupted write",
                            removed, "the outbox" if folder != self.layout.root else folder)

    def reconcile_inputs(self) -> None:
        """Claims, archives and duplicates that a crash (or a full disk) left half done."""
        self.outcomes.settle_duplicates(None)  # whose original finished just before a crash
        for inp in self.journal.inputs_in(InputState.CLAIMING):
            if Path(inp.work_path).exists():
                sha = sha256_file(Path(inp.work_path))
                # claimed by copy: a crash before the inbox name went leaves both
                claim.drop_claimed_original(Path(self.config.inbox) / inp.relpath, sha)
                self.journal.finish_claim(inp.id, sha)
            else:
                self.journal.drop_input(inp.id)  # never moved: it is still in the inbox
                claim.remove_claim_note(self.layout.claims, inp.work_path)
        for inp in self.journal.inputs_in(InputState.CLAIMED, InputState.HELD):
            if inp.archived_to:  # it was being archived when the daemon stopped
                self._finish_archive(inp)
            elif not Path(inp.work_path).exists():
                self._fail_missing(inp)
            elif inp.state == InputState.CLAIMED:  # held ones are tried again when their wait ends
                if not self.journal.jobs_for_input(inp.id) and \
                        self.manifests.current is not None:
                    self.sources.plan(self.journal.input(inp.id))
                self.outcomes.maybe_archive(inp.id)

    def _fail_missing(self, inp) -> None:
        message = (f"{inp.relpath}: its claimed copy {inp.work_path} is gone from work/ "
                   "(removed by hand?), so it cannot be rendered; drop the photo again")
        logger.error(message)
        for job in self.journal.jobs_for_input(inp.id):
            if job.state in (JobState.QUEUED, JobState.HELD):
                self.journal.mark_failed(job.id, FailureReason.INPUT_LOST, message)
            elif job.state == JobState.WAITING:
                self.journal.settle_waiting(job.id, JobState.FAILED, FailureReason.INPUT_LOST,
                                            message)
        self.outcomes.fail_input(inp.id, FailureReason.INPUT_LOST, message)

    def _finish_archive(self, inp) -> None:
        target = Path(inp.archived_to)
        if self.layout.failed in target.parents:
            note = target.with_name(target.name + ERROR_SUFFIX)
            try:
                error = json.loads(note.read_text())
            except (OSError, ValueError):
                error = None
            reason = (error or {}).get("reason", "error")
            self.outcomes.fail_input(inp.id, reason,
                                     inp.error or "failed (recovered after a crash)",
                                     (error or {}).get("failed_jobs", ()))
        else:
            self.outcomes.archive_done(inp.id)

    # -- a full state_dir ------------------------------------------------------------------
    def state_full(self, exc: BaseException, stopping: Callable[[], bool]) -> None:
        """state_dir (or failed/, done/) is full: keep files where they are, wait, and
        reconcile at the next tick. Re-raises anything that is not a full disk."""
        if not is_disk_full(exc):
            raise exc
        self.full_count += 1
        delay = backoff(self.full_count - 1, STATE_FULL_FIRST_SECONDS, STATE_FULL_MAX_SECONDS)
        logger.error("{} is full ({}): new files wait in the inbox; retrying in {:.0f} s",
                     self.config.state_dir, exc, delay)
        self.redo_later(f"{self.config.state_dir} has room again")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stopping():
            time.sleep(0.2)

    def redo_later(self, done_message: str) -> None:
        """An interrupted tick (a full state_dir, a busy journal): make the journal and the
        disk agree at the next one, then log `done_message`."""
        self.pending, self._pending_done = True, done_message

    def reconcile_if_pending(self) -> None:
        """Redo what a full state_dir interrupted: lost results (running in the journal
        but not on a worker), half claims and half archives."""
        if not self.pending:
            return
        busy = set(self.running_jobs())
        for job in self.journal.jobs_in(JobState.RUNNING):
            if job.id not in busy:
                self.journal.requeue(job.id, FailureReason.INTERRUPTED,
                                     "its result was lost while the state_dir was full",
                                     refund_attempt=True)
        self.reconcile_inputs()
        self.pending = False
        self.full_count = 0
        logger.info("{}", self._pending_done)
