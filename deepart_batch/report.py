"""The JSON report written beside every output: one versioned dataclass.

It stays a RenderReport from the render to the outbox (over the worker's pipe and Ray's
object store alike); only `to_dict` makes it JSON. What the daemon adds (which job,
attempt, worker and node) is its typed `job` field, a JobInfo.
"""

from __future__ import annotations

import os
import platform
from pathlib import PurePath, PurePosixPath
from dataclasses import asdict, dataclass, field, fields, replace
from .core.states import JobState

SCHEMA = "deepart-batch/report/v1"


def versions() -> dict:
    import PIL
    import torch
    import torchvision

    from . import __version__
    # str(): torch's version is a TorchVersion, which would import torch where it is read
    # (the daemon parent unpickles reports and never imports torch).
    return {"deepart_batch": __version__, "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "pillow": PIL.__version__,
            "python": platform.python_version()}


@dataclass
class FileRef:
    path: str
    sha256: str
    name: str | None = None      # style name from the manifest, when there is one
    weight: float | None = None  # blend weight, for styles


@dataclass
class JobInfo:
    """Where a report's render ran, for the daemon: None fields are left out of the JSON
    (a `render` command's report has none)."""
    id: int | None = None
    attempt: int | None = None
    worker: str | None = None         # the slot id, e.g. "cpu#0"
    worker_device: str | None = None  # what the user named: "cuda:1", "cpu"
    node: str | None = None
    executor: str | None = None       # "local", "ray"
    pid: int | None = None
    input: str | None = None          # the inbox path people gave the photo
    campaign: str | None = None
    slug: str | None = None
    copied_from: str | None = None    # an identical drop's render, copied (planner.py)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict | None) -> "JobInfo":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


@dataclass
class RenderReport:
    status: str                              # done | failed
    input: FileRef | None
    styles: list[FileRef]
    params: dict
    weights: dict                            # {"source":..., "sha256":..., "id":...}
    device: str
    seed: int
    precision: str = "fp32"                  # what params.precision resolved to here
    memory: dict = field(default_factory=dict)    # peak_bytes, method, estimate_bytes
    loop: dict = field(default_factory=dict)  # render-loop options that ran (engine/graphs.py)
    timings: dict = field(default_factory=dict)   # ISO times, seconds per phase and scale
    trace: list[dict] = field(default_factory=list)
    final: dict | None = None
    final_measured_on: str = "the output image"   # differs from the trace's image with
    #                                               preserve_color: luminance (pipeline.py)
    output: dict | None = None               # {"path", "width", "height", "format"}
    error: str | None = None
    job: JobInfo = field(default_factory=JobInfo)  # filled by the worker and the daemon
    events: list[dict] = field(default_factory=list)  # e.g. OOM retries
    versions: dict = field(default_factory=versions)
    schema: str = SCHEMA
    summary: str | None = None               # one sentence for people: see summarize()
    regions: dict | None = None              # mask and per-region losses (pipeline.py)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["job"] = self.job.to_dict()
        d["summary"] = d["summary"] or summarize(d)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RenderReport":
        """A report as written (to copy it under another name); unknown keys are dropped."""
        names = {f.name for f in fields(cls)} - {"summary"}   # written again from the rest
        d = {**_REQUIRED, **{k: v for k, v in d.items() if k in names}}
        d["input"] = _file_ref(d["input"]) if d.get("input") else None
        d["styles"] = [_file_ref(s) for s in d.get("styles") or []]
        d["job"] = JobInfo.from_dict(d.get("job"))
        d.setdefault("versions", {})
        return cls(**d)

    def published(self, job: JobInfo, photo: str, output_path: str, timings: dict,
                  outbox=None, styles_dir=None, mask: str = "") -> None:
        """The daemon's additions before the outbox: its job fields (kept where the worker
        set them), the photo's inbox name, the output's path and the queue's times. With
        `outbox` and `styles_dir`, every path is then made relative to them (shared_paths).
        `mask`: the mask's name in the masks folder, for the copy the job read."""
        self.job = replace(self.job, **{k: v for k, v in asdict(job).items()
                                        if v is not None})
        if self.input is not None:
            self.input = replace(self.input, path=photo)
        self.output = {**(self.output or {}), "path": output_path}
        self.timings = {**self.timings, **timings}
        if mask:
            self.rename_mask(mask)
        if outbox is not None:
            self.shared_paths(outbox, styles_dir)

    def shared_paths(self, outbox, styles_dir=None) -> None:
        """No server path in the outbox: the output, its preview and a copy's source
        relative to the outbox, the paintings relative to the styles folder (readers join
        them again: gallery/model.py, approved_preview.py). Paths already relative stay as they are."""
        out = dict(self.output or {})
        if out.get("path"):
            out["path"] = shared_path(out["path"], outbox)
        if isinstance(out.get("approved_from"), dict):
            source = dict(out["approved_from"])
            for key in ("preview", "report"):
                if source.get(key):
                    source[key] = shared_path(source[key], outbox)
            out["approved_from"] = source
        self.output = out or self.output
        if styles_dir is not None:
            self.styles = [replace(ref, path=shared_path(ref.path, styles_dir))
                           for ref in self.styles]
        if self.job.copied_from:
            self.job = replace(self.job, copied_from=shared_path(self.job.copied_from, outbox))
        if isinstance(self.regions, dict) and isinstance(self.regions.get("mask"), dict) \
                and self.regions["mask"].get("path"):
            self.rename_mask(shared_path(self.regions["mask"]["path"], outbox))

    def rename_files(self, photo: str, styles: list[str]) -> None:
        """Name other files than the ones rendered (a Ray actor's copies -> the daemon's)."""
        if self.input is not None:
            self.input = replace(self.input, path=photo)
        self.styles = [replace(ref, path=path) for ref, path in zip(self.styles, styles)]

    def rename_mask(self, path: str) -> None:
        """Name another file as the mask than the one rendered (the daemon's copy -> the
        masks folder's name; a Ray actor's copy -> the daemon's)."""
        if isinstance(self.regions, dict) and isinstance(self.regions.get("mask"), dict):
            self.regions = {**self.regions, "mask": {**self.regions["mask"], "path": path}}

    def copied(self, source: str, output_path: str, outbox=None) -> None:
        """This report now describes a copy of `source`'s render at `output_path`. Both are
        made relative to `outbox`, or to the outbox the source's report already names its
        image relative to (a report published with shared_paths)."""
        root = outbox if outbox is not None else \
            root_of(source, (self.output or {}).get("path"))
        self.job = replace(self.job, copied_from=source)
        self.output = {**(self.output or {}), "path": output_path}
        if root is not None:
            self.shared_paths(root)


def shared_path(path: str, root) -> str:
    """`path` as the share names it: relative to `root` (POSIX separators) when inside it,
    else its file name alone; never a path of the server's own disk."""
    if not os.path.isabs(path):
        return PurePosixPath(PurePath(path).as_posix()).as_posix()
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        return PurePath(path).name
    return PurePath(rel).as_posix()


def root_of(path: str, shared: str | None) -> str | None:
    """The folder `shared` (a path shared_path made) is relative to, given where it is now
    (`path`, absolute); None when `path` does not end with it."""
    if not shared or os.path.isabs(shared) or not os.path.isabs(path):
        return None
    parts, tail = PurePath(path).parts, PurePosixPath(shared).parts
    if len(parts) <= len(tail) or tuple(parts[-len(tail):]) != tuple(tail):
        return None
    return str(PurePath(*parts[:-len(tail)]))


def resolve_shared(path: str | None, root) -> str | None:
    """A path as a report names it, joined to the folder it is relative to (shared_path)."""
    if not path or os.path.isabs(path) or root is None:
        return path
    return os.path.join(os.fspath(root), path)


_REQUIRED = {"status": JobState.DONE, "input": None, "styles": [], "params": {}, "weights": {},
             "device": "", "seed": 0}


def _file_ref(d: dict) -> FileRef:
    return FileRef(d.get("path", ""), d.get("sha256", ""), d.get("name"), d.get("weight"))


_COLOUR = {"none": "colours from the painting", "luminance": "the photo's colours kept",
           "match": "the painting's colours matched to the photo"}


def style_label(style: dict) -> str:
    """A style as people name it: its manifest name, else its file name without extension."""
    name = style.get("name") or PurePath(style.get("path") or "style").stem
    weight = style.get("weight")
    return name if weight is None else f"{name} ({weight * 100:.0f}%)"


def plain_settings(params: dict) -> str:
    """The settings a non-engineer cares about, in words: size, steps, colour."""
    colour = _COLOUR.get(params.get("preserve_color", "none"), str(params.get("preserve_color")))
    return f"{params.get('size', '?')} px, {params.get('steps', '?')} steps, {colour}"


def duration(seconds: float) -> str:
    """12.3 s, 15 min 31 s, 2 h 05 min: render times people read at a glance."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def summarize(report: dict) -> str:
    """One plain sentence about a render report (a dict, as written to JSON)."""
    photo = PurePath((report.get("input") or {}).get("path") or "the photo").name
    styles = report.get("styles") or []
    labels = [style_label({**s, "weight": None}) + (f" {s['weight'] * 100:.0f}%"
              if len(styles) > 1 and s.get("weight") is not None else "") for s in styles]
    look = " and ".join(labels) or "no style"
    settings = plain_settings(report.get("params") or {})
    if report.get("status") != JobState.DONE:
        return f"{photo} was not restyled with {look}: {report.get('error') or 'it failed'}."
    seconds = (report.get("timings") or {}).get("render_seconds")
    took = f" in {duration(seconds)}" if isinstance(seconds, (int, float)) else ""
    device = report.get("device") or "an unknown device"
    return f"{photo} restyled with {look} at {settings}{took} on {device}."
