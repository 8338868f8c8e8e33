"""Holding: the setup's trouble (no rule, a style file gone, the outbox full or unwritable)
holds a photo instead of failing it, and it is tried again with backoff by itself.

A mixin of Service, like RecoveryMixin: it uses the service's journal, manifest store,
policy settings and team desk. What to do is decided by `policy.decide`; this module only
carries it out and tells the team (a note in the problems folder, one `held` event).
"""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger

from ..paths import UnsafePathError
from . import planner as jobs
from .logcontext import about_input
from .policy import decide
from ..core.states import FailureReason


class HoldingMixin:
    @about_input
    def _plan(self, inp) -> list[int]:
        """Jobs for a claimed photo, or hold it when the setup is not ready for it."""
        manifest = self.manifests.current
        rule = manifest.match(inp.relpath)
        if rule is None:
            self._hold_input(inp, FailureReason.NO_RULE, f"no manifest rule matches "
                                                         f"{inp.relpath}")
            return []
        missing = sorted({Path(manifest.styles[name].image).name for output in rule.outputs
                          for name in output.styles
                          if not Path(manifest.styles[name].image).is_file()})
        if missing:
            self._hold_input(inp, FailureReason.STYLE_MISSING, ", ".join(missing))
            return []
        try:
            with self.journal.transaction():  # all of its jobs or none
                return jobs.plan(self.journal, self.config, manifest, inp, self.weights_id,
                                 self.style_shas)
        except UnsafePathError as exc:  # e.g. a symlinked folder inside the outbox
            message = (f"{inp.relpath}: its output would be written outside the outbox "
                       f"({exc}); replace that link with a real folder and drop it again")
            logger.error(message)
            self._fail_input(inp.id, "unsafe_path", message)
            return []
        except Exception as exc:  # e.g. a style image deleted since the manifest loaded
            reason = FailureReason.STYLE_MISSING if isinstance(exc, OSError) else \
                FailureReason.MANIFEST_INVALID
            self._hold_input(inp, reason, str(exc))
            return []

    def _hold_input(self, inp, reason: FailureReason, detail: str) -> None:
        outcome = decide(reason, 0, inp.holds, self.policy)
        first = self.journal.hold_input(inp.id, reason, detail,
                                        time.time() + outcome.delay) == 0
        log = logger.warning if first else logger.info
        log("{}: held ({}: {}); tried again in {:.0f} s or when the manifest changes",
            inp.relpath, reason.value, detail, outcome.delay)
        self.team.held(inp.relpath, inp.campaign, reason, detail, Path(inp.work_path), first)

    def _retry_held(self) -> None:
        """Held jobs whose wait is over are queued; held photos are planned again."""
        for job_id in self.journal.release_due():
            logger.info("job {}: trying again after a hold", job_id)
        if self.manifests.current is None or self.stopping:
            return
        for inp in self.journal.inputs_due():
            self.journal.unhold_input(inp.id)
            queued = self._plan(self.journal.input(inp.id))
            if queued:
                logger.info("{}: no longer held ({} job(s) queued)", inp.relpath, len(queued))
            self._maybe_archive(inp.id)

    def _reason_of(self, job, event) -> FailureReason:
        """The event's reason as a member; a style file that is gone or unreadable is the
        setup's trouble, even when the worker reports it as a bad input."""
        reason = FailureReason.parse(event.data.get("reason") or event.kind)
        if reason is FailureReason.IMAGE:
            error = event.data.get("error", "")
            if any(not Path(s["path"]).is_file() or s["path"] in error
                   for s in job.spec.get("styles", ())):
                return FailureReason.STYLE_MISSING
        return reason

    def _hold_job(self, job, outcome, detail: str) -> None:
        first_for_job = self.journal.hold(job.id, outcome.reason, detail,
                                          time.time() + outcome.delay) == 0
        inp = self.journal.input(job.input_id)
        first = first_for_job and not any(j.holds for j in self.journal.jobs_for_input(inp.id)
                                          if j.id != job.id) and not inp.holds
        (logger.warning if first_for_job else logger.info)(
            "job {} ({}) held: {}: {}; tried again in {:.0f} s", job.id, inp.relpath,
            outcome.reason.value, detail, outcome.delay)
        self.team.held(inp.relpath, inp.campaign, outcome.reason, detail, Path(inp.work_path),
                       first, [job.id])
