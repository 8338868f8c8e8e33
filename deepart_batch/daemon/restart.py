"""Start-up and trouble: make the journal and the disk agree after a crash, a lost journal
or a full disk. A mixin of Service (it uses the service's journal, directories and pool),
kept apart so the service loop stays readable."""

from __future__ import annotations

import json
import time
from pathlib import Path

from loguru import logger

from . import intake, outbox, recovery
from .journal import Journal, JournalDamaged

HOLD_FIRST_SECONDS, HOLD_MAX_SECONDS = 2.0, 300.0  # backoff while the state_dir is full


class RecoveryMixin:
    def _open_journal(self, path: Path) -> Journal:
        try:
            return Journal(path)
        except JournalDamaged as exc:
            journal, message = recovery.rebuild(path, self.work_dir, self.done_dir,
                                                self.failed_dir, self.claims_dir, str(exc))
            logger.error("{} (`deepart-batch repair-journal --config FILE` does this by "
                         "hand)", message)
            return journal

    def recover(self) -> None:
        """Make the journal and the disk agree after a crash, before taking new files.
        Idempotent: each step looks at what is on disk, so a crash in recovery is fine."""
        requeued = self.journal.recover_running()
        if requeued:
            logger.warning("{} job(s) were running when the daemon stopped: queued again", requeued)
        self.journal.release_holds()  # a new start tries held jobs and photos at once
        for job in self.journal.jobs_in("queued"):  # an image whose report never came
            image = Path(job.output_path)
            if image.exists() and not outbox.report_path(image).exists():
                image.unlink()
                logger.warning("removed {}: written without its report before a crash; "
                               "job {} renders it again", image, job.id)
        removed = recovery.clean_work(self.work_dir, self.claims_dir, self.journal.work_paths())
        if removed:
            logger.info("removed {} half-copied file(s) from {}", removed, self.work_dir)
        recovery.adopt_orphans(self.journal, self.work_dir, self.claims_dir)
        self._reconcile_inputs()
        removed = outbox.clean_temp_files(Path(self.config.outbox))
        if removed:
            logger.info("removed {} temp file(s) left in the outbox by an interrupted write", removed)
        removed = outbox.clean_temp_files(Path(self.config.state_dir))  # status, notes, errors
        if removed:
            logger.info("removed {} temp file(s) left in {} by an interrupted write", removed,
                        self.config.state_dir)

    def _reconcile_inputs(self) -> None:
        """Claims, archives and duplicates that a crash (or a full disk) left half done."""
        self._settle_duplicates(None)  # ones whose original finished just before a crash
        for inp in self.journal.inputs_in("claiming"):
            if Path(inp.work_path).exists():
                self.journal.finish_claim(inp.id, intake.sha256_of(Path(inp.work_path)))
            else:
                self.journal.drop_input(inp.id)  # never moved: it is still in the inbox
                recovery.remove_claim_note(self.claims_dir, inp.work_path)
        manifest = self.manifests.current
        for inp in self.journal.inputs_in("claimed", "held"):
            if inp.archived_to:  # it was being archived when the daemon stopped
                self._finish_archive(inp)
            elif not Path(inp.work_path).exists():
                self._fail_missing(inp)
            elif inp.state == "claimed":  # held ones are tried again by _retry_held
                if not self.journal.jobs_for_input(inp.id) and manifest is not None:
                    self._plan(self.journal.input(inp.id))
                self._maybe_archive(inp.id)

    def _fail_missing(self, inp) -> None:
        message = (f"{inp.relpath}: its claimed copy {inp.work_path} is gone from work/ "
                   "(removed by hand?), so it cannot be rendered; drop the photo again")
        logger.error(message)
        for job in self.journal.jobs_for_input(inp.id):
            if job.state in ("queued", "held"):
                self.journal.mark_failed(job.id, "input_lost", message)
            elif job.state == "waiting":
                self.journal.settle_waiting(job.id, "failed", "input_lost", message)
        self._fail_input(inp.id, "input_lost", message)

    def _finish_archive(self, inp) -> None:
        target = Path(inp.archived_to)
        if self.failed_dir in target.parents:
            note = target.with_name(target.name + intake.ERROR_SUFFIX)
            try:
                error = json.loads(note.read_text())
            except (OSError, ValueError):
                error = None
            reason = (error or {}).get("reason", "error")
            self._fail_input(inp.id, reason, inp.error or "failed (recovered after a crash)",
                             (error or {}).get("failed_jobs", ()))
        else:
            self._archive_done(inp.id)

    def _state_full(self, exc: BaseException) -> None:
        """state_dir (or failed/, done/) is full: keep files where they are, wait, retry."""
        self._state_full_count += 1
        held = self._state_full_count
        delay = min(HOLD_MAX_SECONDS, HOLD_FIRST_SECONDS * 2 ** (held - 1))
        logger.error("{} is full ({}): new files wait in the inbox; retrying in {:.0f} s",
                     self.config.state_dir, exc, delay)
        self._reconcile = True
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(0.2)

    def _reconcile_after_full(self) -> None:
        """Redo what a full state_dir interrupted: lost results (running in the journal
        but not on a worker), half claims and half archives."""
        busy = set(self.pool.running_jobs())
        for job in self.journal.jobs_in("running"):
            if job.id not in busy:
                self.journal.requeue(job.id, "interrupted", "its result was lost while "
                                     "the state_dir was full", refund_attempt=True)
        self._reconcile_inputs()
        self._reconcile = False
        self._state_full_count = 0
        logger.info("{} has room again", self.config.state_dir)

