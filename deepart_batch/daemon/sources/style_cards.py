"""Style cards, the daemon part: for every painting in styles_dir, its card.

A card is the standard card photos (core/card_photos/) restyled with the painting at the
config's defaults, the size capped at CARD_MAX_SIZE. Like approvals (approvals.py) it is a
second job source beside the inbox, and goes through the journal like a photo: the
painting's bytes are claimed (copied) into work/ as an input `_styles/<painting>`, then
planned as one job per card photo, in campaign `_styles` at CARD_PRIORITY, so a card job
only starts when no photo is ready, and one card job at a time (`startable`): a photo that
arrives while a card renders waits for one small render at most. Held, retried, notified,
archived and recovered after kill -9 like any photo.

The card's identity is its job keys: the painting's sha256, the card params, the weights
and each card photo's sha256. Each tick (at most every poll_interval) styles_dir is listed;
a painting that is new or changed (size, mtime), once settled, or any painting after the
defaults changed, is hashed and gets a new card unless its keys are already in the journal.
A file that is named like an image but does not open becomes a problem card
(STYLE_UNREADABLE), without a render. `run --once` makes the missing or stale cards too,
after its photos (a box that only runs bulk passes from cron gets its cards), one card job
at a time; `run --once --no-cards` plans and starts none.
"""

from __future__ import annotations

import hashlib
import json
import stat
import time
from pathlib import Path

from loguru import logger

from ... import images
from ...core.style_card_names import (CARD_PRIORITY, NAME_TEMPLATE, STYLES_FOLDER,
                                      card_photos, card_relpath, card_slug, is_card,
                                      is_card_job, list_paintings, painting_of)
from ...core.hashing import sha256_file
from ...core.jobspec import StyleRef
from ...core.states import FailureReason, InputState
from ...errors import ImageError
from ...paths import atomic_write_bytes, safe_text
from . import claim
from ..outcomes import publish
from ..schedule import planner
from ..faultpoints import crash_point
from .guard import box_trouble
from .protocol import SourceContext


class StyleCardSource:
    """Lists styles_dir, claims and plans the cards; says which card job may start."""

    name, needs, failure_reason, catch_all = ("style cards", "outbox",
                                              FailureReason.STYLE_UNREADABLE, False)

    def __init__(self, context: SourceContext):
        self.context = context
        self.config, self.journal, self.layout = context.config, context.journal, \
            context.layout
        self.outcomes, self.weights_id, self.once = context.outcomes, context.weights_id, \
            context.once
        self.make_cards = context.make_cards
        self._seen: dict[str, tuple[tuple, float]] = {}   # painting -> (signature, since)
        self._checked: dict[str, tuple] = {}    # painting -> signature its card matches
        self._errors: dict[str, str] = {}       # painting -> last error, logged once
        self._params_digest = ""
        self._last_scan = float("-inf")
        self._photos: list[tuple[Path, str, tuple[int, int]]] | None = None

    def owns(self, relpath: str) -> bool:
        return is_card(relpath)

    def pending(self) -> int:
        """A bulk pass that makes cards waits until styles_dir was looked at and every
        painting seen was checked (or logged as trouble); `watch` never waits."""
        if not self.once or not self.make_cards or not self.config.cards:
            return 0
        if self._last_scan == float("-inf"):
            return 1
        return len([rel for rel, (sig, _) in self._seen.items()
                    if self._checked.get(rel) != sig and rel not in self._errors])

    # -- which card job may start ---------------------------------------------------------
    def startable(self, ready: list, running: list) -> list:
        """The ready jobs the dispatcher may start now: every photo job, and one card job
        when no card job runs; in `run --once` only once no photo job is ready or running
        (behind the pass's photos), and none with --no-cards."""
        photos = [j for j in ready if not is_card_job(j)]
        cards = [j for j in ready if is_card_job(j)]
        if not self.make_cards or not cards or any(is_card_job(j) for j in running):
            return photos
        if self.once and (photos or running):
            return photos
        return photos + [min(cards, key=lambda j: j.id)]

    # -- watching styles_dir --------------------------------------------------------------
    def take_due(self, stopping) -> None:
        """Cards for new or changed paintings (`cards: false` or --no-cards plan none)."""
        now = time.monotonic()
        if not self.make_cards or not self.config.cards or \
                now - self._last_scan < self.config.watch.poll_interval:
            return
        self._last_scan = now
        try:
            digest = self._digest()
        except Exception as exc:   # defaults that do not validate: nothing to plan with
            self._once_logged("defaults", f"style cards: the defaults are not valid ({exc})")
            return
        if digest != self._params_digest:   # the defaults changed: every card is checked
            self._params_digest, self._checked = digest, {}
        listed = {}
        for rel, path in list_paintings(Path(self.config.styles_dir)):
            if stopping():
                return
            try:
                st = path.stat()
            except OSError:
                continue   # a dangling or looping link: nothing to read
            if not stat.S_ISREG(st.st_mode):   # a named pipe would block the daemon
                self._once_logged(rel, f"{safe_text(str(path))}: not a regular file, so it "
                                       f"has no style card; replace it with a JPEG or PNG")
                continue
            sig = (st.st_size, st.st_mtime_ns)
            listed[rel] = sig
            seen = self._seen.get(rel)
            if seen is None or seen[0] != sig:   # new or changing: looked at again later
                self._seen[rel] = (sig, now)
                continue
            if now - seen[1] < self.config.watch.settle_seconds or \
                    self._checked.get(rel) == sig:
                continue
            try:
                self.check(rel, path)
                self._checked[rel] = sig
                self._errors.pop(rel, None)
            except Exception as exc:   # that painting only (its claim is guarded: guard.py)
                if box_trouble(exc):
                    raise
                self._once_logged(rel, f"{safe_text(str(path))}: cannot make its style card "
                                       f"({exc}); tried again at the next look")
        for rel in set(self._seen) - set(listed):   # removed: forgotten
            self._seen.pop(rel, None)
            self._checked.pop(rel, None)

    def _once_logged(self, key: str, message: str) -> None:
        if self._errors.get(key) != message:
            logger.error(message)
        self._errors[key] = message

    def _digest(self) -> str:
        blob = json.dumps({"params": self.config.card_params().to_dict(),
                           "weights": self.weights_id}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def photos(self) -> list[tuple[Path, str, tuple[int, int]]]:
        """(path, sha256, (width, height)) of each card photo, read once."""
        if self._photos is None:
            self._photos = [(p, sha256_file(p), images.probe(p)[:2]) for p in card_photos()]
        return self._photos

    def keys(self, painting_sha: str, style_path: str = "") -> list[str]:
        """The job keys of this painting's card, one per card photo."""
        params = self.config.card_params().to_dict()
        style = [StyleRef(None, style_path, 1.0, painting_sha)]
        return [planner.job_key(sha, style, params, self.weights_id)
                for _, sha, _ in self.photos()]

    def check(self, rel: str, path: Path) -> None:
        """Claim and plan the painting's card unless its newest card input in the journal
        is of these bytes with these keys (or its problem card), or, its rows removed by
        retention or a rebuilt journal, the outbox holds this very card."""
        sha = sha256_file(path)
        card_rel = card_relpath(safe_text(rel))
        history = [i for i in self.journal.history(card_rel) if i.state != InputState.RETRIED]
        latest = history[-1] if history else None
        if latest is not None and latest.sha256 == sha:
            if latest.state == InputState.FAILED and \
                    latest.reason == FailureReason.STYLE_UNREADABLE.value:
                return   # its problem card stands until the file changes
            keys = {j.job_key for j in self.journal.jobs_for_input(latest.id)}
            if set(self.keys(sha)) <= keys:
                return   # made, or on its way
            if not keys and latest.state == InputState.CLAIMED:   # claimed, then the daemon died
                self.context.plan(self, latest)
                self.outcomes.maybe_archive(latest.id)
                return
        if (latest is None or not self.journal.jobs_for_input(latest.id)) and \
                self._in_outbox(card_rel, sha):
            return   # rows pruned, or history rebuilt from done/: the card is there
        self.take(rel, path)

    def _in_outbox(self, card_rel: str, sha: str) -> bool:
        """Every card image of this painting is in the outbox, its report naming these
        bytes and the card params."""
        params = self.config.card_params().to_dict()
        for photo, photo_sha, _ in self.photos():
            report = publish.report_path(self._output(card_rel, photo),
                                        self.config.output.reports == "subfolder")
            try:
                data = json.loads(report.read_text())
                same = [s.get("sha256") for s in data.get("styles") or []] == [sha] and \
                    (data.get("input") or {}).get("sha256") == photo_sha and \
                    data.get("params") == params
            except (OSError, ValueError, AttributeError):
                return False
            if not same or not self._output(card_rel, photo).is_file():
                return False
        return True

    def _output(self, card_rel: str, photo: Path) -> Path:
        return publish.output_path(self.config.outbox, card_rel, photo.stem,
                                  self.config.output.format.lower(), NAME_TEMPLATE)

    def take(self, rel: str, path: Path) -> None:
        """Copy the painting into work/ as a card input (journal first), then plan it."""
        card_rel = card_relpath(safe_text(rel))
        work = self.layout.work / claim.work_name(card_rel, f"{time.time_ns():x}")
        input_id = self.journal.begin_claim(card_rel, STYLES_FOLDER, str(work))
        try:
            claim.write_claim_note(self.layout.claims, work, card_rel)
            atomic_write_bytes(work, path.read_bytes())   # the painting stays where it is
        except BaseException:
            self.journal.drop_input(input_id)
            claim.remove_claim_note(self.layout.claims, work)
            raise
        self.journal.finish_claim(input_id, sha256_file(work))
        crash_point("after_claim_move")
        queued = self.context.plan(self, self.journal.input(input_id))
        if queued:
            logger.info("painting {}: style card queued ({} render(s), behind every photo)",
                        rel, len(queued))
        self.outcomes.maybe_archive(input_id)

    # -- planning -------------------------------------------------------------------------
    def plan(self, inp) -> list[int]:
        """The card jobs of a claimed card input, or a problem card saying why not."""
        rel = painting_of(inp.relpath)
        try:
            images.probe(inp.work_path, self.config.limits.max_input_pixels)
        except ImageError as exc:
            detail = str(exc).split(": ", 1)[-1]
            message = f"{rel}: {detail}"
            logger.warning("painting {} has no style card: {}", rel, detail)
            self.outcomes.fail_input(inp.id, FailureReason.STYLE_UNREADABLE, message)
            return []
        params = self.config.card_params()
        style = StyleRef(rel, inp.work_path, 1.0, inp.sha256)
        queued = []
        with self.journal.transaction():   # all of its jobs or none
            for (photo, sha, size), key in zip(self.photos(), self.keys(inp.sha256)):
                spec = planner.make_spec(self.config, str(photo), inp.relpath, [style],
                                         params, size, sha)
                out = self._output(inp.relpath, photo)
                report = publish.report_path(out, self.config.output.reports == "subfolder")
                queued.append(self.journal.add_job(inp.id, key, STYLES_FOLDER,
                                                   CARD_PRIORITY, card_slug(photo), spec,
                                                   str(out), str(report),
                                                   need_bytes=planner.memory_need(spec)))
        return queued
