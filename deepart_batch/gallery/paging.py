"""A campaign's photos on pages of at most PAGE_PHOTOS, so that no page grows with the
backlog: page 1 is the campaign's index.html (its tally and links to every page), the
others page-2.html, page-3.html, ... each linking to the first, previous and next page.
Each page keeps its own tally and rendered photo views, so a change to one photo rewrites
its page and the first one, never the whole campaign. Only the first page, the last and
the KEEP_THAWED pages changed most recently keep their photos in memory; every other full
page (with no prints on it) is frozen: its tally and its photos' journal ids stay, so the
daemon's memory does not grow with the backlog, and a change to one of its photos reads
that page again from the journal (`thaw`). The render front and the intake front move
through a campaign page by page, so a page is thawed about once as they pass."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.states import ShownState
from .model import ACTIVE, PHOTO_STATES, Campaign, PhotoEntry, photo_state
from . import prints as approvals
from .prints import PRINT_STATES
from .thumbs import Thumbnails

PAGE_PHOTOS = 200     # a few hundred photos a page: well under 1 MB of HTML
KEEP_THAWED = 8       # pages besides the first and the last whose photos stay in memory
FIRST_PAGE = "index.html"
LATER_PAGE = re.compile(r"page-(\d+)\.html")


def page_name(number: int) -> str:
    """The file of page `number` (0-based) in a campaign's folder."""
    return FIRST_PAGE if number == 0 else f"page-{number + 1}.html"


def tally_of(photos: list[PhotoEntry]) -> dict:
    """Photos and images counted apart: '30 photos · 7 rendered · 2 failed · 5 waiting'
    and '14 of 60 images done'; a print is part of its preview's image, never one more
    photo or image: '1 print ready · 1 print rendering'."""
    outputs = [o for p in photos for o in p.outputs]
    states: dict = {}
    for p in photos:
        state = photo_state(p)
        states[state] = states.get(state, 0) + 1
    prints: dict = {}
    for o in outputs:
        if o.print is not None:
            prints[o.print.state] = prints.get(o.print.state, 0) + 1
    return {"photos": len(photos), "states": states, "images": len(outputs),
            "images_done": sum(o.state == ShownState.DONE for o in outputs), "prints": prints}


def add_tallies(tallies: list[dict]) -> dict:
    """The campaign's tally from its pages' (in the order its words are shown)."""
    states: dict = {}
    prints: dict = {}
    for t in tallies:
        for k, n in t["states"].items():
            states[k] = states.get(k, 0) + n
        for k, n in t["prints"].items():
            prints[k] = prints.get(k, 0) + n
    return {"photos": sum(t["photos"] for t in tallies),
            "states": {s: states[s] for s in PHOTO_STATES if states.get(s)},
            "images": sum(t["images"] for t in tallies),
            "images_done": sum(t["images_done"] for t in tallies),
            "prints": {s: prints[s] for s in PRINT_STATES if prints.get(s)}}


def _active(photos: list[PhotoEntry]) -> bool:
    return any(o.state in ACTIVE or (o.print is not None and o.print.state in
                                     (approvals.APPROVED, approvals.RENDERING))
               for p in photos for o in p.outputs)


@dataclass
class CampaignPages:
    """One campaign as shown: its photos in order, the view of each (what the templates
    get, thumbnails made), and per page its tally and whether it is still moving."""
    campaign: Campaign
    views: list[dict]
    unmatched: list[dict]
    thumbs: Thumbnails
    positions: dict[int, int] = field(default_factory=dict)   # input id -> place
    tallies: dict[int, dict] = field(default_factory=dict)
    moving: dict[int, bool] = field(default_factory=dict)
    frozen: set[int] = field(default_factory=set)
    touched: dict[int, int] = field(default_factory=dict)   # page -> when it last changed

    def __post_init__(self):
        self._clock = itertools.count(1)
        self.ids = [p.input_id for p in self.campaign.photos]   # place -> input id
        self.positions = {i: n for n, i in enumerate(self.ids) if i is not None}
        for number in range(self.page_count()):
            self.count_page(number)

    @property
    def folder(self) -> Path:
        return self.campaign.folder

    def page_count(self) -> int:
        return max(1, -(-len(self.campaign.photos) // PAGE_PHOTOS))

    def page_slice(self, number: int) -> slice:
        return slice(number * PAGE_PHOTOS, (number + 1) * PAGE_PHOTOS)

    def count_page(self, number: int) -> None:
        photos = self.campaign.photos[self.page_slice(number)]
        self.tallies[number] = tally_of(photos)
        self.moving[number] = _active(photos)

    def tally(self) -> dict:
        return add_tallies([self.tallies[n] for n in range(self.page_count())])

    def active(self) -> bool:
        return any(self.moving.get(n) for n in range(self.page_count()))

    def append(self, entry: PhotoEntry, view: dict) -> int | None:
        """Add the next photo of a whole build; returns the page it completes by starting
        the next (then full and followed: ready to write and freeze), else None."""
        place = len(self.campaign.photos)
        self.campaign.photos.append(entry)
        self.views.append(view)
        self.ids.append(entry.input_id)
        if entry.input_id is not None:
            self.positions[entry.input_id] = place
        if place and place % PAGE_PHOTOS == 0:
            number = place // PAGE_PHOTOS - 1
            self.count_page(number)
            return number
        return None

    def put(self, entry: PhotoEntry, view: dict) -> set[int]:
        """Place a changed or new photo; returns the pages to count (count_page) and write
        again, once for all the photos of one update."""
        place = self.positions.get(entry.input_id)
        if place is None:
            before = self.page_count()
            place = len(self.campaign.photos)
            self.campaign.photos.append(entry)
            self.views.append(view)
            self.ids.append(entry.input_id)
            self.positions[entry.input_id] = place
            number = place // PAGE_PHOTOS
            dirty = {0, number} | ({number - 1} if self.page_count() > before else set())
        else:
            self.campaign.photos[place] = entry
            self.views[place] = view
            dirty = {0, place // PAGE_PHOTOS}
        self.touched[place // PAGE_PHOTOS] = next(self._clock)
        return dirty

    def entry(self, input_id: int) -> PhotoEntry | None:
        place = self.positions.get(input_id)
        return None if place is None else self.campaign.photos[place]

    def frozen_page_of(self, input_id: int) -> int | None:
        """The frozen page this photo is on, if it is on one."""
        place = self.positions.get(input_id)
        number = None if place is None else place // PAGE_PHOTOS
        return number if number in self.frozen else None

    def page_ids(self, number: int) -> list[int]:
        return list(self.ids[self.page_slice(number)])

    def freeze_idle(self) -> None:
        """Let go of the photos of every full page but the first, the last and the
        KEEP_THAWED changed most recently (pages with prints, or with photos known from
        reports alone, cannot be read again from the journal and stay)."""
        idle = [n for n in range(1, self.page_count() - 1) if n not in self.frozen
                and not self.tallies[n]["prints"] and None not in self.ids[self.page_slice(n)]]
        idle.sort(key=lambda n: self.touched.get(n, -1), reverse=True)
        for number in idle[KEEP_THAWED:]:
            self.freeze(number)

    def freeze(self, number: int) -> bool:
        """Let go of one full page's photos, unless it is the first or cannot be read
        again from the journal (prints on it, or photos known from reports alone)."""
        part = self.page_slice(number)
        if number == 0 or number in self.frozen or len(self.ids[part]) < PAGE_PHOTOS or \
                self.tallies[number]["prints"] or None in self.ids[part]:
            return False
        self.campaign.photos[part] = [None] * PAGE_PHOTOS
        self.views[part] = [None] * PAGE_PHOTOS
        self.frozen.add(number)
        return True

    def thaw(self, number: int, photos: list[PhotoEntry], views: list[dict]) -> None:
        """A frozen page's photos and views, read again."""
        part = self.page_slice(number)
        assert len(photos) == len(views) == len(self.ids[part])
        self.campaign.photos[part] = photos
        self.views[part] = views
        self.frozen.discard(number)

    def pager(self, number: int, href) -> dict | None:
        """Links between the pages (None: one page). Only the first lists them all, so a
        new page changes the first and the one before it, no other."""
        count = self.page_count()
        if count == 1:
            return None
        link = (lambda n: href(self.folder / page_name(n), self.folder))
        return {"number": number + 1,
                "first": link(0) if number > 0 else None,
                "prev": link(number - 1) if number > 0 else None,
                "next": link(number + 1) if number + 1 < count else None,
                "pages": [{"number": n + 1, "href": link(n)} for n in range(count)]
                if number == 0 else None}


def keep_prints(old: PhotoEntry | None, new: PhotoEntry) -> None:
    """Approvals are attached by the full build: a photo read again keeps its prints."""
    if old is None:
        return
    found = {o.slug: o.print for o in old.outputs if o.print is not None}
    for out in new.outputs:
        if out.print is None and out.slug in found:
            out.print = found[out.slug]
