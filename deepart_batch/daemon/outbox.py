"""The outbox: where each job's image and report go, written atomically, mirroring campaigns."""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath

from ..core.formats import OUTPUT_FORMATS
from ..core.layout import campaign_of
from ..paths import NAME_MAX, UnsafePathError, atomic_write_bytes, atomic_write_json, fit_name, \
    resolve_inside
from ..report import summarize
from .faultpoints import crash_point

ROOM = 8  # bytes kept free in an output name for `.N` (free names) and `.json` (its report)

REPORTS_FOLDER = "_reports"   # output.reports: subfolder puts the JSON here, out of sight


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
    rel = PurePosixPath(relpath)
    name = fit_name(rel.name, NAME_MAX - len(".error.json"))
    folder = rel.parent / REPORTS_FOLDER if subfolder else rel.parent
    return resolve_inside(outbox, folder / f"{name}.error.json")


def publish(image_path: Path, image: bytes, report: dict, report_file: Path | None = None,
            outbox: Path | None = None) -> None:
    """Image and report as a unit: image first, then its report; when the report cannot
    be written the image is removed again (and a crash in between is cleaned up by the
    next start). With `outbox`, the path is checked again now, as a folder may have been
    replaced by a link since the job was planned."""
    if outbox is not None:
        root, real = os.path.realpath(outbox), os.path.realpath(image_path)
        if real != os.path.abspath(image_path) or not real.startswith(root + os.sep):
            raise UnsafePathError(f"{image_path} resolves to {real}, outside {root}")
    atomic_write_bytes(image_path, image)
    crash_point("after_publish_image")
    report["summary"] = summarize(report)
    try:
        atomic_write_json(report_file or report_path(image_path), report)
    except BaseException:
        Path(image_path).unlink(missing_ok=True)
        raise


def publish_error(outbox: Path, relpath: str, error: dict, subfolder: bool = False
                  ) -> Path | None:
    """Tell the people who dropped the file, in the folder they look at, what went wrong.
    None when it cannot be written (full, unwritable, or a link leading out of the outbox)."""
    try:
        return atomic_write_json(error_report_path(outbox, relpath, subfolder), error)
    except (OSError, UnsafePathError):
        return None


def clean_temp_files(outbox: Path, older_than: float = 0.0) -> int:
    """Remove `.name.XXXX.part` files that an interrupted atomic write left behind."""
    removed = 0
    now = time.time()
    for root, _, files in os.walk(outbox):
        for name in files:
            if name.startswith(".") and name.endswith(".part"):
                path = Path(root) / name
                try:
                    if now - path.stat().st_mtime >= older_than:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
    return removed
