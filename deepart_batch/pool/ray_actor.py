"""The Ray actor: a pool worker's render loop, fed through the object store, not a pipe.

Worker boxes share no folder with the head: the daemon sends the photo and style bytes,
the actor writes them to its own temp folder, renders them with the same code as a local
worker (`worker.run_guarded`), and returns the image bytes and report. It never touches the
journal or the outbox. It is a threaded actor (max_concurrency 2) so that `progress` answers
while `render` runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from pathlib import Path

from .events import ExecutorEvent, OutOfMemory, Progress, RenderDone
from .executor import PoolJob


class RenderActor:
    def __init__(self, spec, weights: str, on_oom: str, fault: str = ""):
        import ray
        import torch

        from . import faults
        from .worker import WorkerState
        gpus = ray.get_gpu_ids()
        if gpus:   # Ray set CUDA_VISIBLE_DEVICES to this actor's GPU; name it in reports
            spec = dataclasses.replace(spec, device=f"cuda:{gpus[0]}", torch_device="cuda:0")
        else:
            torch.set_num_threads(spec.threads)
        self.spec = spec
        self.state = WorkerState(spec, weights, on_oom)
        self.fault = faults.from_env(fault)
        self.tmp = Path(tempfile.mkdtemp(prefix="deepart-actor-"))
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._notices: list[OutOfMemory] = []

    def hello(self) -> dict:
        """Loads the weights first: a slot is idle only when it can render at once, so
        job_timeout never counts a fresh actor's start (a box may join mid-batch)."""
        from .worker import hello
        self.state.engine(self.spec.torch_device)
        return hello(self.spec).to_dict()

    def progress(self) -> list[dict]:
        """The notices (OOM retries) since the last call, then the latest step, as events'
        wire forms (ExecutorEvent.from_dict)."""
        with self._lock:
            notices, self._notices = self._notices, []
            latest = [self._progress] if self._progress else []
            return [e.to_dict() for e in notices + latest]

    def render(self, job: PoolJob, photo: bytes, mask: bytes, init: bytes, *styles: bytes
               ) -> dict:
        """One job; returns its RenderDone or RenderFailed event's wire form (the render's
        own errors included). `mask`: the region mask's bytes, `init`: a print's approved
        preview (b"": none); this node shares no folder with the daemon."""
        folder = self.tmp / f"job-{job.job_id}-{job.attempt}"
        folder.mkdir()
        try:
            spec = job.spec
            content = _write(folder / Path(spec.content).name, photo)
            paths = [_write(folder / f"style{i}{Path(s.path).suffix}", data)
                     for i, (s, data) in enumerate(zip(spec.styles, styles))]
            mask_path = _write(folder / f"mask{Path(spec.mask).suffix}", mask) \
                if spec.mask else None
            init_path = _write(folder / f"approved{Path(spec.init_from).suffix}", init) \
                if spec.init_from else None
            local = dataclasses.replace(job, spec=spec.with_files(content, paths, mask_path,
                                                                  init_path))
            result: list[ExecutorEvent] = []
            with self._lock:
                self._progress, self._notices = None, []
            from .worker import run_guarded
            run_guarded(self.state, local, lambda m: self._send(m, result), self.fault)
            (message,) = result
            if isinstance(message, RenderDone):   # name the daemon's files, not our copies
                message.report.rename_files(spec.content, [s.path for s in spec.styles])
                if spec.mask:
                    message.report.rename_mask(spec.mask)
            return message.to_dict()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _send(self, message: ExecutorEvent, result: list) -> None:
        with self._lock:
            if isinstance(message, Progress):
                self._progress = message
            elif isinstance(message, OutOfMemory):
                self._notices.append(message)
            else:
                result.append(message)

    def pid(self) -> int:
        return os.getpid()


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
