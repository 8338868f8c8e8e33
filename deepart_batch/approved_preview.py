"""Approve to print: what a print needs from an approved preview, read from the
preview's own JSON report, and checked against the approved file.

The print renders the same photo with the same styles, params and seed as the preview, at
`print_size`, and starts from the preview's pixels as its look result: only the detail
stages above the preview's size run (engine/print_from_preview.py). Nothing here imports torch (the
daemon's parent reads approvals).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .core.states import JobState
from .core.hashing import sha256_bytes, sha256_file
from .core.params import RenderParams
from .core.shared_report import ReportFieldError, ReportOutput, SharedReport, annotation_kinds
from .errors import ParamsError


class ApprovalProblem(ValueError):
    """An approval that cannot become a print; the message says why and what to do."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason   # "report_missing", "report_invalid", "preview_changed", ...


def stamp(report: dict, image: bytes) -> dict:
    """Record the output image's sha256 in its report (output.sha256), so an approval can
    tell the very preview from a changed one."""
    report["output"] = {**(report.get("output") or {}), "sha256": sha256_bytes(image)}
    return report


@dataclass(frozen=True)
class Approval:
    """An approved preview, as its report describes it."""
    preview: str                 # the preview's output path (where it was rendered)
    sha256: str                  # the approved image's hash (= the report's output.sha256)
    report: str                  # the preview's report file
    params: dict                 # the preview's RenderParams, verbatim
    photo: str                   # the photo as the report names it
    photo_sha256: str
    styles: tuple = ()           # ({"path", "sha256", "name", "weight"}, ...)
    width: int = 0               # the preview's pixels
    height: int = 0
    seed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["styles"] = [dict(s) for s in self.styles]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Approval":
        known = set(cls.__dataclass_fields__)
        d = {k: v for k, v in d.items() if k in known}
        d["styles"] = tuple(dict(s) for s in d.get("styles") or ())
        return cls(**d)

    def source(self) -> dict:
        """What the print's report says about the preview it came from."""
        return {"preview": self.preview, "sha256": self.sha256, "report": self.report,
                "look_size": self.long_side}


def read_approval(approved: str | Path, report_path: str | Path,
                  approved_sha256: str | None = None, shown_as: str = "") -> Approval:
    """The approval of the file `approved` (a copy of a preview) whose report is
    `report_path`. Raises ApprovalProblem when the report is missing, unreadable or edited
    into another shape (SharedReport), or describes another image than the approved one.
    `shown_as`: the name people gave the approved file (else `approved`'s)."""
    name = shown_as or Path(approved).name
    said = Path(report_path).name   # the team's words never name a path of the server
    try:
        report = json.loads(Path(report_path).read_text())
    except FileNotFoundError:
        raise ApprovalProblem("report_missing", f"{name}: its report {said} is "
                              f"missing; approve a preview whose report is beside it "
                              f"in the outbox") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            type(exc).__name__
        raise ApprovalProblem("report_missing", f"{name}: its report {said} cannot "
                              f"be read ({reason}); render the preview again") from None
    try:
        report = SharedReport.from_dict(report, annotation_kinds(RenderParams))
    except ReportFieldError as exc:
        raise ApprovalProblem("report_invalid", f"{name}: its report {said} was "
                              f"changed and cannot be used ({exc}); restore the report the "
                              f"box wrote, or render the preview again and approve the "
                              f"new one") from None
    output, inp = report.output or ReportOutput(), report.input
    if report.status != JobState.DONE or not report.params or inp is None:
        raise ApprovalProblem("not_a_preview", f"{name}: {said} is not the report "
                              f"of a finished render; approve a preview output")
    expected = output.sha256
    actual = approved_sha256 or sha256_file(approved)
    if not expected:
        raise ApprovalProblem("preview_changed", f"{name}: its report has no image hash "
                              f"(rendered by an older version); render the preview again "
                              f"and approve the new one")
    if expected != actual:
        raise ApprovalProblem("preview_changed", f"{name}: the image is not the one its "
                              f"report describes (sha256 {actual[:12]} != {expected[:12]}); "
                              f"it was edited or re-rendered - approve the preview as the "
                              f"box wrote it")
    return Approval(preview=output.path or str(approved), sha256=actual,
                    report=str(report_path), params=dict(report.params),
                    photo=inp.path, photo_sha256=inp.sha256,
                    styles=tuple(asdict(s) for s in report.styles),
                    width=output.width, height=output.height, seed=report.seed)


def print_params(approval: Approval, print_size: int) -> RenderParams:
    """The preview's params at the print's size; its look is the preview itself."""
    name = Path(approval.preview).name
    if print_size <= approval.long_side:
        raise ApprovalProblem("print_too_small", f"{name}: print_size "
                              f"{print_size} is not larger than the preview "
                              f"({approval.long_side} px); raise print_size")
    try:
        p = RenderParams.from_dict(dict(approval.params))
        return replace(p, size=print_size, look_size=approval.long_side).validated()
    except ParamsError as exc:
        raise ApprovalProblem("report_invalid", f"{name}: its report's settings cannot make "
                              f"a print ({exc}); render the preview again with valid "
                              f"settings and approve the new one") from None
