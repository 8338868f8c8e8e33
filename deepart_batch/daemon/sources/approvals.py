"""Approve to print, the daemon part: a preview output copied or moved into
outbox/<approve.folder>/ becomes a print job at the preview's `print_size`.

An approval is taken like a photo: claimed into work/ through the journal (so a kill -9 in
between is recovered the same way), then planned as one job whose spec starts from the
approved pixels (JobSpec.init_from) and renders only the detail stages above the preview's
size. Its input row's relpath is `<approve.folder>/<name>`; held, retried, notified and
archived like any photo. An approval whose preview report is missing, or whose image is not
the one its report describes (sha256), becomes a problem photo (APPROVAL_INVALID).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from loguru import logger

from ...approved_preview import ApprovalProblem, print_params, read_approval
from ...core.hashing import sha256_file
from ...core.states import FailureReason, JobState
from ...paths import is_disk_full, safe_text
from . import claim
from ..outcomes import publish
from ..schedule import planner
from ..faultpoints import crash_point
from .guard import admit_failed
from .protocol import SourceContext
from ..settle.watch import InboxWatcher

PRINT_SUFFIX = ".print"
# Beside an approved image people may copy its report too; never taken as an approval.
NOT_APPROVALS = ["*.json", "*.html", "*.txt"]


class ApprovalSource:
    """Watches the approve folder, claims approvals and plans their print jobs."""

    name, needs, failure_reason, catch_all = ("approvals", "outbox",
                                              FailureReason.APPROVAL_INVALID, False)

    def __init__(self, context: SourceContext):
        self.context = context
        config = self.config = context.config
        self.journal, self.layout = context.journal, context.layout
        self.outcomes, self.weights_id = context.outcomes, context.weights_id
        self.folder_name = config.approve.folder
        self.folder = Path(config.outbox) / self.folder_name
        self.watcher = InboxWatcher(self.folder, config.watch.settle_seconds,
                                    [*config.watch.ignore, *NOT_APPROVALS],
                                    config.watch.polling,
                                    config.watch.poll_interval)
        self._errors: dict[str, str] = {}

    # -- watching -------------------------------------------------------------------------
    # No observer: the folder is small and scanned at every tick, and only while it is
    # there (a vanished outbox is never re-created here: daemon/settle/folder_presence.py).
    def pending(self) -> int:
        return self.watcher.pending()

    def owns(self, relpath: str) -> bool:
        """Its inputs are named `<approve.folder>/<name>`."""
        return relpath.startswith(self.folder_name + "/")

    def startable(self, ready: list, running: list) -> list:
        return ready

    def take_due(self, stopping) -> None:
        if self.folder.is_dir():
            self.watcher.scan()
        elif Path(self.config.outbox).is_dir():
            self.folder.mkdir(exist_ok=True)   # so people find where to approve
        for path in self.watcher.settled():
            if stopping():
                break
            try:
                self.take(path)
                self._errors.pop(str(path), None)
            except OSError as exc:
                if is_disk_full(exc):
                    raise
                if self._errors.get(str(path)) != str(exc):
                    logger.error("{}: cannot take the approval ({}); retried at each rescan",
                                 safe_text(str(path)), exc)
                self._errors[str(path)] = str(exc)
            except Exception as exc:   # unforeseen: this file's trouble, not the daemon's
                admit_failed(safe_text(str(path)), exc, self._errors)

    def take(self, path: Path) -> None:
        """Claim an approved file into work/ (as admission claims a photo), then plan it."""
        rel = f"{self.folder_name}/{safe_text(self.watcher.relpath(path))}"
        limits = self.config.limits
        refusal = claim.inspect(path, rel, limits.max_file_bytes, limits.max_input_pixels,
                                 limits.formats)
        # the preview's campaign: the gallery shows the print on the preview's page
        claimed = claim.claim_into_work(self.journal, self.layout, path, rel,
                                        self._campaign(path.name), mover=claim.move_file)
        if claimed is None:   # gone meanwhile
            return
        input_id, work = claimed
        if refusal is not None:
            self.journal.finish_claim(input_id, "")
            self.outcomes.fail_input(input_id, refusal.reason, refusal.message)
            return
        self.journal.finish_claim(input_id, sha256_file(work))
        crash_point("after_claim_move")
        self.context.plan(self, self.journal.input(input_id))   # it logs what it did
        self.outcomes.maybe_archive(input_id)

    # -- planning -------------------------------------------------------------------------
    def plan(self, inp) -> list[int]:
        """The print job of a claimed approval; raises ApprovalProblem (or anything a
        report edited on the share leads to) for the guard to make a problem photo."""
        with self.journal.transaction():
            return [self._add_print(inp)]

    def _previews(self, name: str) -> list:
        """Done preview jobs whose output has this name, newest first."""
        return sorted((j for j in self.journal.jobs_in(JobState.DONE)
                       if Path(j.output_path).name == name and j.spec
                       and not j.spec.init_from), key=lambda j: -j.id)

    def _campaign(self, name: str) -> str:
        jobs = self._previews(name)
        return jobs[0].campaign if jobs else ""

    def _preview(self, inp):
        """The preview job the approved file is, with its approval (read from its report)."""
        name = PurePosixPath(inp.relpath).name
        jobs = self._previews(name)
        if not jobs:
            raise ApprovalProblem("report_missing", f"{name}: the box has no preview of that "
                                  f"name (its report is missing); approve a preview output "
                                  f"as the box wrote it")
        problem = None
        for job in jobs:
            try:
                return job, read_approval(inp.work_path, job.report_path, inp.sha256,
                                        shown_as=name)
            except ApprovalProblem as exc:
                problem = problem or exc
        raise problem

    def _add_print(self, inp) -> int:
        job, approval = self._preview(inp)
        photo_inp = self.journal.input(job.input_id)
        photo = next((p for p in (photo_inp.archived_to, photo_inp.work_path)
                      if p and Path(p).is_file()), None)
        if photo is None:
            raise ApprovalProblem("photo_gone", f"{PurePosixPath(inp.relpath).name}: the "
                                  f"photo {photo_inp.relpath} is no longer kept on the box "
                                  f"(retention); drop it again and approve the new preview")
        wanted = int(approval.params.get("print_size") or 4096)
        size = min(wanted, self.config.limits.max_size)
        if size < wanted:
            logger.info("{}: print_size {} capped at limits.max_size {}", inp.relpath,
                        wanted, size)
        try:
            params = print_params(approval, size)
        except ApprovalProblem as exc:
            if size < wanted and exc.reason == "print_too_small":
                raise ApprovalProblem(exc.reason, (
                    f"{PurePosixPath(inp.relpath).name}: the box's limits.max_size "
                    f"({size} px) caps the print at no more than the preview's "
                    f"{approval.long_side} px, though print_size asks {wanted} px; ask the "
                    f"box's administrator to raise limits.max_size in its config")) from None
            raise
        if job.spec.mask and not Path(job.spec.mask).is_file():
            raise ApprovalProblem("mask_gone", f"{PurePosixPath(inp.relpath).name}: the "
                                  f"mask {job.spec.mask_name or 'of its photo'} it was "
                                  f"rendered with is no longer kept on the box; drop the "
                                  f"photo again and approve the new preview")
        # the preview's mask and regions travel with it (its claimed copy, never the
        # masks folder's file, which may have changed since): the print keeps its regions
        spec = replace(job.spec, content=photo, params=params, look_size=approval.long_side,
                       init_from=inp.work_path, init_sha256=inp.sha256,
                       approved_from=approval.source())
        key = planner.job_key(inp.sha256, spec.styles, params.to_dict(), self.weights_id,
                              spec.mask_sha256, spec.regions)
        previous = self.journal.find_job(key)
        same = dict(duplicate_of=previous.id, reason="duplicate",
                    error=f"same as job {previous.id}") if previous is not None else {}
        if previous is not None and previous.state == JobState.DONE and \
                Path(previous.output_path).is_file():   # approved again: that print stands
            logger.info("approval {}: already printed as {} (job {}); nothing is rendered "
                        "again", inp.relpath, Path(previous.output_path).name, previous.id)
            return self.journal.add_job(inp.id, key, job.campaign, job.priority,
                                        job.slug + "-print", spec, previous.output_path,
                                        previous.report_path, state=JobState.DONE, **same)
        if previous is not None and previous.state in (JobState.QUEUED, JobState.RUNNING):
            # approved again while that print waits or renders: one print, this one waits
            logger.info("approval {}: the same print is {} (job {}); this approval waits for "
                        "it, nothing is rendered twice", inp.relpath, previous.state,
                        previous.id)
            return self.journal.add_job(inp.id, key, job.campaign, job.priority,
                                        job.slug + "-print", spec, previous.output_path,
                                        previous.report_path, state=JobState.WAITING, **same)
        preview = Path(job.output_path)
        out = planner.free_output_path(
            self.journal, preview.with_name(preview.stem + PRINT_SUFFIX + preview.suffix))
        report = publish.report_path(out, self.config.output.reports == "subfolder")
        job_id = self.journal.add_job(inp.id, key, job.campaign, job.priority,
                                      job.slug + "-print", spec, str(out), str(report),
                                      need_bytes=planner.memory_need(spec))
        logger.info("approval {}: print job {} queued ({} px, as {})", inp.relpath, job_id,
                    size, out.name)
        return job_id
