"""The outbox: where each job's image and report go, written atomically, mirroring campaigns."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ...core.outbox_names import (REPORTS_FOLDER, error_report_path, output_path,
                                  report_exists, report_path)
from ...paths import UnsafePathError, atomic_write_bytes, atomic_write_json
from ...approved_preview import stamp
from ...report import summarize
from ..faultpoints import crash_point

# The names (output_path, report_path, report_exists, error_report_path, REPORTS_FOLDER)
# live in core.outbox_names; imported here for the daemon's callers.


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
    stamp(report, image)   # output.sha256: an approval must be this very image
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
