"""Every photo a whole gallery build shows, in page order, read a chunk at a time.

The journal's photos come first, by id (the order they arrived), CHUNK at a time with
their jobs; each finished render's report is read where its job wrote it. Then the photos
known from reports alone (an outbox older than its journal, or the `gallery` command
without one) and those held in the inbox. The build writes each page as it fills and
lets its photos go, so a whole rebuild needs the memory of a few pages, not of the
outbox. Approvals are read before the photos (they are few), so each preview gets its
print as it passes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..core.layout import StateLayout, campaign_of
from ..core.states import FailureReason
from ..core.style_card_names import is_card
from ..journal import Input, JournalReader, open_reader
from . import prints
from .model import (Campaign, PhotoEntry, existing_file, finished_render, note_of,
                    output_from_report, photo_entry, shown, trouble_for)
from .prints import PrintItem
from .reports import ReportCache, image_of, report_files

CHUNK = 500   # photos read from the journal at once


class GalleryRead:
    """One pass over the journal and the outbox's reports. `photos()` yields (campaign,
    photo) once; after it, `unmatched` holds the approvals of no preview it yielded."""

    def __init__(self, outbox: Path, state_dir: Path | None, reports: ReportCache | None = None,
                 held: dict[str, str] | None = None, problems_folder: str = "_problems",
                 approve_folder: str = "_approve", styles_dir: Path | None = None):
        self.outbox, self.state_dir = Path(outbox), state_dir and Path(state_dir)
        self.reports = reports if reports is not None else ReportCache()
        self.held, self.problems_folder = held or {}, problems_folder
        self.approve_folder, self.styles_dir = approve_folder, styles_dir
        self.masks = StateLayout(self.state_dir).masks if self.state_dir else None
        self.unmatched: dict[str, list[PrintItem]] = {}

    def photos(self) -> Iterator[tuple[str, PhotoEntry]]:
        journal = self._open()
        try:
            loose = self._unknown_reports(journal)
            index = PrintIndex(loose.prints)
            if journal is not None:
                self._approvals(journal, index)
                for campaign, entry in self._journal_photos(journal):
                    index.attach(campaign, entry)
                    yield campaign, entry
            for (campaign, _), entry in loose.photos(self.held, self._held_entry).items():
                if shown(entry):
                    index.attach(campaign, entry)
                    yield campaign, entry
        finally:
            if journal is not None:
                journal.close()
        self.unmatched = index.unmatched()

    def _open(self) -> JournalReader | None:
        if self.state_dir is None:
            return None
        try:
            return open_reader(StateLayout(self.state_dir).journal, timeout=5)
        except FileNotFoundError:
            return None

    def _journal_photos(self, journal: JournalReader) -> Iterator[tuple[str, PhotoEntry]]:
        after = 0
        while True:
            with journal.snapshot():   # a chunk and its jobs as of one moment
                chunk = journal.inputs_after(after, CHUNK)
                jobs = journal.jobs_of_inputs(chunk[0].id, chunk[-1].id) if chunk else {}
            if not chunk:
                return
            for inp in chunk:
                if is_card(inp.relpath) or prints.is_approval(inp.relpath,
                                                              self.approve_folder):
                    continue   # styles.html shows a card; an approval goes on its preview
                entry = photo_entry(inp, jobs.get(inp.id, []), self.outbox,
                                    self.problems_folder, self.styles_dir, self.masks)
                if shown(entry):
                    yield inp.campaign, entry
            after = chunk[-1].id

    def _approvals(self, journal: JournalReader, index: "PrintIndex") -> None:
        """Each approval with its newest print job, oldest approval first."""
        for inp in journal.inputs_under(self.approve_folder):
            if not prints.is_approval(inp.relpath, self.approve_folder):
                continue
            jobs = journal.jobs_for_input(inp.id)
            job = jobs[-1] if jobs else None
            note = note_of(self.outbox, self.problems_folder, inp.relpath)
            detail = (job.error if job is not None else inp.error) or ""
            why = detail.split(": ", 1)[-1] if job is None else \
                (trouble_for(job.reason, inp.relpath, job.error, note).what if job.reason
                 else detail)
            found = finished_render(job) if job is not None else None
            index.add(inp, prints.from_journal(inp, job, found, why,
                                               note if note.is_file() else None))

    def _unknown_reports(self, journal: JournalReader | None) -> "LooseReports":
        """Reports no journal job wrote: parsed (only these are), by what they are."""
        known = {os.path.normpath(p) for p in journal.finished_reports()} \
            if journal is not None else set()
        found = []
        for path in report_files(self.outbox):
            if os.path.normpath(path) in known:
                continue
            report = self.reports.load(path)
            image = image_of(path, report) if report else None
            if image is not None and image.exists():
                found.append((image, report))
        if found and journal is not None:   # the outbox moved or a journal without paths
            outputs = {os.path.realpath(p) for p in journal.output_paths()}
            found = [(i, r) for i, r in found if os.path.realpath(i) not in outputs]
        return LooseReports(found, self.state_dir, self.styles_dir, self.masks)

    def _held_entry(self, relpath: str, reason: str) -> PhotoEntry:
        """A photo waiting in the inbox (no valid manifest)."""
        trouble = trouble_for(FailureReason.MANIFEST_INVALID, relpath, reason,
                              note_of(self.outbox, self.problems_folder, relpath))
        return PhotoEntry(relpath, trouble=trouble, held=True)


class LooseReports:
    """The reports the journal does not know: prints (they go on their previews) and
    renders, gathered by photo."""

    def __init__(self, found: list[tuple[Path, dict]], state_dir: Path | None,
                 styles_dir: Path | None, masks: Path | None):
        self.prints: list[tuple[Path, dict]] = []
        self.by_photo: dict[tuple[str, str], PhotoEntry] = {}
        for image, report in found:
            if (report.get("output") or {}).get("approved_from"):
                self.prints.append((image, report))
                continue
            job = report.get("job") or {}
            relpath = str(job.get("input") or (report.get("input") or {}).get("path")
                          or image.name)
            campaign = job.get("campaign")
            if campaign is None:
                campaign = campaign_of(relpath)
            entry = self.by_photo.setdefault((campaign, relpath), PhotoEntry(
                relpath, existing_file(state_dir and Path(state_dir) / "done" / relpath)))
            entry.outputs.append(output_from_report(report, image, styles_dir, masks))

    def photos(self, held: dict[str, str], held_entry) -> dict[tuple[str, str], PhotoEntry]:
        """These photos, then those held in the inbox (one held replaces its renders)."""
        out = dict(self.by_photo)
        for relpath, reason in held.items():
            out[(campaign_of(relpath), relpath)] = held_entry(relpath, reason)
        return out


class PrintIndex:
    """Approvals and loose prints by the preview they name, put on each preview as its
    photo passes: the newest approval of a preview stands (a print from a report alone
    when no approval names it); an approval of no preview is listed apart."""

    def __init__(self, loose: list[tuple[Path, dict]]):
        self.approvals: dict[tuple[str, str], list[tuple[int, PrintItem]]] = {}
        self.loose: dict[str, list[tuple[str, Path, PrintItem]]] = {}
        self.matched: set[tuple[str, str]] = set()
        for image, report in loose:
            source = PurePosixPath(str(report["output"]["approved_from"].get("preview") or ""))
            campaign = str((report.get("job") or {}).get("campaign") or "")
            self.loose.setdefault(source.name, []).append(
                (campaign, image.parent, prints.from_report(report, image)))

    def add(self, approval: Input, item: PrintItem) -> None:
        """Approvals oldest first: the last one added for a preview stands."""
        key = (approval.campaign, prints.approved_name(approval.relpath))
        self.approvals.setdefault(key, []).append((approval.id, item))

    def attach(self, campaign: str, entry: PhotoEntry) -> None:
        for out in entry.outputs:
            if out.image is None:
                continue
            key = (campaign, out.image.name)
            if key in self.approvals:
                out.print = self.approvals[key][-1][1]
                self.matched.add(key)
                continue
            for name, parent, item in self.loose.get(out.image.name, ()):
                if name == campaign or parent == out.image.parent:
                    out.print = item

    def unmatched(self) -> dict[str, list[PrintItem]]:
        left = sorted((n, key[0], item) for key, items in self.approvals.items()
                      if key not in self.matched for n, item in items)
        out: dict[str, list[PrintItem]] = {}
        for _, campaign, item in left:
            out.setdefault(campaign, []).append(item)
        return out



def collect(outbox: Path, state_dir: Path | None, reports: ReportCache | None = None,
            held: dict[str, str] | None = None, problems_folder: str = "_problems",
            approve_folder: str = "_approve", styles_dir: Path | None = None
            ) -> list[Campaign]:
    """Every campaign with its photos and outputs, all in memory (a contact sheet, a
    check): the top of the inbox first, then by name."""
    read = GalleryRead(outbox, state_dir, reports, held, problems_folder, approve_folder,
                       styles_dir)
    campaigns: dict[str, Campaign] = {}
    for name, entry in read.photos():
        campaigns.setdefault(name, _campaign(outbox, name)).photos.append(entry)
    for name, items in read.unmatched.items():
        campaigns.setdefault(name, _campaign(outbox, name)).unmatched.extend(items)
    return sorted(campaigns.values(), key=lambda c: (c.name != "", c.name.lower()))


def _campaign(outbox: Path, name: str) -> Campaign:
    return Campaign(name, Path(outbox) / name if name else Path(outbox))
