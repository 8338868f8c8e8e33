"""Style cards, what people see: every painting of styles_dir with its manifest
names, the rules that use it and its card, for outbox/styles.html and `deepart-batch styles`.

The cards' images and reports are in outbox/_styles/ at names fixed by the painting and the
card photo (core/style_card_names.py); the journal, read-only, adds what is queued, rendering, held or
failed, and the problem card of a painting that cannot be read. Without a journal entry a
painting is probed here, so a file that does not open says why even with `cards: false`.
Nothing here imports torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import images
from ..core.style_card_names import (NAME_TEMPLATE, STYLES_FOLDER, card_photos, card_relpath,
                                     card_slug, list_paintings)
from ..core.layout import StateLayout
from ..core.outbox_names import output_path, report_path
from ..core.state_texts import message
from ..core.states import FailureReason, InputState, JobState, RunMode, ShownState
from ..errors import DeepartError
from ..journal import JournalDamaged, JournalUnavailable, open_reader
from ..settings.manifest import peek_manifest
from .reports import ReportCache

JOB_STATES = {JobState.RUNNING: ShownState.RENDERING, JobState.QUEUED: ShownState.QUEUED,
              JobState.WAITING: ShownState.QUEUED, JobState.HELD: ShownState.HELD,
              JobState.FAILED: ShownState.FAILED, JobState.DONE: ShownState.DONE}


@dataclass
class CardImage:
    photo: str                       # the card photo's name (tubingen)
    state: ShownState                # done | rendering | queued | held | failed | missing
    image: Path | None = None        # outbox/_styles/<painting>.<photo>.jpg, when done
    seconds: float | None = None
    device: str | None = None
    trouble: tuple[str, str] | None = None   # (what, what to do) of a held or failed card


@dataclass
class StyleEntry:
    rel: str                         # the painting's path inside styles_dir
    painting: Path
    names: list[str] = field(default_factory=list)    # manifest style names using it
    rules: list[str] = field(default_factory=list)    # 'rules[0] "city/**": starry, ...'
    cards: list[CardImage] = field(default_factory=list)
    problem: tuple[str, str] | None = None   # (what, what to do): no card can be made
    in_folder: bool = True           # False: the manifest names it, the folder lacks it

    @property
    def state(self) -> ShownState:
        states = {c.state for c in self.cards}
        if self.problem:
            return ShownState.PROBLEM
        if not self.cards:
            return ShownState.NONE
        for state in (ShownState.FAILED, ShownState.HELD, ShownState.RENDERING,
                      ShownState.QUEUED, ShownState.MISSING):
            if state in states:
                return state
        return ShownState.DONE


def _usage(manifest, styles_dir: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """painting realpath -> its style names, and -> the rules (with outputs) using them."""
    names: dict[str, list[str]] = {}
    rules: dict[str, list[str]] = {}
    if manifest is None:
        return names, rules
    for name, style in sorted(manifest.styles.items()):
        names.setdefault(os.path.realpath(style.image), []).append(name)
    for i, rule in enumerate(manifest.rules):
        for real, used in names.items():
            outputs = [o.slug for o in rule.outputs if set(o.styles) & set(used)]
            if outputs:
                rules.setdefault(real, []).append(
                    f'rules[{i}] "{rule.match}": {", ".join(outputs)}')
    return names, rules


def _journal(state_dir: Path | None):
    try:
        return open_reader(StateLayout(Path(state_dir)).journal, timeout=5) \
            if state_dir else None
    except (FileNotFoundError, JournalUnavailable, JournalDamaged):
        return None


def _card_from_job(job, photo: str, image: Path) -> CardImage:
    state = JOB_STATES.get(job.state) or ShownState(job.state.value)
    card = CardImage(photo, state, seconds=job.render_seconds, device=job.device)
    if job.state == JobState.DONE:
        card.image = image if image.is_file() else None
        card.state = ShownState.DONE if card.image else ShownState.MISSING
    elif job.state in (JobState.HELD, JobState.FAILED):
        card.trouble = message(job.reason, f"card {photo}", job.error or "")
    return card


def _card_from_report(photo: str, image: Path, report: Path, reports: ReportCache
                      ) -> CardImage:
    if not image.is_file():
        return CardImage(photo, ShownState.MISSING)
    data = reports.load(report) or {}
    return CardImage(photo, ShownState.DONE, image,
                     (data.get("timings") or {}).get("render_seconds"), data.get("device"))


def collect_styles(config, reports: ReportCache | None = None) -> list[StyleEntry]:
    """Every painting of styles_dir (and each one the manifest names but is not there)."""
    styles_dir, outbox = Path(config.styles_dir), Path(config.outbox)
    reports = reports or ReportCache()
    manifest = peek_manifest(config.manifest, styles_dir, config)
    names, rules = _usage(manifest, styles_dir)
    paintings = list_paintings(styles_dir)
    listed = {os.path.realpath(p) for _, p in paintings}
    missing = sorted({Path(real) for real in names if real not in listed})
    fmt = config.output.format.lower()
    subfolder = config.output.reports == "subfolder"
    journal = _journal(config.state_dir)
    entries = []
    try:
        for rel, path in paintings + [(_rel(m, styles_dir), m) for m in missing]:
            real = os.path.realpath(path)
            entry = StyleEntry(rel, path, names.get(real, []), rules.get(real, []))
            entries.append(entry)
            if path in missing:
                entry.in_folder = False
                entry.problem = (f'The manifest names "{rel}", but it is not in the styles '
                                 f"folder.", "Copy the painting into the styles folder, or "
                                 "change the manifest.")
                continue
            _fill_cards(entry, card_relpath(rel), outbox, fmt, subfolder, journal, reports)
    finally:
        if journal is not None:
            journal.close()
    return entries


def _rel(path: Path, styles_dir: Path) -> str:
    try:
        return path.relative_to(os.path.realpath(styles_dir)).as_posix()
    except ValueError:
        return path.name


def _fill_cards(entry: StyleEntry, card_rel: str, outbox: Path, fmt: str, subfolder: bool,
                journal, reports: ReportCache) -> None:
    """The painting's card as its newest card input in the journal says, else as the
    outbox holds it; a painting with neither is probed (its problem, or 'not made yet')."""
    latest, jobs = None, {}
    if journal is not None:
        try:
            history = [i for i in journal.history(card_rel) if i.state != InputState.RETRIED]
            latest = history[-1] if history else None
            jobs = {j.slug: j for j in journal.jobs_for_input(latest.id)} if latest else {}
        except (JournalUnavailable, JournalDamaged):
            latest, jobs = None, {}
    if latest is not None and latest.state == InputState.FAILED and not jobs:
        detail = (latest.error or "").split(": ", 1)[-1]
        entry.problem = message(latest.reason or FailureReason.STYLE_UNREADABLE,
                                PurePosixPath(entry.rel).name, detail)
        return
    for photo in card_photos():
        image = output_path(outbox, card_rel, photo.stem, fmt, NAME_TEMPLATE)
        job = jobs.get(card_slug(photo)) if latest is not None else None
        entry.cards.append(_card_from_job(job, photo.stem, image) if job else
                           _card_from_report(photo.stem, image, report_path(image, subfolder),
                                             reports))
    if all(c.state == ShownState.MISSING for c in entry.cards):
        entry.cards = []
        try:
            images.probe(entry.painting)
        except DeepartError as exc:
            entry.problem = message(FailureReason.STYLE_UNREADABLE,
                                    PurePosixPath(entry.rel).name,
                                    str(exc).split(": ", 1)[-1])


def no_card_words(cards_on: bool, mode: RunMode | None, cards_made: bool | None = None
                  ) -> str:
    """Why a painting has no card yet, true for how this box runs: `cards_made` when the
    writer knows (the daemon says whether this run makes cards: not `run --once
    --no-cards`), else from `mode` (the lock file's role: `watch` makes cards by itself,
    the next `run --once` after its photos)."""
    if not cards_on:
        return "No card: cards are turned off in the config (cards: false)."
    if cards_made or (cards_made is None and mode is RunMode.DAEMON):
        return "No card yet: it is made by itself, after the photos waiting now."
    if cards_made is False:
        return ("No card yet: this bulk pass ran with --no-cards, which makes none; the next "
                "run --once without it, or the service (deepart-batch watch), makes it, "
                "behind the photos.")
    if mode is RunMode.BULK:
        return ("No card yet: the next bulk pass (run --once) makes it, after its photos "
                "(not with --no-cards).")
    return ("No card yet: cards are made by the service (deepart-batch watch) and by "
            "run --once, behind the photos.")


def page_context(entries: list[StyleEntry], outbox: Path, thumbs, href) -> dict:
    """What templates/styles.html shows; thumbnails in outbox/_styles/.gallery/ (`thumbs`),
    links relative to the outbox (`href(target, page folder)`)."""
    outbox = Path(outbox)
    styles = []
    for e in entries:
        small = thumbs.get(e.painting)
        cards = []
        for c in e.cards:
            thumb = thumbs.get(c.image) if c.image else None
            cards.append({"photo": c.photo, "state": c.state, "seconds": c.seconds,
                          "device": c.device, "href": href(c.image, outbox) if c.image
                          else None, "thumb": href(thumb, outbox) if thumb else None,
                          "file": c.image.name if c.image else None,
                          "trouble": c.trouble})
        styles.append({"rel": e.rel, "names": e.names, "rules": e.rules, "cards": cards,
                       "state": e.state, "problem": e.problem,
                       "thumb": href(small, outbox) if small else None})
    return {"styles": styles, "photos": [p.stem for p in card_photos()],
            "in_folder": sum(e.in_folder for e in entries),
            "not_in_folder": sum(not e.in_folder for e in entries)}


def card_folder(outbox: Path) -> Path:
    return Path(outbox) / STYLES_FOLDER
