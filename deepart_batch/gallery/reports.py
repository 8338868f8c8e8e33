"""Render reports in the outbox, as the gallery reads them: only those whose every field
is of the kind the box writes, parsed once per file version."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from ..core.outbox_names import REPORTS_FOLDER
from ..core.shared_report import ReportFieldError, SharedReport
from ..core.states import JobState
from ..core.style_card_names import STYLES_FOLDER

REPORT_SCHEMA_PREFIX = "deepart-batch/report/"


class ReportCache:
    """Parsed reports keyed by (path, mtime, size): a rebuild only parses what changed."""

    def __init__(self):
        self._cache: dict[str, tuple[tuple, dict | None]] = {}

    def load(self, path: Path) -> dict | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        hit = self._cache.get(str(path))
        if hit and hit[0] == key:
            return hit[1]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            data = None
        if not (isinstance(data, dict) and str(data.get("schema", "")).startswith(
                REPORT_SCHEMA_PREFIX) and data.get("status") == JobState.DONE and _readable(data)):
            data = None
        self._cache[str(path)] = (key, data)
        return data


def _readable(report: dict) -> bool:
    """A report on the share can be edited by anyone: the gallery shows only one whose every
    field is of the kind the box writes (core/shared_report) and whose `job` block holds
    plain values; another is passed over like a missing report (the image still shows)."""
    try:
        SharedReport.from_dict(report)
    except ReportFieldError:
        return False
    plain = (str, int, float, bool, type(None))
    return all(isinstance(v, plain) for v in (report.get("job") or {}).values())


def report_files(outbox: Path):
    """Report files of the outbox's renders; not the style cards' (on styles.html)."""
    for root, dirs, files in os.walk(outbox):
        dirs[:] = [d for d in dirs if not d.startswith(".")
                   and not (d == STYLES_FOLDER and Path(root) == Path(outbox))]
        for name in files:
            if name.endswith(".json") and not name.endswith(".error.json") \
                    and not name.startswith("."):
                yield Path(root) / name


def image_of(report_file: Path, report: dict) -> Path | None:
    """The image a report describes, found by name in the report's own folder (so a moved
    or re-mounted outbox still works), or in the folder above `_reports/`."""
    name = PurePosixPath(str((report.get("output") or {}).get("path") or "")).name
    if not name:
        return None
    folder = report_file.parent
    if folder.name == REPORTS_FOLDER:
        folder = folder.parent
    return folder / name
