"""The evaluation step of the render loop (objective forward + input-gradient backward),
run eagerly or replayed as a CUDA graph, and the options that choose between them.

On a GPU one eager evaluation launches a few hundred kernels from Python; at 512 px that
launch time is longer than the kernels themselves, so the device idles between them. A CUDA
graph captured once per stage shape replays the whole step with one launch. Graphs are kept
per shape across renders (the daemon's jobs mostly share sizes), their targets refreshed by
copying into the captured tensors. Where the device cannot capture (CPU, capture refused),
the step runs eagerly and the report says why.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ..core import environment
from .objective import Objective, Parts

# "benchmark" adds cudnn.benchmark
LOOP_ENV = environment.RENDER_LOOP


@dataclass(frozen=True)
class LoopOptions:
    """How the render loop runs on its device; each option falls back where unavailable."""
    cuda_graphs: bool = True        # capture each stage's step as a CUDA graph (CUDA only)
    # Let cuDNN time its algorithms per stage shape. Off by default: on an H200 it cost a
    # worker's first 1024 px job 15 s (17.5 s against 2.9 s) and every new shape again,
    # for no measured gain per evaluation (10.16 against 10.05 ms at 1024 px, 4.07 against
    # 3.86 at 512; benchmarks/results/gpu-loop.md).
    cudnn_benchmark: bool = False
    # "compact": solver.lbfgs (production); "masked": solver.lbfgs_masked, fixed shapes and
    # one host read per evaluation, chosen only in code until measured on a GPU
    solver: str = "compact"
    graph_cache: int = 4            # graphs kept per engine (one per stage shape)

    @classmethod
    def from_env(cls) -> "LoopOptions":
        value = environment.render_loop()
        if value in ("", "fast", "default"):
            return cls()
        if value == "benchmark":
            return cls(cudnn_benchmark=True)
        raise ValueError(f"{LOOP_ENV} must be 'fast' or 'benchmark', got {value!r}")


def graph_unavailable(options: LoopOptions, device: torch.device,
                      cuda_available: bool | None = None) -> str | None:
    """Why this device cannot replay graphs (None when it can). Pure given its inputs."""
    if not options.cuda_graphs:
        return "disabled"
    if device.type != "cuda":
        return f"device is {device.type}"
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        return "CUDA not available"
    return None


@contextlib.contextmanager
def loop_flags(options: LoopOptions, device: torch.device) -> Iterator[bool]:
    """cudnn.benchmark on for a render on CUDA when the options ask for it (restored
    after); yields whether it is on."""
    if device.type != "cuda" or not options.cudnn_benchmark:
        yield False
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield True
    finally:
        torch.backends.cudnn.benchmark = old


class EagerStep:
    """One evaluation as ordinary autograd calls."""
    kind = "eager"

    def __init__(self, objective: Objective):
        self.objective = objective

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Parts]:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():   # value_and_grad: whole, checkpointed or by tiles (fit.py)
            total, parts = self.objective.value_and_grad(x)
        return total.detach(), x.grad, parts


def _graphable(objective) -> bool:
    """Only the plain whole-image objective is captured; the print-size plans run eagerly."""
    from .checkpoint import CheckpointedEncoder
    return type(objective) is Objective and not isinstance(objective.encoder,
                                                           CheckpointedEncoder)


def _part_names(objective: Objective) -> tuple[str, ...]:
    return tuple(objective.target_grams)


class CudaGraphs:
    """Captures with torch.cuda.CUDAGraph after warm-up runs on a side stream (cuDNN picks
    its algorithms and the allocator settles there, as capture requires)."""

    def capture(self, body: Callable[[], None], device: torch.device,
                warmup: int = 2) -> Callable[[], None]:
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                body()
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return graph.replay


class GraphStep:
    """One evaluation replayed from a captured graph. It owns static buffers: the input
    image, the gradient, the loss parts and copies of the targets (refreshed per render by
    retarget()); each call copies x in, replays, and returns copies of the outputs."""
    kind = "cuda_graph"

    def __init__(self, objective: Objective, shape, device: torch.device, graphs=None):
        owned = {k: v.detach().clone() for k, v in objective.content_targets.items()}
        grams = {k: v.detach().clone() for k, v in objective.target_grams.items()}
        self.objective = Objective(objective.encoder, owned, grams, objective.p,
                                   objective.precision)
        self.objective.autocast_cache = False  # casts must happen inside the graph
        self.names = _part_names(self.objective)
        self.x = torch.zeros(shape, device=device).requires_grad_(True)
        self.grad = torch.zeros(shape, device=device)
        self.values = torch.zeros(3 + len(self.names), device=device)
        self.replay = (graphs or CudaGraphs()).capture(self._body, torch.device(device))

    def _body(self) -> None:
        with torch.enable_grad():
            total, parts = self.objective(self.x)
            grad, = torch.autograd.grad(total, self.x)
        self.grad.copy_(grad)
        self.values.copy_(torch.stack([total, parts.content, parts.tv.reshape(()),
                                       *(parts.style[k] for k in self.names)]))

    def retarget(self, objective: Objective) -> None:
        """Point the captured step at another render's targets (same shapes)."""
        with torch.no_grad():
            for k, v in objective.content_targets.items():
                self.objective.content_targets[k].copy_(v)
            for k, v in objective.target_grams.items():
                self.objective.target_grams[k].copy_(v)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Parts]:
        with torch.no_grad():
            self.x.copy_(x)
        self.replay()
        values = self.values.clone()
        parts = Parts(values[0], values[1], {k: values[3 + i] for i, k in enumerate(self.names)},
                      values[2])
        return values[0], self.grad.clone(), parts


def _key(objective: Objective, shape, device: torch.device) -> tuple:
    p = objective.p
    return (tuple(shape), str(device), objective.precision, id(objective.encoder),
            objective.layers, p.content_weight, p.style_weight, p.tv_weight,
            tuple(sorted(p.layer_weights.items())), tuple(objective.content_targets),
            tuple((k, tuple(v.shape)) for k, v in objective.target_grams.items()))


class StepCache:
    """Builds the step for each stage: a cached graph for the shape when the device can
    replay one, else eager. Records what it did for the render's report."""

    def __init__(self, options: LoopOptions, graphs=None,
                 unavailable: Callable[[LoopOptions, torch.device], str | None] | None = None):
        self.options = options
        self.graphs = graphs                     # CudaGraphs() unless a test injects one
        self.unavailable = unavailable or graph_unavailable
        self._steps: OrderedDict = OrderedDict()
        self.captures = self.reuses = 0

    def clear(self) -> None:
        """Drop every captured graph and its memory pool (after an error or OOM)."""
        self._steps.clear()

    def step(self, objective: Objective, shape, device: torch.device):
        """(step, info) where info names the step kind and, for eager, why."""
        why = self.unavailable(self.options, device)
        if why is None and not _graphable(objective):
            why = ("the stage is evaluated by tiles, checkpointed, with a look term (fit.py) "
                   "or with regions (regions.py)")
        if why is not None:
            return EagerStep(objective), {"step": "eager", "reason": why}
        key = _key(objective, shape, device)
        cached = self._steps.get(key)
        if cached is not None:
            self._steps.move_to_end(key)
            cached.retarget(objective)
            self.reuses += 1
            return cached, {"step": "cuda_graph", "graph": "reused"}
        try:
            step = GraphStep(objective, shape, device, self.graphs)
        except Exception as exc:  # capture refused: run eagerly, and say why
            return EagerStep(objective), {"step": "eager",
                                          "reason": f"capture failed: {type(exc).__name__}: "
                                                    f"{str(exc)[:200]}"}
        self._steps[key] = step
        while len(self._steps) > max(0, self.options.graph_cache):
            self._steps.popitem(last=False)
        self.captures += 1
        return step, {"step": "cuda_graph", "graph": "captured"}
