"""Approve to print, as the gallery shows it: a print belongs to its preview's item.

An approval is a journal input from outbox/<approve.folder>/ (its relpath starts with the
folder) whose one job renders the print; the print's report says which preview it came
from (output.approved_from). Neither is a photo of its own: the preview's card says, in
words, where its approval stands ("approved 14:02", "print rendering", "print ready
2048 px", "approval refused: why"), and carries the print, which says it is a print, its
size, its own detail steps and the preview it came from. Nothing here imports torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.states import InputState, JobState, PrintState
from ..journal import Input, Job

APPROVED, RENDERING, READY, REFUSED, HELD, FAILED = (
    PrintState.APPROVED, PrintState.RENDERING, PrintState.READY, PrintState.REFUSED,
    PrintState.HELD, PrintState.FAILED)
PRINT_STATES = (READY, RENDERING, APPROVED, HELD, FAILED, REFUSED)   # in the tally's order
# What a print's state reads as in a campaign's tally.
PRINT_STATE_WORDS = {READY: "ready", RENDERING: "rendering", APPROVED: "approved, waiting",
                     HELD: "held", FAILED: "failed", REFUSED: "refused"}


@dataclass
class PrintItem:
    """The newest approval of one preview, and the print it asked for."""
    state: PrintState
    preview: str                      # the preview's file name
    approved_at: float | None = None  # when the approval was taken
    size: int | None = None           # the print's long side: asked for, or made
    preview_side: int | None = None   # the preview's long side (the look the print keeps)
    detail_steps: int | None = None   # evaluations of the detail stages, once rendered
    image: Path | None = None         # the print, when ready
    progress: tuple[int, int] | None = None
    seconds: float | None = None
    device: str | None = None
    why: str = ""                     # refused, held or failed: the reason in words
    note: Path | None = None          # the approval's problem note, when there is one

    def words(self) -> str:
        """The approval's state as the preview's card says it."""
        if self.state == READY:
            return f"print ready {self.size} px" if self.size else "print ready"
        if self.state == RENDERING:
            return "print rendering"
        if self.state == REFUSED:
            return f"approval refused: {self.why}" if self.why else "approval refused"
        if self.state in (HELD, FAILED):
            word = "held" if self.state == HELD else "failed"
            return f"print {word}: {self.why}" if self.why else f"print {word}"
        return f"approved {clock(self.approved_at)}" if self.approved_at else "approved"

    def settings(self) -> str:
        """What the print is, in words: never the preview's size and steps."""
        size = f"{self.size} px print" if self.size else "print"
        steps = (f"{self.detail_steps} detail step{'' if self.detail_steps == 1 else 's'}"
                 if self.detail_steps is not None else "detail steps")
        above = f" above the {self.preview_side} px preview" if self.preview_side else \
            " above the preview"
        return f"{size}, {steps}{above} {self.preview}"


def clock(when: float) -> str:
    """14:02 today, else 2026-12-06 14:02 (local time, as people read it)."""
    then, now = time.localtime(when), time.localtime()
    same_day = then[:3] == now[:3]
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", then)


def is_approval(relpath: str, folder: str) -> bool:
    return relpath.startswith(folder + "/")


def approved_name(relpath: str) -> str:
    """The preview's file name an approval asks for (approvals match previews by name)."""
    return PurePosixPath(relpath).name


def detail_steps(report: dict) -> int | None:
    """The evaluations the print ran (its report's stages: only the detail ones)."""
    scales = (report.get("timings") or {}).get("scales")
    if not isinstance(scales, list) or not scales:
        return None
    counts = [s.get("evaluations") for s in scales if isinstance(s, dict)]
    return sum(c for c in counts if isinstance(c, int)) if counts else None


def long_side(report: dict) -> int | None:
    out = report.get("output") or {}
    sides = [v for v in (out.get("width"), out.get("height")) if isinstance(v, int)]
    return max(sides) if sides else None


def from_report(report: dict, image: Path) -> PrintItem:
    """A finished print, from its report alone (the `gallery` command's rebuild)."""
    source = (report.get("output") or {}).get("approved_from") or {}
    return PrintItem(READY, PurePosixPath(str(source.get("preview") or "")).name,
                     size=long_side(report), preview_side=_int(source.get("look_size")),
                     detail_steps=detail_steps(report), image=image,
                     seconds=(report.get("timings") or {}).get("render_seconds"),
                     device=report.get("device"))


def from_journal(approval: Input, job: Job | None, found: tuple[Path, dict] | None,
                 why: str, note: Path | None) -> PrintItem:
    """One approval and its print job (None: refused before a job was planned); `found`:
    the print's image and report once it is in the outbox; `why`: the refusal, hold or
    failure in the problem note's words."""
    name = approved_name(approval.relpath)
    if job is None:
        state = REFUSED if approval.state == InputState.FAILED else \
            HELD if approval.state == InputState.HELD else APPROVED
        return PrintItem(state, name, approval.received_at, why=why if state != APPROVED
                         else "", note=note)
    size = job.spec.params.size if job.spec else None
    look = job.spec.look_size if job.spec else None
    item = PrintItem(APPROVED, name, approval.received_at, size=_int(size),
                     preview_side=look if isinstance(look, int) else None,
                     device=job.device, seconds=job.render_seconds)
    if job.state == JobState.DONE and found is not None:
        image, report = found
        item.state, item.image = READY, image
        item.size = long_side(report) or item.size
        item.detail_steps = detail_steps(report)
    elif job.state == JobState.DONE:
        item.state, item.why = FAILED, "its files were removed from the outbox"
    elif job.state == JobState.RUNNING:
        item.state = RENDERING
        p = job.progress or {}
        if p.get("total"):
            item.progress = (int(p.get("step", 0)), int(p["total"]))
    elif job.state in (JobState.HELD, JobState.FAILED):
        item.state, item.why, item.note = (HELD if job.state == JobState.HELD else FAILED), \
            why, note
    return item


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
