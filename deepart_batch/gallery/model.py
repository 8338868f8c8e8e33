"""What the gallery shows, gathered from the outbox's reports and the daemon's journal.

Reports on disk are the record of finished renders (`deepart-batch gallery` rebuilds from
them alone); the journal, read-only, adds what is still queued, rendering, held or failed.
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..core.states import FailureReason, InputState, JobState, PrintState, ShownState
from ..core.state_texts import message as team_message
from ..journal import Input, Job
from ..report import plain_settings, resolve_shared, style_label, summarize
from . import prints
from .reports import ReportCache, image_of
from .prints import PrintItem

GALLERY_FOLDER = ".gallery"   # thumbnails: one hidden folder per campaign


@dataclass
class ShownStyle:
    """A painting as a gallery card names it: its label, the file its thumbnail is made
    from (None when the report names none) and its blend weight. Not the job's
    core.jobspec.StyleRef: this one is read back from reports, for people."""
    label: str
    path: Path | None
    weight: float | None


@dataclass
class Trouble:
    """Why a photo or render is held or failed, in its problem note's words."""
    what: str                        # what went wrong
    todo: str                        # what to do
    detail: str = ""                 # the technical error, for the curious
    note: Path | None = None         # outbox/_problems/<relpath>.txt, when it is there


def trouble_for(reason, relpath: str, detail: str | None, note: Path | None) -> Trouble:
    what, todo = team_message(FailureReason.parse(reason), PurePosixPath(relpath).name,
                              detail or "")
    return Trouble(what, todo, detail or "", note if note and note.is_file() else None)


@dataclass
class OutputItem:
    """One output of one photo: finished, or on its way, or failed."""
    slug: str
    state: ShownState                # done | rendering | queued | waiting | held | failed
    styles: list[ShownStyle]
    settings: str
    image: Path | None = None        # the full restyled image, when done
    summary: str | None = None
    seconds: float | None = None
    device: str | None = None
    progress: tuple[int, int] | None = None   # (step, total) while rendering
    message: str | None = None       # why it waits (retried by itself)
    trouble: Trouble | None = None   # held or failed: the note's words and the note
    trace: list[dict] = field(default_factory=list)
    print: PrintItem | None = None   # its newest approval and the print it asked for
    mask: Path | None = None         # the claimed copy of the mask it was rendered with


@dataclass
class PhotoEntry:
    relpath: str
    original: Path | None = None     # where the photo is now (state/work, done or failed)
    trouble: Trouble | None = None   # the photo is held, or was refused / failed
    held: bool = False
    outputs: list[OutputItem] = field(default_factory=list)
    input_id: int | None = None      # its journal row (None: known from reports alone)

    @property
    def name(self) -> str:
        return PurePosixPath(self.relpath).name


@dataclass
class Campaign:
    name: str                        # top-level inbox folder; '' for files dropped at the top
    folder: Path                     # outbox/<name>: where its page and thumbnails live
    photos: list[PhotoEntry] = field(default_factory=list)
    # approvals whose preview is not on any page (refused: no such preview)
    unmatched: list[PrintItem] = field(default_factory=list)

    def count(self, state: ShownState) -> int:
        """Outputs (renders) in this state; a print is part of its preview's output."""
        return sum(o.state == state for p in self.photos for o in p.outputs)

    def print_count(self, state: PrintState) -> int:
        """Approvals of this campaign's previews in this state (prints.READY ...)."""
        return sum(o.print is not None and o.print.state == state
                   for p in self.photos for o in p.outputs)

    def photo_count(self, state: ShownState) -> int:
        """Photos in this state (see photo_state)."""
        return sum(photo_state(p) == state for p in self.photos)

    @property
    def active(self) -> bool:
        """Something is queued or rendering: worth refreshing the page (if a daemon runs)."""
        return any(o.state in ACTIVE or (o.print is not None and o.print.state in
                                         (prints.APPROVED, prints.RENDERING))
                   for p in self.photos for o in p.outputs)


ACTIVE = (ShownState.RENDERING, ShownState.QUEUED, ShownState.WAITING)
PHOTO_STATES = (ShownState.RENDERED, ShownState.FAILED, ShownState.HELD, ShownState.RENDERING,
                ShownState.WAITING)


def photo_state(photo: "PhotoEntry") -> ShownState:
    """One word per photo, worst first: failed, held, rendering, waiting, else rendered."""
    states = {o.state for o in photo.outputs}
    if ShownState.FAILED in states or (photo.trouble is not None and not photo.held):
        return ShownState.FAILED
    if photo.held or ShownState.HELD in states:
        return ShownState.HELD
    if ShownState.RENDERING in states:
        return ShownState.RENDERING
    if states & {ShownState.QUEUED, ShownState.WAITING}:
        return ShownState.WAITING
    return ShownState.RENDERED


def output_from_report(report: dict, image: Path, styles_dir: Path | None = None,
                       masks: Path | None = None) -> OutputItem:
    """A finished render from its report; its paintings' paths are relative to
    `styles_dir` (report.shared_path) or, in an older report, absolute. `masks`: the
    daemon's mask copies (state_dir/masks/), where the report's mask is found by sha256."""
    job = report.get("job") or {}
    styles = [ShownStyle(style_label({**s, "weight": None}),
                         _painting(s.get("path"), styles_dir), s.get("weight"))
              for s in report.get("styles") or []]
    worker = job.get("worker")
    device = report.get("device") or ""
    return OutputItem(slug=job.get("slug") or image.stem, state=ShownState.DONE,
                      styles=styles,
                      settings=plain_settings(report.get("params") or {}), image=image,
                      summary=report.get("summary") or summarize(report),
                      seconds=(report.get("timings") or {}).get("render_seconds"),
                      device=f"{device} ({worker})" if worker and worker != device else device,
                      trace=list(report.get("trace") or []),
                      mask=_mask_copy(report, masks))


def _mask_copy(report: dict, masks: Path | None) -> Path | None:
    """The claimed copy of the mask a report names (by its sha256), when it is kept."""
    regions = report.get("regions")
    mask = regions.get("mask") if isinstance(regions, dict) else None
    sha = str(mask.get("sha256") or "") if isinstance(mask, dict) else ""
    if masks is None or len(sha) != 64 or not sha.isalnum():
        return None
    return next(iter(sorted(Path(masks).glob(sha + ".*"))), None)


def _painting(path, styles_dir: Path | None) -> Path | None:
    """A painting a report names: None when it cannot be found without the styles folder."""
    found = resolve_shared(str(path), styles_dir) if path else None
    return Path(found) if found and Path(found).is_absolute() else None


def _output_from_job(job: Job, note: Path | None = None, relpath: str = "") -> OutputItem:
    styles = [ShownStyle(style_label({"name": s.name, "path": s.path}),
                         Path(s.path) if s.path else None, s.weight)
              for s in (job.spec.styles if job.spec else ())]
    steps = job.spec.params.steps if job.spec else 0
    running = job.state == JobState.RUNNING
    state = ShownState.RENDERING if running else ShownState(job.state.value)
    message, progress = job.error, None
    if running:
        p = job.progress or {}
        progress = (int(p.get("step", 0)), int(p.get("total") or steps or 0))
    elif job.state == JobState.QUEUED and job.reason:
        state = ShownState.HELD   # queued again after a crash, timeout or full outbox: retried
        message = f"waiting to try again ({job.reason}): {job.error or ''}".rstrip(": ")
    elif job.state == JobState.WAITING:
        message = "waiting for an identical photo's render"
    trouble = None
    if job.state in (JobState.HELD, JobState.FAILED):   # the setup or the render: the note
        trouble = trouble_for(job.reason, relpath, job.error, note)
        message = None
    return OutputItem(slug=job.slug, state=state, styles=styles,
                      settings=plain_settings(job.spec.params.to_dict() if job.spec else {}),
                      device=job.device, progress=progress, message=message, trouble=trouble)


def note_of(outbox: Path, problems_folder: str, relpath: str) -> Path:
    """Where the daemon puts the photo's problem note (daemon/problems.entry_paths)."""
    return Path(outbox) / problems_folder / (relpath + ".txt")


def _bare_entry(inp: Input, outbox: Path, problems_folder: str) -> PhotoEntry:
    """A photo from its journal row, before its outputs."""
    entry = PhotoEntry(inp.relpath, existing_file(inp.archived_to or inp.work_path),
                       input_id=inp.id)
    if inp.state in (InputState.FAILED, InputState.HELD):   # refused, failed or held
        entry.held = inp.state == InputState.HELD
        entry.trouble = trouble_for(inp.reason or ("error" if inp.state == InputState.FAILED
                                                   else "manifest_invalid"),
                                    inp.relpath, inp.error,
                                    note_of(outbox, problems_folder, inp.relpath))
    return entry


def _add_output(entry: PhotoEntry, job: Job, found: tuple[Path, dict] | None, outbox: Path,
                problems_folder: str, styles_dir: Path | None, masks: Path | None) -> None:
    """The job's output on the photo: from its report when the render is there."""
    if job.state == JobState.DONE and found is None:
        return   # its files were removed from the outbox
    entry.outputs.append(output_from_report(found[1], found[0], styles_dir, masks) if found
                         else _output_from_job(job, note_of(outbox, problems_folder,
                                                            entry.relpath), entry.relpath))


def photo_entry(inp: Input, jobs: list[Job], outbox: Path, problems_folder: str = "_problems",
                styles_dir: Path | None = None, masks: Path | None = None
                ) -> PhotoEntry | None:
    """One photo as `collect` shows it, from its row and its jobs alone: each finished
    render's report is read where its job wrote it, so nothing walks the outbox. None for
    what is not on a campaign page (a style card, an approval: the caller rebuilds all)."""
    entry = _bare_entry(inp, Path(outbox), problems_folder)
    for job in jobs:
        _add_output(entry, job, finished_render(job), Path(outbox), problems_folder, styles_dir,
                    masks)
    return entry


def finished_render(job: Job) -> tuple[Path, dict] | None:
    """(image, report) of a finished render (a print too), read afresh from the report
    file its job wrote; None until it is there with its image."""
    if job.state != JobState.DONE or not job.report_path:
        return None
    report_file = Path(job.report_path)
    report = ReportCache().load(report_file)
    image = image_of(report_file, report) if report else None
    if image is None or image.name != Path(job.output_path).name or not image.exists():
        return None
    return image, report


def shown(entry: PhotoEntry) -> bool:
    """Whether a photo is on a page yet (claimed photos without jobs are not)."""
    return bool(entry.outputs or entry.trouble)


def existing_file(path) -> Path | None:
    """The path when a file is there (a photo moved on since: None)."""
    return Path(path) if path and Path(path).is_file() else None
