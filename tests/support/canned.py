"""An in-process executor for tests of the daemon's bookkeeping (executor.kind
`support.canned:CannedExecutor`), like huey's MemoryHuey or rq's SimpleWorker.

No worker process, no weights per run: every job is answered at once with one real 32 px
render made once per session by the real engine (its bytes and report, re-labelled for the
job), or with a scripted event: crashed, timeout, failed, lost or oom. Scripts come from
`script()` below or from DEEPART_INJECT_FAULT, read the way real workers read it
(deepart_batch.testing): crash -> CRASHED, hang -> TIMEOUT, oom -> what on_oom makes of it.
What needs a real process (os._exit, kill -9, a worker's death or timeout) is not here.
"""

from __future__ import annotations

import copy
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from deepart_batch.core.timefmt import now_iso
from deepart_batch.core.states import EventKind, FailureReason
from deepart_batch.pool.events import (ExecutorEvent, OutOfMemory, RenderDone, RenderFailed,
                                       job_lost)
from deepart_batch.pool.executor import Capacity, PoolJob, SlotState, SlotView
from deepart_batch.testing import injected_fault

from .manifests import DATA

OUTCOMES = ("done", "crashed", "timeout", "failed", "lost", "oom")
SIZE = 32


@dataclass(frozen=True)
class Scripted:
    outcome: str                     # one of OUTCOMES
    attempts: frozenset | None       # None: every attempt
    match: str                       # jobs whose inbox path contains this

    def applies(self, attempt: int, photo: str) -> bool:
        return (self.attempts is None or attempt in self.attempts) and self.match in photo


_SCRIPT: list[Scripted] = []


@contextmanager
def script(outcome: str, attempts=None, match: str = ""):
    """Meanwhile, jobs of photos whose path contains `match` (on `attempts`, default all)
    end with `outcome` instead of the canned render."""
    assert outcome in OUTCOMES, outcome
    entry = Scripted(outcome, None if attempts is None else frozenset(attempts), match)
    _SCRIPT.append(entry)
    try:
        yield entry
    finally:
        _SCRIPT.remove(entry)


_SLOW: list[tuple[str, float]] = []


@contextmanager
def slow(match: str, seconds: float):
    """Meanwhile, jobs of photos whose path contains `match` answer `seconds` after they
    were given: a render still running when the next file arrives."""
    entry = (match, seconds)
    _SLOW.append(entry)
    try:
        yield
    finally:
        _SLOW.remove(entry)


_AT_JOB_SIZE: list[bool] = []


@contextmanager
def at_job_size():
    """Meanwhile, each answer is the canned render resized to the job's size (its long
    side), with its report's output size to match: a preview big enough to be approved,
    and a print bigger than its preview (still no engine run)."""
    _AT_JOB_SIZE.append(True)
    try:
        yield
    finally:
        _AT_JOB_SIZE.pop()


def _sized(image, size: int):
    if not _AT_JOB_SIZE:
        return image
    scale = size / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _render_seconds(photo: str) -> float:
    return max((s for match, s in _SLOW if match in photo), default=0.0)


@lru_cache(maxsize=1)
def canned_render():
    """(PIL image, RenderReport) of one real 32 px render, made once per session and kept
    in the session's cache dir (DEEPART_CACHE_DIR, which conftest makes per session), so a
    daemon process with this executor reads it without importing torch."""
    import json

    from PIL import Image

    from deepart_batch.core.environment import weights_cache_dir
    from deepart_batch.report import RenderReport
    saved = weights_cache_dir() / f"canned-{SIZE}px"
    if (saved / "report.json").exists():
        report = RenderReport.from_dict(json.loads((saved / "report.json").read_text()))
        with Image.open(saved / "render.png") as image:
            return image.convert("RGB"), report
    image, report = _render()
    tmp = saved.with_name(f"{saved.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    image.save(tmp / "render.png")
    (tmp / "report.json").write_text(json.dumps(report.to_dict()))
    try:
        os.rename(tmp, saved)          # whole or not at all; the first writer wins
    except OSError:
        pass
    return image, report


def _render():
    from deepart_batch.core.jobspec import JobSpec, StyleRef
    from deepart_batch.core.params import RenderParams
    from deepart_batch.engine import StyleTransfer
    from deepart_batch.pipeline import RenderRequest, render_request
    from deepart_batch.weights import load_weights
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cpu")
    spec = JobSpec(content=str(DATA / "tubingen.jpg"), input="tubingen.jpg",
                   styles=(StyleRef("scream", str(DATA / "the_scream.jpg"), 1.0),),
                   params=RenderParams(size=SIZE, steps=4, log_every=1), output_format="JPEG")
    return render_request(engine, weights, RenderRequest.from_spec(spec))


def _outcome(attempt: int, photo: str) -> str:
    for entry in _SCRIPT:
        if entry.applies(attempt, photo):
            return entry.outcome
    fault = injected_fault()
    if fault and fault.applies(attempt, photo):
        return {"crash": "crashed", "hang": "timeout", "oom": "oom"}[fault.kind]
    return "done"


def _unreadable(spec) -> str | None:
    """The real decoder's complaint about the job's photo (a truncated file), or None."""
    from deepart_batch import images
    from deepart_batch.errors import DeepartError
    try:
        images.load_image(spec.content, spec.max_input_pixels, max_side=2 * SIZE)
    except DeepartError as exc:
        return str(exc)
    return None


class CannedExecutor:
    """Implements pool.executor.Executor in this process, with `slots` idle slots (checked
    against the protocol by tests/repo/test_suite_support.py)."""
    kind = "canned"

    def __init__(self, slots: int = 1, on_oom: str = "smaller", job_timeout: float = 3600):
        self.started_at = time.monotonic()
        self.node = socket.gethostname()
        self.on_oom, self.job_timeout = on_oom, job_timeout
        self._ids = [f"cpu#{i}" for i in range(slots)]
        self._jobs: dict[str, PoolJob | None] = {i: None for i in self._ids}
        self._pending: list[ExecutorEvent] = []
        self._assigned_at: dict[str, float] = {}
        self._due: dict[str, float] = {}       # slot -> when its answer may be read
        self._busy = 0.0

    @classmethod
    def from_config(cls, config, parent_logger=None) -> "CannedExecutor":
        slots = config.jobs_per_device if isinstance(config.jobs_per_device, int) else 1
        return cls(max(1, slots), config.on_oom, config.job_timeout)

    @classmethod
    def capacity_problem(cls, config) -> None:
        return None

    def start(self) -> None:
        pass

    def capacity(self) -> Capacity:
        return Capacity(len(self._ids))

    def slots(self) -> list[SlotView]:
        return [SlotView(i, "cpu", self.node, SlotState.BUSY if job else SlotState.IDLE,
                         job.job_id if job else None, memory_bytes=8 << 30, pid=os.getpid())
                for i, job in self._jobs.items()]

    def all_ready(self) -> bool:
        return True

    def healthy(self) -> bool:
        return True

    def running_jobs(self) -> list[int]:
        return [j.job_id for j in self._jobs.values() if j is not None]

    def assign(self, slot_id: str, job: PoolJob) -> None:
        if self._jobs[slot_id] is not None:
            raise RuntimeError(f"slot {slot_id} is not idle; cannot take job {job.job_id}")
        self._jobs[slot_id] = job
        self._assigned_at[slot_id] = time.monotonic()
        self._due[slot_id] = time.monotonic() + _render_seconds(job.spec.input)
        self._pending.append(self._answer(slot_id, job))

    def poll(self, timeout: float = 0.5) -> list[ExecutorEvent]:
        now = time.monotonic()
        events = [e for e in self._pending if self._due.get(e.worker, 0.0) <= now]
        self._pending = [e for e in self._pending if e not in events]
        for event in events:
            self._jobs[event.worker] = None
            self._busy += time.monotonic() - self._assigned_at.pop(event.worker, time.monotonic())
        if not events:
            time.sleep(min(timeout, 0.05))
        return events

    def status(self) -> list[dict]:
        return [v.to_dict() for v in self.slots()]

    def busy_seconds(self) -> dict[str, float]:
        return {"cpu": self._busy}   # from assign to the poll that answered

    def shutdown(self, grace: float = 10.0) -> None:
        self._jobs = {i: None for i in self._ids}
        self._pending = []

    # -- answers --------------------------------------------------------------------------
    def _answer(self, slot_id: str, job: PoolJob) -> ExecutorEvent:
        outcome = _outcome(job.attempt, job.spec.input)
        if outcome == "oom":
            if self.on_oom == "smaller" and job.spec.params.size > 64:
                event = OutOfMemory(slot_id, job.job_id, "cpu", job.spec.params.size,
                                   time.time(), self.on_oom, "retry at a smaller size")
                return self._done(slot_id, job, [event.report_entry()])
            return RenderFailed(slot_id, job.job_id,
                                f"out of memory on cpu at {job.spec.params.size}px "
                                f"(on_oom: {self.on_oom}); lower the size or free the device",
                                FailureReason.OOM)
        if outcome == "done":
            problem = _unreadable(job.spec)
            if problem:   # what a real worker says of a photo it cannot decode
                return RenderFailed(slot_id, job.job_id, problem, FailureReason.IMAGE)
            return self._done(slot_id, job, [])
        kind, text = {
            "crashed": (EventKind.CRASHED, "worker process died with exit code 70"),
            "timeout": (EventKind.TIMEOUT, f"ran longer than job_timeout ({self.job_timeout} s)"),
            "lost": (EventKind.LOST, f"node {self.node} left the cluster"),
            "failed": (EventKind.FAILED, "RuntimeError: scripted failure"),
        }[outcome]
        if kind is EventKind.FAILED:
            return RenderFailed(slot_id, job.job_id, text, FailureReason.ERROR)
        return job_lost(kind, slot_id, job.job_id, text, node=self.node)

    def _done(self, slot_id: str, job: PoolJob, events: list) -> ExecutorEvent:
        from deepart_batch import images
        from deepart_batch.report import FileRef, JobInfo
        from deepart_batch.core.hashing import sha256_file
        image, base = canned_render()
        spec = job.spec
        report = copy.deepcopy(base)
        report.input = FileRef(str(spec.content), spec.content_sha256 or sha256_file(spec.content))
        report.styles = [FileRef(s.path, s.sha256 or sha256_file(s.path), s.name, s.weight)
                         for s in spec.styles]
        # the job's parameters, as its report would say; the image is the canned 32 px one
        report.params = {**report.params, **spec.params.to_dict()}
        report.timings = {**report.timings, "started": now_iso(), "finished": now_iso()}
        report.device, report.events = "cpu", events
        image = _sized(image, spec.params.size)
        report.output = {**(report.output or {}), "width": image.width, "height": image.height}
        report.job = JobInfo(id=job.job_id, attempt=job.attempt, worker=slot_id,
                             worker_device="cpu", node=self.node, executor=self.kind,
                             pid=os.getpid())
        data = images.encode_image(image, spec.output_format, spec.quality)
        return RenderDone(slot_id, job.job_id, report, data,
                          report.timings.get("render_seconds"), job.style_key)
