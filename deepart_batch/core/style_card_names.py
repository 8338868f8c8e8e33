"""Style cards: the names they share between the daemon, the gallery and the CLI.

A card shows what one painting of styles_dir does: the standard card photos shipped here
(core/card_photos/, small), restyled with that painting at the config's defaults. A card
goes through the journal like a photo: its input is a copy of the painting, under the
inbox-like path `_styles/<painting>` and the campaign `_styles` (a name the inbox may not
use), and its jobs render one card photo each, behind every photo. Its images and reports
go to outbox/_styles/; the page is outbox/styles.html. Pure names and listing, no I/O
beyond listing folders.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

STYLES_FOLDER = "_styles"        # outbox/_styles/: the cards; also their campaign
STYLES_PAGE = "styles.html"      # outbox/styles.html
CARD_MAX_SIZE = 256              # a card's long side: min(defaults.size, this)
CARD_PRIORITY = -(2 ** 62)       # below any rule's priority: photos always go first
NAME_TEMPLATE = "{stem}.{style}.{ext}"   # outbox/_styles/<painting stem>.<photo stem>.jpg
PHOTOS_FOLDER = Path(__file__).resolve().parent / "card_photos"
# What counts as a painting in styles_dir: these suffixes (and nothing hidden). A file
# named like an image that does not open is a problem card; other files are not shown.
PAINTING_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def card_photos() -> list[Path]:
    """The standard photos every card restyles, in a fixed order."""
    return sorted(p for p in PHOTOS_FOLDER.glob("*.jpg") if p.is_file())


def card_relpath(painting_rel: str) -> str:
    """The card input's inbox-like path: `_styles/<painting's path in styles_dir>`."""
    return f"{STYLES_FOLDER}/{painting_rel}"


def is_card(relpath: str) -> bool:
    return relpath.startswith(STYLES_FOLDER + "/")


def is_card_job(job) -> bool:
    """A card job (any journal Job): its campaign is the styles folder, which no inbox
    folder may be named (core/outbox_names.reserved_folder)."""
    return job.campaign == STYLES_FOLDER


def photo_jobs(jobs) -> list:
    """The jobs that are not cards: what a `run --once` pass waits for and counts."""
    return [j for j in jobs if not is_card_job(j)]


def painting_of(relpath: str) -> str:
    """The painting's path in styles_dir, from a card input's relpath."""
    return relpath[len(STYLES_FOLDER) + 1:] if is_card(relpath) else relpath


def card_slug(photo: Path) -> str:
    return f"card-{PurePosixPath(photo.name).stem}"


def list_paintings(styles_dir: Path) -> list[tuple[str, Path]]:
    """(path inside styles_dir, path) of every painting, sorted; hidden files and folders,
    files not named like images and links leading out of styles_dir are left out. An
    unlistable styles_dir lists nothing."""
    found = []
    root = Path(styles_dir)
    inside = os.path.realpath(root) + os.sep
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or not name.lower().endswith(PAINTING_SUFFIXES):
                continue
            path = Path(folder) / name
            if not os.path.realpath(path).startswith(inside):
                continue   # a link out of styles_dir: never a style (as in the manifest)
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)
