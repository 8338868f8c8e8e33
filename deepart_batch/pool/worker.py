"""The worker process: loads the weights once, renders jobs, reports back over its pipe.

It is started with the spawn method (never fork after CUDA is initialised) and sees only
its own GPU through CUDA_VISIBLE_DEVICES, set by the parent before the spawn.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections import OrderedDict
from dataclasses import replace

from ..core.params import RenderParams
from ..core.states import FailureReason
from ..errors import DeepartError
from ..report import JobInfo
from .events import (JobStarted, OutOfMemory, Progress, RenderDone, RenderFailed, SlotReady,
                     SlotUp)


class GramCache:
    """LRU of style Gram targets keyed by (style hash, size, layers, weights id, ...)."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key):
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        return None

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


def _is_oom(exc: BaseException) -> bool:
    import torch
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _memory_capacity(torch_device: str) -> int:
    import torch
    if torch_device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


class WorkerState:
    """What a worker keeps between jobs: its weights, engines per device and Gram cache."""

    def __init__(self, spec, weights_spec: str, on_oom: str):
        self.spec = spec
        self.weights_spec = weights_spec
        self.on_oom = on_oom
        self.weights = None
        self.engines = {}
        self.grams = GramCache()

    def engine(self, device: str):
        from ..engine import StyleTransfer
        from ..weights import load_weights
        if self.weights is None:
            self.weights = load_weights(self.weights_spec)
        if device not in self.engines:
            self.engines[device] = StyleTransfer(self.weights.conv, self.weights.preprocessing,
                                                 device)
        return self.engines[device]

    def warm_up(self, clock=None, warm: bool | None = None,
                params: RenderParams | None = None) -> dict:
        """Weights, the CUDA context and the default trunk on the device before the first
        job arrives, so that start-up is not on a job's path; with warming on (warming.py)
        also one throwaway render of the configured job's stages. Errors are left for the
        first job to report in its own words. Returns what the warming render ran."""
        from . import warming
        clock = clock or warming.StartupClock()
        done: dict = {}
        try:
            from ..weights import load_weights
            self.weights = load_weights(self.weights_spec)
            clock.mark("weights")
            engine = self.engine(self.spec.torch_device)
            engine.warm_up()
            from .. import images, pipeline  # noqa: F401  what a job imports, off its path
            clock.mark("trunks")
            if warming.warm_enabled(warm, self.spec.torch_device):
                done = warming.warm_render(engine, params, self.spec.torch_device)
                clock.mark("warming render")
        except Exception as exc:
            done = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return done


def run_job(state: WorkerState, job, send, fault) -> None:
    from .. import images
    from ..pipeline import RenderRequest, render_request
    from . import faults

    spec, slot = job.spec, state.spec.id
    params = spec.params
    device, events, oom_tries = state.spec.torch_device, [], 0
    injected_oom = False

    def on_progress(losses, total):
        nonlocal injected_oom
        if fault and fault.applies(job.attempt, spec.input):
            if fault.kind != "oom" or not injected_oom:
                injected_oom = True
                faults.trigger(fault)
        send(Progress(slot, job.job_id, losses.step, total, losses.total))

    while True:
        request = RenderRequest.from_spec(spec, params if oom_tries else None)
        try:
            engine = state.engine(device)
            cache = state.grams if device == state.spec.torch_device else None
            image, report = render_request(engine, state.weights, request,
                                           callback=on_progress, gram_cache=cache)
            break
        except Exception as exc:
            if not _is_oom(exc):
                raise
            _free_cuda()
            at, size = device, params.size
            if state.on_oom == "smaller" and params.size > 64 and oom_tries < 3:
                params = replace(params, size=max(64, int(params.size * 0.75)))
                action = f"retry at {params.size}px"
            elif state.on_oom == "cpu" and device != "cpu":
                device = "cpu"
                action = "retry on cpu"
            else:
                action = "fail"
            event = OutOfMemory(slot, job.job_id, at, size, time.time(), state.on_oom, action)
            events.append(event.report_entry())
            if action == "fail":
                raise JobFailed(FailureReason.OOM,
                                f"out of memory on {device} at {params.size}px "
                                f"(on_oom: {state.on_oom}); lower the size or free the device")
            oom_tries += 1
            send(event)
    data = images.encode_image(image, spec.output_format, spec.quality)
    report.device = device
    report.events = events
    report.job = JobInfo(id=job.job_id, attempt=job.attempt, worker=state.spec.id,
                         worker_device=state.spec.device, node=state.spec.node,
                         executor=state.spec.executor, pid=os.getpid())
    send(RenderDone(slot, job.job_id, report, data, report.timings.get("render_seconds"),
                    job.style_key))


class JobFailed(Exception):
    def __init__(self, reason: FailureReason, message: str):
        super().__init__(message)
        self.reason = reason


def _free_cuda() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _die_with_parent() -> None:
    """If the daemon is SIGKILLed, its workers must not render on as orphans (Linux only)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(spec, conn, weights_spec: str, on_oom: str, log_level: str,
                parent_logger=None, warm: bool | None = None,
                warm_params: RenderParams | None = None) -> None:
    from .warming import StartupClock
    clock = StartupClock()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides when we stop
    _die_with_parent()
    from loguru import logger
    if parent_logger is not None:   # one writer for all sinks: the daemon process
        from ..ops.logsetup import worker_logging
        worker_logging(parent_logger, log_level)
    else:
        logger.remove()
        logger.add(sys.stderr, level=log_level, format="{time:HH:mm:ss} worker " + spec.id +
                   " | {level} | {extra} {message}")
    import torch
    from . import faults
    if spec.torch_device == "cpu":
        torch.set_num_threads(spec.threads)
    clock.mark("import torch")
    state = WorkerState(spec, weights_spec, on_oom)
    fault = faults.from_env()
    def send(event) -> None:
        conn.send(event.to_dict())   # the wire form; the pool reads it with from_dict

    send(hello(spec))   # the slot is warming from now
    faults.slow_start(fault)
    fault, before_start = faults.job_fault(fault), fault
    warmed = state.warm_up(clock, warm, warm_params)
    send(SlotReady(spec.id, None, clock.to_dict(), warmed))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        faults.untaken(before_start, job)
        send(JobStarted(spec.id, job.job_id))   # job_timeout runs from here
        run_guarded(state, job, send, fault)


def hello(spec) -> SlotUp:
    """What a slot says when it is up: its process, device and the memory it may use."""
    import torch
    return SlotUp(spec.id, None, pid=os.getpid(), device=spec.device,
                  torch_device=spec.torch_device, threads=torch.get_num_threads(),
                  node=spec.node, cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                  memory_bytes=_memory_capacity(spec.torch_device))


def run_guarded(state: WorkerState, job, send, fault) -> None:
    """run_job, with every failure of the render sent as a FAILED message, not raised.
    Everything logged meanwhile (the render's own lines, intercepted warnings) carries the
    job and its photo, as the daemon's own records do (daemon/logcontext.py)."""
    from loguru import logger
    with logger.contextualize(job=job.job_id, photo=job.spec.input, campaign=job.campaign):
        _run_guarded(state, job, send, fault)


def _run_guarded(state: WorkerState, job, send, fault) -> None:
    from loguru import logger
    slot = state.spec.id
    try:
        run_job(state, job, send, fault)
    except JobFailed as exc:
        send(RenderFailed(slot, job.job_id, str(exc), exc.reason))
    except DeepartError as exc:   # the photo or a painting cannot be read
        send(RenderFailed(slot, job.job_id, str(exc), FailureReason.IMAGE))
    except Exception as exc:
        logger.error("job {} failed: {}", job.job_id, traceback.format_exc())
        send(RenderFailed(slot, job.job_id, f"{type(exc).__name__}: {exc}",
                          FailureReason.ERROR))
