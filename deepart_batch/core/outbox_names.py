"""Names in the outbox: where a job's image, its report and a photo's error report go.

Pure naming, no writing: the daemon's outbox writes to these paths, and the gallery (which
sits below the daemon) finds reports by them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..paths import NAME_MAX, fit_name, resolve_inside
from .style_card_names import STYLES_FOLDER
from .formats import OUTPUT_FORMATS
from .layout import campaign_of

ROOM = 8  # bytes kept free in an output name for `.N` (free names) and `.json` (its report)

REPORTS_FOLDER = "_reports"   # output.reports: subfolder puts the JSON here, out of sight
ERROR_REPORT_SUFFIX = ".error.json"
PAGE_NAME = "index.html"      # the gallery's pages: outbox/index.html, <campaign>/index.html
GALLERY_FOLDER = ".gallery"   # the gallery's thumbnails, one hidden folder per campaign


def reserved_folder(relpath: str, problems_folder: str,
                    approve_folder: str = "") -> tuple[str, str] | None:
    """(folder, a name to use instead) when one of the photo's inbox folders is named like
    an entry the outbox keeps for itself: its outputs would collide with the gallery's
    pages or thumbnails, the reports subfolder, the problems folder, the approve folder
    (its renders would be taken as approvals) or the style cards' folder (whose name is also
    the cards' campaign). None when free."""
    folders = PurePosixPath(relpath).parts[:-1]
    own = {PAGE_NAME, GALLERY_FOLDER, REPORTS_FOLDER}
    for depth, folder in enumerate(folders):
        key = folder.casefold()          # a share may not tell INDEX.HTML from index.html
        tops = {problems_folder.casefold(), STYLES_FOLDER.casefold()} | \
            ({approve_folder.casefold()} if approve_folder else set())
        if key in own or (depth == 0 and key in tops):
            base = PurePosixPath(folder.strip("._")).stem or "photos"
            return folder, f"{base}-photos"
    return None


def output_path(outbox: Path, relpath: str, slug: str, fmt: str, template: str) -> Path:
    """outbox/<campaign folders>/<template>; the template cannot climb out of the outbox."""
    rel = PurePosixPath(relpath)
    ext = OUTPUT_FORMATS[fmt.lower()][1].lstrip(".")
    name = template.format(stem=rel.stem, style=slug, ext=ext, campaign=campaign_of(relpath))
    name = "/".join(fit_name(part, NAME_MAX - ROOM) for part in name.split("/"))
    return resolve_inside(outbox, rel.parent / name)


def report_path(image_path: Path, subfolder: bool = False) -> Path:
    """photo.style.json beside the image, or in _reports/ (config output.reports)."""
    image_path = Path(image_path)
    if subfolder:
        return image_path.parent / REPORTS_FOLDER / f"{image_path.stem}.json"
    return image_path.with_suffix(".json")


def report_exists(image_path: Path) -> bool:
    """Whether either layout holds a report for this image (layouts can change over time)."""
    return any(report_path(image_path, sub).exists() for sub in (False, True))


def error_report_path(outbox: Path, relpath: str, subfolder: bool = False) -> Path:
    """outbox/<folders>/photo.jpg.error.json (or in _reports/): why a photo failed."""
    rel = PurePosixPath(relpath)
    name = fit_name(rel.name, NAME_MAX - len(ERROR_REPORT_SUFFIX))
    folder = rel.parent / REPORTS_FOLDER if subfolder else rel.parent
    return resolve_inside(outbox, folder / f"{name}{ERROR_REPORT_SUFFIX}")
