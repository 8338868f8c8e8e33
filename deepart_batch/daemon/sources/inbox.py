"""The inbox, the first job source (sources/protocol.py): settled inbox files are claimed
into work/, refused to failed/, or held in the inbox while no manifest is valid; a claimed
photo's jobs come from the manifest's rule, or it is held while the setup is not ready for
it (no rule, a style missing). It owns every input no other source owns.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from loguru import logger

from ...core.hashing import sha256_file
from ... import masks
from ...core.layout import campaign_of, photo_stem
from ...core.regions import effective_regions
from ...core.states import FailureReason
from ...journal import JournalBusy
from ...paths import UnsafePathError, is_disk_full, safe_text
from ..events import PhotoTaken
from ..faultpoints import crash_point
from ..logcontext import about_input, about_path
from ..receivers import problems
from ..schedule import planner
from ..settle.watch import InboxWatcher
from . import claim
from .guard import admit_failed
from .protocol import SourceContext


def inbox_watcher(config) -> InboxWatcher:
    """The inbox's settle table and observer (the manifest and its error report are not
    photos, even when they sit in the inbox)."""
    return InboxWatcher(config.inbox, config.watch.settle_seconds, config.watch.ignore,
                        config.watch.polling, config.watch.poll_interval,
                        exclude=(Path(config.manifest),
                                 Path(str(config.manifest) + ".error.json")))


class InboxSource:
    """Takes settled inbox files: claim into work/, refuse, or hold; then plans them."""

    name, needs, failure_reason, catch_all = "inbox", "inbox", FailureReason.ERROR, True

    def __init__(self, context: SourceContext, watcher: InboxWatcher | None = None):
        self.context = context
        self.config, self.journal, self.layout = context.config, context.journal, \
            context.layout
        self.manifests, self.holding = context.manifests, context.holding
        self.outcomes, self.events, self.weights_id = context.outcomes, context.events, \
            context.weights_id
        self.watcher = watcher or inbox_watcher(context.config)
        self.style_shas: dict[str, str] = {}
        self._errors: dict[str, str] = {}  # inbox path -> last error, logged once
        self._folders_told: set[str] = set()  # inbox folders logged as not ours to take
        self._held_folders: set[str] = set()  # folders we may not even list, held as one

    def owns(self, relpath: str) -> bool:
        return True   # the catch-all: asked after every other source

    def pending(self) -> int:
        return self.watcher.pending()

    def start_watching(self, once: bool) -> None:
        """`run --once`: one scan; `watch`: the observer, then a scan."""
        self.watcher.scan() if once else self.watcher.start()

    def stop_watching(self) -> None:
        self.watcher.stop()

    def observing(self) -> bool:
        return self.watcher.alive()

    def startable(self, ready: list, running: list) -> list:
        return ready

    def take_due(self, stopping) -> None:
        """Take every settled file (until a stop is requested); a file that cannot be moved
        stays in the inbox and is tried again at the next rescan, logged once."""
        self._unreadable_folders()
        settled = self.watcher.settled()
        for n, path in enumerate(settled):
            if stopping():
                break
            try:
                self.take(path)
                self._errors.pop(str(path), None)
            except JournalBusy:   # the tick is skipped; these are taken at a later one
                for rest in settled[n:]:
                    self.watcher.notice(rest)
                raise
            except OSError as exc:  # e.g. no permission to move it off the share
                if is_disk_full(exc):
                    raise
                if exc.errno in (errno.EACCES, errno.EPERM):
                    self._not_allowed(path, exc)
                    continue
                if self._errors.get(str(path)) != str(exc):  # once, not every rescan
                    logger.error("{}: cannot take it ({}); it stays in the inbox and is "
                                 "retried at each rescan", safe_text(str(path)), exc)
                self._errors[str(path)] = str(exc)
            except Exception as exc:   # unforeseen: this file's trouble, not the daemon's
                admit_failed(safe_text(str(path)), exc, self._errors)

    def _unreadable_folders(self) -> None:
        """A folder the last scan could not list is held as one (its photos cannot even be
        named); when it can be listed again, its photos are taken like any others."""
        now = {}
        for path, why in self.watcher.unreadable.items():
            try:
                now[safe_text(self.watcher.relpath(path))] = (path, why)
            except ValueError:
                continue
        for rel in self._held_folders - set(now):
            self.holding.release_from_inbox(rel)
            self._folders_told.discard(rel)
        for rel, (path, why) in now.items():
            if rel not in self._folders_told:
                self._folders_told.add(rel)
                logger.error("{}: the service cannot take photos from inbox folder {}/ (it "
                             "may not list it: {}); held (inbox_permissions) until its "
                             "permissions let the service's group in (README: Permissions)",
                             safe_text(str(path)), rel, why)
            self.holding.hold_in_inbox(rel, None, f"inbox folder {rel}/: {why}",
                                       FailureReason.INBOX_PERMISSIONS)
        self._held_folders = set(now)

    def _not_allowed(self, path: Path, exc: OSError) -> None:
        """The service may not move this file out of its folder (a folder copied in with
        umask 022, say): held in the inbox as inbox_permissions, logged once per folder,
        taken by itself at a rescan once the permissions allow it."""
        rel = safe_text(self.watcher.relpath(path))
        folder = str(PurePosixPath(rel).parent)
        where = "the inbox itself" if folder == "." else f"inbox folder {folder}/"
        if folder not in self._folders_told:
            self._folders_told.add(folder)
            logger.error("{}: the service cannot take photos from {} ({}); they are held "
                         "(inbox_permissions) and taken by themselves once its permissions "
                         "let the service's group move files (README: Permissions)",
                         safe_text(str(path.parent)), where, exc.strerror or exc)
        readable = os.access(path, os.R_OK)   # else the note goes without a copy
        self.holding.hold_in_inbox(rel, path if readable else None,
                                   f"{where}: {exc.strerror or exc}",
                                   FailureReason.INBOX_PERMISSIONS)

    def _released_folder(self, folder: str) -> None:
        """A photo was taken from `folder`: a note held for the folder as a whole (it could
        not be listed, maybe by an earlier run) goes."""
        self._folders_told.discard(folder)
        if folder == ".":
            return
        try:   # only the folder's note: _problems/<folder>/ holds its photos' own notes
            note = problems.entry_paths(Path(self.config.outbox), self.config.problems.folder,
                                        folder)[1]
            note.unlink()
        except (OSError, UnsafePathError):
            return
        logger.info("inbox folder {}/ can be read now; its problem note is removed", folder)

    @about_path
    def take(self, path: Path) -> None:
        raw_rel = self.watcher.relpath(path)
        rel = safe_text(raw_rel)  # any name the filesystem allows; the journal holds UTF-8
        if rel != raw_rel:
            logger.warning("{}: the name is not valid UTF-8; it is recorded and archived as "
                           "{!r}", raw_rel.encode("utf-8", "surrogateescape"), rel)
        if self.manifests.current is None:
            errors = self.manifests.errors
            self.holding.hold_in_inbox(rel, path, errors[0] if errors else
                                       f"{self.config.manifest.name} is not valid")
            return
        limits = self.config.limits
        refusal = claim.inspect(path, rel, limits.max_file_bytes, limits.max_input_pixels,
                                 limits.formats) or \
            claim.reserved_name(rel, self.config.problems.folder, self.config.approve.folder)
        claimed = claim.claim_into_work(self.journal, self.layout, path, rel, campaign_of(rel))
        if claimed is None:   # gone meanwhile
            return
        input_id, work = claimed
        if refusal is not None:
            logger.warning("refused {}", refusal.message)
            self.journal.finish_claim(input_id, "")
            self.outcomes.fail_input(input_id, refusal.reason, refusal.message)
            return
        self.journal.finish_claim(input_id, sha256_file(work))
        crash_point("after_claim_move")
        waited = self.holding.release_from_inbox(rel)
        self._released_folder(str(PurePosixPath(rel).parent))
        queued = self.context.plan(self, self.journal.input(input_id))
        logger.info("took {} ({} job(s) queued)", rel, len(queued))
        if waited is not None:     # the team heard it wait in the inbox: now it goes on
            self.holding.released_input(self.journal.input(input_id), waited)
        self.events.emit(PhotoTaken(photo=rel, input=input_id, jobs=tuple(queued)))
        self.outcomes.maybe_archive(input_id)

    @about_input
    def plan(self, inp) -> list[int]:
        """Jobs for a claimed photo, or hold it when the setup is not ready for it (the
        registry's guard makes any other failure this photo's problem)."""
        manifest = self.manifests.current
        rule = manifest.match(inp.relpath)
        if rule is None:
            self.holding.hold_input(inp, FailureReason.NO_RULE,
                                    f"no manifest rule matches {inp.relpath}")
            return []
        missing = {Path(manifest.styles[name].image) for output in rule.outputs
                   for name in output.styles if not Path(manifest.styles[name].image).is_file()}
        if missing:
            self.manifests.note_missing(missing)   # its arrival releases the photo
            self.holding.hold_input(inp, FailureReason.STYLE_MISSING,
                                    ", ".join(sorted(p.name for p in missing)))
            return []
        mask = self._mask(inp, rule)
        if mask is False:
            return []
        try:
            with self.journal.transaction():  # all of its jobs or none
                return planner.plan(self.journal, self.config, manifest, inp, self.weights_id,
                                 self.style_shas, mask=mask or None)
        except UnsafePathError as exc:  # e.g. a symlinked folder inside the outbox
            message = (f"{inp.relpath}: its output would be written outside the outbox "
                       f"({exc}); replace that link with a real folder and drop it again")
            logger.error(message)
            self.outcomes.fail_input(inp.id, FailureReason.UNSAFE_PATH, message)
            return []
        except Exception as exc:  # e.g. a style image deleted since the manifest loaded
            reason = FailureReason.STYLE_MISSING if isinstance(exc, OSError) else \
                FailureReason.MANIFEST_INVALID
            self.holding.hold_input(inp, reason, str(exc))
            return []

    def _mask(self, inp, rule):
        """The photo's mask for a rule with `mask:` (a MaskEntry), None to render it whole,
        or False when it is held for its mask (`required`) or failed for a bad one."""
        if rule.mask == "none":
            return None
        index = self.context.masks
        mask = index.for_photo(inp.relpath) if index is not None else None
        if mask is None:
            if rule.mask == "required":
                self.holding.hold_input(inp, FailureReason.MASK_MISSING,
                                        f"no mask {photo_stem(inp.relpath)}.* in the masks "
                                        f"folder yet")
                return False
            return None
        problem = mask.problem or masks.problem_for_photo(
            mask.copy, f"masks/{mask.relpath}", inp.work_path, inp.relpath,
            effective_regions(rule.regions), self.config.limits.max_input_pixels)
        if problem:
            message = f"{inp.relpath}: its mask masks/{mask.relpath} cannot be used: {problem}"
            logger.warning(message)
            self.outcomes.fail_input(inp.id, FailureReason.MASK_INVALID, message)
            return False
        return mask
