"""The masks folder, a job source (sources/protocol.py) whose files are settle inputs of
photos: `masks/spring/shoe.png` is the region mask of `inbox/spring/shoe.jpg`
(docs/regions.md). A folder of its own, mirroring the inbox, so that the inbox never admits
a mask as a photo.

A settled mask is checked where it comes in (a regular file, an image within the limits)
and copied into state_dir/masks/ under its sha256: the copy is what a job reads, never the
share's file, which the team may change mid-render. The mask file stays in the masks folder
(one mask serves every drop of its photo). What its arrival does, for each photo of its
name (the latest time each came in):

- held for its mask (`mask_missing`): planned again now;
- rendered (or failed for a bad mask) with another mask or none, under a rule with `mask:`:
  rendered again, a new input from its copy in done/ (or failed/), whose outputs take the
  next free name beside the old ones, as a re-dropped photo's do;
- still being rendered with another mask: looked at again once it is finished.

A bad mask (not an image, framed unlike its photo, a colour no region maps) never stops the
daemon: its photo fails with `mask_invalid` and a note saying what to fix, when it is
planned (sources/inbox.py).
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

from loguru import logger

from ... import images
from ...core.hashing import sha256_file
from ...core.layout import campaign_of, photo_stem
from ...core.states import FailureReason, InputState
from ...errors import ImageError
from ...paths import safe_text
from ..settle.watch import InboxWatcher
from . import claim
from .guard import admit_failed
from .mask_index import MaskEntry, MaskIndex
from .protocol import SourceContext

NOT_A_MASK = "a mask must be a grayscale or palette image (PNG is best) framed like its photo"


class MaskSource:
    """Settles the masks folder; each changed mask is claimed into the index, then its
    photos are planned again or rendered again as it requires."""

    name, needs, failure_reason, catch_all = "masks", "inbox", FailureReason.MASK_INVALID, False

    def __init__(self, context: SourceContext):
        self.context = context
        self.config, self.journal, self.layout = context.config, context.journal, context.layout
        self.index: MaskIndex = context.masks
        watch = self.config.watch
        self.folder = Path(self.config.masks)
        self.watcher = InboxWatcher(self.folder, watch.settle_seconds, watch.ignore,
                                    watch.polling, watch.poll_interval)
        self._once = context.once
        self._watching = False          # the observer runs (the folder was there)
        self._missing_told = False
        self._last_scan = time.monotonic()
        self._later: set[str] = set()   # stems whose photo was being rendered meanwhile
        self._errors: dict[str, str] = {}

    # -- the protocol ---------------------------------------------------------------------
    def owns(self, relpath: str) -> bool:
        return False   # its re-renders are its photos' inputs: the inbox's

    def pending(self) -> int:
        return self.watcher.pending() if self.folder.is_dir() else 0

    def startable(self, ready: list, running: list) -> list:
        return ready

    def plan(self, inp) -> list[int]:
        raise LookupError(f"{inp.relpath}: the masks folder plans no inputs of its own")

    # -- watching (registry.Sources starts and stops every source that watches) ------------
    def start_watching(self, once: bool) -> None:
        self._once = once
        self._look()

    def stop_watching(self) -> None:
        self.watcher.stop()
        self._watching = False

    def observing(self) -> bool:
        """False only when its observer died: a missing folder is looked for at each rescan."""
        return self._once or not self._watching or self.watcher.alive()

    def _look(self) -> None:
        """Scan the folder (and observe it, under `watch`) if it is there; say once when it
        is not (masks are not read meanwhile; photos that require one wait for it)."""
        if not self.folder.is_dir():
            if self._watching:
                self.stop_watching()
            if not self._missing_told:
                logger.warning("masks folder {} is not there: no masks are read until it is "
                               "(photos whose rule requires a mask wait, mask_missing)",
                               self.folder)
            self._missing_told = True
            return
        if self._missing_told:
            logger.info("masks folder {} is there: masks are read", self.folder)
            self._missing_told = False
        if self._once:
            self.watcher.scan()
        elif not self._watching:
            self.watcher.start()
            self._watching = True
        else:
            self.watcher.scan()

    # -- taking masks ---------------------------------------------------------------------
    def take_due(self, stopping) -> None:
        now = time.monotonic()
        if not self._once and now - self._last_scan >= self.config.watch.rescan_seconds:
            self._last_scan = now
            self._look()
            self._forget_removed()
        for path in self.watcher.settled():
            if stopping():
                break
            try:
                self.take(path)
                self._errors.pop(str(path), None)
            except Exception as exc:   # this mask's trouble, not the daemon's
                admit_failed(safe_text(str(path)), exc, self._errors)
        for stem in sorted(self._later):
            if stopping():
                break
            self._later.discard(stem)
            self._apply(stem)

    def take(self, path: Path) -> None:
        """Check a settled mask, copy it into state_dir/masks/, and apply it if it changed."""
        rel = safe_text(self.watcher.relpath(path))
        entry = self._claim(path, rel)
        if entry is None:
            return
        before = self.index.entry(rel)
        if before == entry:
            return                       # a rescan found the same file
        self.index.put(entry)
        if before is not None and (before.sha256, before.problem) == (entry.sha256,
                                                                      entry.problem):
            return                       # the same bytes again (a touch, a copy over it)
        if entry.problem:
            logger.warning("mask {}: {}", rel, entry.problem)
        else:
            logger.info("mask {} taken ({}){}", rel, entry.sha256[:12],
                        " (replaces the earlier one)" if before is not None else "")
        self._apply(photo_stem(rel))

    def _claim(self, path: Path, rel: str) -> MaskEntry | None:
        """The mask's entry: its checked copy, or why it cannot be used (None: gone)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        known = self.index.entry(rel)
        if known is not None and known.same_file(st):
            return known                 # a rescan: the same file, not read again
        seen = (st.st_size, st.st_mtime_ns)
        limit = self.config.limits.max_file_bytes
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            return MaskEntry(rel, problem=f"masks/{rel} is a link or not an ordinary file; "
                                          f"save the mask itself there", seen=seen)
        if st.st_size > limit:
            return MaskEntry(rel, problem=f"masks/{rel} is {st.st_size / 1e6:.1f} MB, over the "
                                          f"{limit / 1e6:.0f} MB limit; {NOT_A_MASK}",
                             seen=seen)
        self.layout.masks.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.masks / f".{time.time_ns():x}.part"
        try:
            shutil.copyfile(path, tmp, follow_symlinks=False)
            sha = sha256_file(tmp)
            copy = self.layout.masks / (sha + (claim.work_name(rel, "") or ".img"))
            os.replace(tmp, copy)        # content-addressed: the same bytes, the same name
        finally:
            tmp.unlink(missing_ok=True)
        try:                             # the copy is checked: the share file may change
            images.probe(copy, self.config.limits.max_input_pixels)
        except ImageError as exc:
            detail = str(exc).replace(str(copy), f"masks/{rel}")
            return MaskEntry(rel, problem=f"{detail}; {NOT_A_MASK}", sha256=sha, seen=seen)
        return MaskEntry(rel, str(copy), sha, seen=seen)

    def _forget_removed(self) -> None:
        """Masks removed from the folder: photos dropped from now on go without them."""
        if not self.folder.is_dir():
            return                       # an unmounted share removes nothing
        for entry in self.index.entries():
            if not os.path.lexists(self.folder / entry.relpath):
                self.index.remove(entry.relpath)
                logger.info("mask {} was removed from the masks folder; its photos dropped "
                            "from now on render without it", entry.relpath)

    # -- what a new mask does to its photos ----------------------------------------------
    def _apply(self, stem: str) -> None:
        latest: dict[str, object] = {}
        for inp in self.journal.history_of_stem(stem):
            latest[inp.relpath] = inp     # oldest first: the last one stays
        manifest = self.context.manifests.current
        if manifest is None and latest:
            self._later.add(stem)         # no valid manifest: which rule applies is unknown
            return
        for inp in latest.values():
            rule = manifest.match(inp.relpath)
            if rule is None or rule.mask == "none":
                continue
            if inp.state is InputState.HELD:
                if FailureReason.parse(inp.reason) is FailureReason.MASK_MISSING:
                    logger.info("{}: its mask arrived; planned again now", inp.relpath)
                    self.journal.unhold_input(inp.id)
                    self.context.plan_again(self.journal.input(inp.id))
                continue                  # held otherwise: planned with this mask later
            mask = self.index.for_photo(inp.relpath)
            wanted = mask.sha256 if mask is not None else ""
            used = {j.spec.mask_sha256 for j in self.journal.jobs_for_input(inp.id)
                    if j.spec is not None}
            if inp.state in (InputState.CLAIMING, InputState.CLAIMED):
                if used != {wanted}:
                    self._later.add(stem)   # being rendered with another mask
                continue
            again = (inp.state is InputState.DONE and used != {wanted}) or (
                inp.state is InputState.FAILED and
                FailureReason.parse(inp.reason) is FailureReason.MASK_INVALID)
            if again and mask is not None:
                self._render_again(inp)

    def _render_again(self, inp) -> None:
        """A new input of the photo, from its archived copy: planned like a new drop."""
        source = Path(inp.archived_to or "")
        if not source.is_file():
            logger.warning("{}: its mask changed, but its copy in the state folder is gone "
                           "(pruned?); drop the photo again to render it with the new mask",
                           inp.relpath)
            return
        work = self.layout.work / claim.work_name(inp.relpath, f"{time.time_ns():x}")
        input_id = self.journal.begin_claim(inp.relpath, campaign_of(inp.relpath), str(work))
        try:
            claim.write_claim_note(self.layout.claims, work, inp.relpath)
            tmp = work.with_name(work.name + ".part")
            shutil.copyfile(source, tmp)
            os.replace(tmp, work)
        except BaseException:
            self.journal.drop_input(input_id)
            claim.remove_claim_note(self.layout.claims, work)
            raise
        self.journal.finish_claim(input_id, sha256_file(work))
        logger.info("{}: its mask changed; rendered again", inp.relpath)
        self.context.plan_again(self.journal.input(input_id))
