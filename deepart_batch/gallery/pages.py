"""Build the gallery pages: outbox/index.html and outbox/<campaign>/index.html.

Plain files that work from file:// and over SMB/NFS: relative links only, CSS inline, no
scripts, fonts or CDNs. Templates autoescape (file names are user input) and every page is
written atomically, so a reader never sees half a page.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader

from ..core.style_card_names import STYLES_PAGE
from ..core.state_texts import plain
from ..core.states import ShownState
from ..paths import atomic_write_bytes
from ..report import duration
from .liveness import holder_alive, run_mode
from ..core.layout import StateLayout
from ..core.style_card_names import is_card
from ..journal import JournalDamaged, JournalUnavailable, open_reader
from . import prints
from .gather import GalleryRead
from .model import GALLERY_FOLDER, Campaign, PhotoEntry, photo_entry, shown
from .paging import LATER_PAGE, CampaignPages, keep_prints, page_name
from .reports import ReportCache
from .prints import PRINT_STATE_WORDS
from .styles import card_folder, collect_styles, no_card_words, page_context
from .thumbs import Thumbnails
from .views import href, photo_view, print_view

PAGE = "index.html"
DEFAULT_APPROVE_FOLDER = "_approve"   # without a config (as config.ApproveConfig's default)
STATE_LABELS = {s: s.value for s in (ShownState.DONE, ShownState.RENDERING, ShownState.QUEUED,
                                     ShownState.WAITING, ShownState.HELD, ShownState.FAILED)}
_STAMP = "\x00updated\x00"   # replaced after hashing, so an unchanged page is not rewritten
GENERATOR = "deepart-batch gallery"   # in every page: how a stale page is known to be ours
UPDATE_PHOTOS = 2000   # changed photos read per update at most (the rest: the next one)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=True, trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)   # loaded once: templates match this code
    env.filters["loss"] = lambda v: f"{v:.3g}"
    env.filters["duration"] = duration
    env.globals["generator"] = GENERATOR
    env.globals["print_state_words"] = PRINT_STATE_WORDS
    return env


@dataclass
class GalleryBuild:
    """One pass over the outbox; keeps caches between passes for the daemon's writer."""
    outbox: Path
    state_dir: Path | None = None
    max_pixels: int = 50_000_000
    problems_folder: str = "_problems"
    manifest: Path | None = None      # its <manifest>.error.json present: a banner
    config: Any = None                # given: outbox/styles.html too, linked from every page
    cards_made: bool | None = None    # whether the writing process makes style cards
    #                                   (None: as the lock file's run mode says)
    reports: ReportCache = field(default_factory=ReportCache)
    written: dict[str, str] = field(default_factory=dict)   # page -> hash of its content
    model: dict[str, CampaignPages] | None = None   # what the last full build showed
    seen: int | None = None           # the journal's change number it showed

    def __post_init__(self):
        self._shape = None
        self.outbox = Path(self.outbox)
        self.env = environment()
        self.approve_folder = self.config.approve.folder if self.config is not None \
            else DEFAULT_APPROVE_FOLDER

    def run(self, held: dict[str, str] | None = None, force: bool = False,
            live: bool | None = None) -> list[Path]:
        """Rebuild every page; returns the pages written (unchanged ones are skipped).
        `live`: a daemon or bulk pass is running (None: ask the state_dir's lock file);
        only then do pages with queued or rendering photos refresh themselves. Keeps what
        it built, for `update` to change only what the journal says changed."""
        seen = self._last_change()   # before reading: a change meanwhile is read again
        read = GalleryRead(self.outbox, self.state_dir, self.reports, held,
                           self.problems_folder, self.approve_folder,
                           self.config.styles_dir if self.config is not None else None)
        live = holder_alive(self.state_dir) if live is None else live
        banner = self._manifest_banner()
        written: list[Path] = []
        self.model, outside = {}, set()
        for name, entry in read.photos():
            pages = self._campaign_pages(name, outside)
            if pages is None:
                continue   # a link inside the outbox leads elsewhere: never write through it
            done = pages.append(entry, photo_view(entry, pages.folder, pages.thumbs))
            if done:   # full, and the next page begun: written now, its photos let go
                written += self._write_pages(pages, [done], live, banner, force)
                pages.freeze(done)
        self.reports = ReportCache()   # read once; later changes are read one by one
        for name, items in read.unmatched.items():
            pages = self._campaign_pages(name, outside)
            if pages is not None:
                pages.campaign.unmatched = items
                pages.unmatched = [print_view(i, pages.folder, pages.thumbs) for i in items]
        for pages in self.model.values():
            last = pages.page_count() - 1
            pages.count_page(last)
            written += self._write_pages(pages, sorted({0, last}), live, banner, force)
            pages.freeze_idle()
            self._remove_later_pages(pages)
        written += self._write_index(live, banner, force)
        folders = [p.thumbs for p in self.model.values()]
        if self.config is not None:
            thumbs = Thumbnails(card_folder(self.outbox) / GALLERY_FOLDER, self.max_pixels)
            folders.append(thumbs)
            if self._styles_page(thumbs, banner, live, force):
                written.append(self.outbox / STYLES_PAGE)
        self._remove_stale({name for name in self.model if name} | outside)
        for thumbs in folders:   # after the pages: a page on disk never lacks its thumbnails
            thumbs.prune()
        self.seen, self._shape = seen, (live, banner, dict(held or {}))
        return written

    def _campaign_pages(self, name: str, outside: set[str]) -> CampaignPages | None:
        """The campaign's pages in this build, begun on its first photo; None when its
        folder leads out of the outbox."""
        pages = self.model.get(name)
        if pages is None and name not in outside:
            folder = self.outbox / name if name else self.outbox
            if not self._inside_outbox(folder):
                outside.add(name)
                return None
            pages = self.model[name] = CampaignPages(
                Campaign(name, folder), [], [], Thumbnails(folder / GALLERY_FOLDER,
                                                           self.max_pixels))
        return pages

    def update(self, journal, held: dict[str, str] | None = None,
               live: bool | None = None) -> list[Path] | None:
        """Write again only the pages of the photos the journal changed since the last
        build, the first page of their campaigns and the index (from each campaign's
        tallies); None when only a full `run` can say it (nothing built yet, the held
        set or the banner changed, an approval or card changed, a photo left). When only
        liveness changed (the daemon stops), the pages still moving are written again."""
        live = holder_alive(self.state_dir) if live is None else live
        banner = self._manifest_banner()
        shape = (live, banner, dict(held or {}))
        if self.model is None or self.seen is None or self._shape is None or \
                self._shape[1:] != shape[1:]:
            return None
        relive = self._shape[0] != live   # the daemon starts or stops
        written: list[Path] = []
        first = True
        while True:   # until caught up: a quiet journal asks for no later update
            changed = journal.changed_since(self.seen, limit=UPDATE_PHOTOS)
            if not changed and not (first and relive):
                if first:
                    return []
                break
            before = self.seen
            part = self._apply(journal, changed, live, banner, relive=first and relive)
            if part is None:
                return None
            written += part
            first = False
            if len(changed) < UPDATE_PHOTOS or self.seen == before:
                break   # caught up, or only photos not shown yet (read when they change)
        if self._shape[0] != live and self.config is not None:
            thumbs = Thumbnails(card_folder(self.outbox) / GALLERY_FOLDER, self.max_pixels)
            if self._styles_page(thumbs, banner, live, False):
                written.append(self.outbox / STYLES_PAGE)
        self._shape = shape
        return written + self._write_index(live, banner, False)

    def behind(self, journal) -> bool:
        """Whether the photos changed since the last build are so many that a whole build
        costs less than reading each again (more than half of those shown)."""
        if self.model is None or self.seen is None:
            return True
        shown = sum(len(pages.ids) for pages in self.model.values())
        return journal.count_changed_since(self.seen) > max(UPDATE_PHOTOS, shown // 2)

    def _apply(self, journal, changed: list, live: bool, banner, relive: bool
               ) -> list[Path] | None:
        """One batch of changed photos placed and their pages written; with `relive`, the
        pages that refresh themselves too. None when only a full `run` can place them."""
        dirty: dict[str, set[int]] = {}
        with journal.snapshot():
            if relive:   # the pages that refresh themselves say it
                for name, pages in self.model.items():
                    for number in [n for n in range(pages.page_count()) if pages.moving[n]]:
                        if number in pages.frozen and not self._thaw(journal, pages, number):
                            return None
                        dirty.setdefault(name, set()).add(number)
            for inp in changed:
                if is_card(inp.relpath) or prints.is_approval(inp.relpath, self.approve_folder):
                    return None   # styles.html and prints: the full build's
                entry = self._entry(journal, inp)
                pages = self.model.get(inp.campaign)
                frozen = pages.frozen_page_of(inp.id) if pages is not None else None
                if frozen is not None and not self._thaw(journal, pages, frozen):
                    return None
                old = pages.entry(inp.id) if pages is not None else None
                if not shown(entry):
                    if old is not None:
                        return None   # a photo leaves its page: every later one moves
                    continue
                if pages is None:
                    folder = self.outbox / inp.campaign if inp.campaign else self.outbox
                    if not self._inside_outbox(folder):
                        continue   # never write through a link that leads elsewhere
                    pages = self.model[inp.campaign] = CampaignPages(
                        Campaign(inp.campaign, folder), [], [],
                        Thumbnails(folder / GALLERY_FOLDER, self.max_pixels))
                keep_prints(old, entry)
                view = photo_view(entry, pages.folder, pages.thumbs)
                dirty.setdefault(inp.campaign, set()).update(pages.put(entry, view))
                self.seen = max(self.seen, inp.changed)
        written = []
        for name, numbers in dirty.items():
            for number in numbers:
                self.model[name].count_page(number)
            written += self._write_pages(self.model[name], sorted(numbers), live, banner,
                                         False)
            self.model[name].freeze_idle()
        return written

    def _entry(self, journal, inp) -> PhotoEntry:
        return photo_entry(inp, journal.jobs_for_input(inp.id), self.outbox,
                           self.problems_folder,
                           self.config.styles_dir if self.config is not None else None,
                           StateLayout(Path(self.state_dir)).masks if self.state_dir else None)

    def _thaw(self, journal, pages: CampaignPages, number: int) -> bool:
        """Read a frozen page's photos again; False when one is gone or no longer shown
        (only a full build can place the others then)."""
        entries = []
        for input_id in pages.page_ids(number):
            try:
                entry = self._entry(journal, journal.input(input_id))
            except LookupError:
                return False
            if not shown(entry):
                return False
            entries.append(entry)
        pages.thaw(number, entries, [photo_view(e, pages.folder, pages.thumbs)
                                     for e in entries])
        return True

    def _inside_outbox(self, folder: Path) -> bool:
        root = os.path.realpath(self.outbox)
        real = os.path.realpath(folder)
        return real == root or real.startswith(root + os.sep)

    def _last_change(self) -> int | None:
        """The journal's newest change number, None without a journal to ask."""
        if self.state_dir is None:
            return None
        try:
            journal = open_reader(StateLayout(Path(self.state_dir)).journal, timeout=5)
        except (FileNotFoundError, JournalUnavailable, JournalDamaged):
            return None
        try:
            return journal.last_change() if journal.tracks_changes() else None
        except (JournalUnavailable, JournalDamaged):
            return None
        finally:
            journal.close()

    def _write_pages(self, pages: CampaignPages, numbers, live: bool, banner,
                     force: bool) -> list[Path]:
        """The campaign's pages `numbers` (0 is its index.html; the top of the inbox's
        first page is the gallery's own index, written by _write_index)."""
        written = []
        campaign = pages.campaign
        for number in numbers:
            if number >= pages.page_count() or (not campaign.name and number == 0):
                continue
            page = pages.folder / page_name(number)
            first = number == 0
            if self._write(page, "campaign.html", force, campaign=campaign,
                           photos=pages.views[pages.page_slice(number)],
                           unmatched=pages.unmatched if first else [],
                           pending=live and pages.moving[number], banner=banner,
                           tally=pages.tally() if first else None,
                           pager=pages.pager(number, href),
                           styles_href=self._styles_href(pages.folder),
                           home=href(self.outbox / PAGE, pages.folder)):
                written.append(page)
        return written

    def _write_index(self, live: bool, banner, force: bool) -> list[Path]:
        """outbox/index.html: a row per campaign from its tallies, and the first page of
        the photos dropped at the top of the inbox."""
        named = sorted((p for name, p in self.model.items() if name),
                       key=lambda p: p.campaign.name.lower())
        top = self.model.get("")
        index = self.outbox / PAGE
        if self._write(index, "index.html", force,
                       campaigns=[self._index_row(p) for p in named],
                       photos=top.views[top.page_slice(0)] if top else [],
                       unmatched=top.unmatched if top else [], banner=banner,
                       pager=top.pager(0, href) if top else None,
                       pending=live and any(p.active() for p in self.model.values()),
                       styles_href=self._styles_href(self.outbox)):
            return [index]
        return []

    def _remove_later_pages(self, pages: CampaignPages) -> None:
        """Pages past the campaign's last (it has fewer photos now) go."""
        try:
            names = os.listdir(pages.folder)
        except OSError:
            return
        for name in names:
            match = LATER_PAGE.fullmatch(name)
            if match and int(match.group(1)) > pages.page_count() and \
                    _ours(pages.folder / name):
                try:
                    (pages.folder / name).unlink()
                    self.written.pop(str(pages.folder / name), None)
                except OSError:
                    pass

    def _styles_href(self, folder: Path) -> str | None:
        return href(self.outbox / STYLES_PAGE, folder) if self.config is not None else None

    def _styles_page(self, thumbs: Thumbnails, banner, live: bool, force: bool) -> bool:
        """outbox/styles.html: every painting with its card (gallery/styles.py)."""
        context = page_context(collect_styles(self.config, self.reports), self.outbox,
                               thumbs, href)
        params = self.config.card_params()
        active = any(s["state"] in (ShownState.RENDERING, ShownState.QUEUED)
                     for s in context["styles"])
        no_card = no_card_words(self.config.cards, run_mode(self.state_dir), self.cards_made)
        return self._write(self.outbox / STYLES_PAGE, "styles.html", force, banner=banner,
                           pending=live and active, home=PAGE, size=params.size,
                           steps=params.steps, cards_on=self.config.cards, no_card=no_card,
                           **context)

    def _index_row(self, pages: CampaignPages) -> dict:
        first = pages.views[pages.page_slice(0)]
        cover = next((o["thumb"] for p in first for o in p["outputs"] if o.get("thumb")), None)
        name = pages.campaign.name
        return {"name": name, "href": href(pages.folder / PAGE, self.outbox),
                "cover": cover and f"{quote(name, safe='')}/{cover}",
                "tally": pages.tally()}

    def _manifest_banner(self) -> dict | None:
        """The manifest is broken (its .error.json is there): what the team should know."""
        if self.manifest is None:
            return None
        error_file = Path(self.manifest).with_name(Path(self.manifest).name + ".error.json")
        try:
            data = json.loads(error_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError):
            data = {}
        errors = [plain(e) for e in (data.get("errors") or []) if isinstance(e, str)] \
            if isinstance(data, dict) else []
        return {"manifest": Path(self.manifest).name, "error_file": error_file.name,
                "errors": errors[:5], "more": max(0, len(errors) - 5)}

    def _remove_stale(self, current: set[str]) -> None:
        """A campaign page whose campaign is gone (its photos renamed, moved or fixed
        under another folder) goes, with its thumbnails: no page left waiting forever."""
        for page in self.outbox.glob(f"*/{PAGE}"):
            folder = page.parent
            if folder.name in current or folder.is_symlink() or not _ours(page):
                continue
            try:
                page.unlink()
                self.written.pop(str(page), None)
                shutil.rmtree(folder / GALLERY_FOLDER, ignore_errors=True)
                folder.rmdir()   # only when nothing else is left in it
            except OSError:
                pass

    def _write(self, page: Path, template: str, force: bool, **context) -> bool:
        html = self.env.get_template(template).render(updated=_STAMP, **context)
        digest = hashlib.sha256(html.encode()).hexdigest()
        if not force and self.written.get(str(page)) == digest and page.exists():
            return False
        html = html.replace(_STAMP, time.strftime("%Y-%m-%d %H:%M:%S"))
        atomic_write_bytes(page, html.encode("utf-8"))
        self.written[str(page)] = digest
        return True


def _ours(page: Path) -> bool:
    try:
        with open(page, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head or b" - deepart-batch gallery</title>" in head


def build_gallery(outbox: Path, state_dir: Path | None = None, max_pixels: int = 50_000_000,
                  held: dict[str, str] | None = None, problems_folder: str = "_problems",
                  manifest: Path | None = None, config: Any = None) -> Path:
    """Rebuild everything once (the `gallery` command); returns outbox/index.html.
    With `config`, outbox/styles.html too."""
    GalleryBuild(Path(outbox), state_dir, max_pixels, problems_folder, manifest,
                 config).run(held, force=True)
    return Path(outbox) / PAGE

