"""The render loop: CUDA-graph steps (their plumbing, run on the CPU through an
injected graph runtime), their fallbacks, and the host reads / launches per evaluation."""

import contextlib

import pytest
import torch
from support.lbfgs_oracle import oracle_in_engine

from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine import graphs
from deepart_batch.engine.graphs import LoopOptions, StepCache, graph_unavailable
from deepart_batch.engine.loopcount import LoopCounter
from support.numeric import FLOAT64_PATH_TOLERANCE, float64_engine, relative_gaps, same_path

# The earlier loop: eager steps and the two-loop L-BFGS (run as the oracle).
BEFORE = LoopOptions(cuda_graphs=False, cudnn_benchmark=False)


class ReplayByCall:
    """Stands in for torch.cuda.CUDAGraph on the CPU: capture runs the step's body (warm-up
    and capture, as the real one does) and each replay runs it again into the same static
    buffers. While a LoopCounter is given, a replay counts as the one launch it is on a GPU."""

    def __init__(self, counter=None):
        self.counter, self.captures = counter, 0

    def capture(self, body, device, warmup=2):
        for _ in range(warmup + 1):
            body()
        self.captures += 1

        def replay():
            if self.counter is None:
                return body()
            self.counter.paused = True
            try:
                body()
            finally:
                self.counter.paused = False
                self.counter.counts["launches"] += 1
        return replay


def always(options, device):
    return None


def make_engine(weights, loop, graph_runtime=None, unavailable=None):
    e = StyleTransfer(weights.conv, weights.preprocessing, loop=loop)
    if graph_runtime is not None:
        e.step_cache = StepCache(loop, graph_runtime, unavailable)
    return e


PARAMS = dict(size=96, steps=12, scales=(0.67, 1.0), scale_steps=(4, 8), precision="fp32")


def test_options_fall_back_where_the_device_lacks_them(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda:0")
    assert graph_unavailable(LoopOptions(), cpu) == "device is cpu"
    assert graph_unavailable(LoopOptions(), cuda, cuda_available=False) == "CUDA not available"
    assert graph_unavailable(BEFORE, cuda, cuda_available=True) == "disabled"
    assert graph_unavailable(LoopOptions(), cuda, cuda_available=True) is None
    with graphs.loop_flags(LoopOptions(cudnn_benchmark=True), cpu) as on:  # CUDA only
        assert on is False and torch.backends.cudnn.benchmark is False
    monkeypatch.setenv(graphs.LOOP_ENV, "fast")
    assert LoopOptions.from_env() == LoopOptions()
    monkeypatch.setenv(graphs.LOOP_ENV, "benchmark")
    assert LoopOptions.from_env().cudnn_benchmark is True
    for gone in ("turbo", "legacy"):  # the legacy loop is no longer in the engine
        monkeypatch.setenv(graphs.LOOP_ENV, gone)
        with pytest.raises(ValueError, match="DEEPART_RENDER_LOOP"):
            LoopOptions.from_env()


@pytest.mark.numeric
def test_graph_steps_give_the_eager_result_and_are_reused_across_renders(weights, photo, painting):
    other_style = painting.flip(-1)
    eager = make_engine(weights, LoopOptions())
    runtime = ReplayByCall()
    graphed = make_engine(weights, LoopOptions(), runtime, always)
    p = RenderParams(**PARAMS)
    a = eager.render(photo, [StyleInput(painting)], p)
    assert a.loop["steps"] == ["eager", "eager"]
    assert [t["reason"] for t in a.scale_timings] == ["device is cpu"] * 2
    b = graphed.render(photo, [StyleInput(painting)], p)
    assert [t["graph"] for t in b.scale_timings] == ["captured", "captured"]
    assert b.loop["steps"] == ["cuda_graph", "cuda_graph"]
    # Same arithmetic on the CPU (the replay runs the step's body): measured equal bit for
    # bit at 1, 2 and 4 threads; 1e-6 allows a kernel choice that differs per buffer.
    assert torch.allclose(a.image, b.image, atol=1e-6)
    assert b.final.total == pytest.approx(a.final.total, rel=1e-6)
    assert [t.total for t in b.trace] == pytest.approx([t.total for t in a.trace], rel=1e-6)
    # Same shapes, another style: the captured graphs are reused with the new targets.
    c = eager.render(photo, [StyleInput(other_style)], p)
    d = graphed.render(photo, [StyleInput(other_style)], p)
    assert [t["graph"] for t in d.scale_timings] == ["reused", "reused"]
    assert runtime.captures == 2
    assert d.final.total == pytest.approx(c.final.total, rel=1e-6)
    assert abs(d.final.total - b.final.total) > 1e-3 * b.final.total  # the targets did change


@pytest.mark.numeric
def test_a_refused_capture_runs_eagerly_and_says_why(weights, photo, painting):
    class Refuses:
        def capture(self, body, device, warmup=2):
            raise RuntimeError("operation not permitted when stream is capturing")
    p = RenderParams(**PARAMS)
    a = make_engine(weights, LoopOptions()).render(photo, [StyleInput(painting)], p)
    b = make_engine(weights, LoopOptions(), Refuses(), always).render(photo, [StyleInput(painting)], p)
    assert b.loop["steps"] == ["eager", "eager"]
    assert "capture failed: RuntimeError: operation not permitted" in b.scale_timings[0]["reason"]
    assert b.final.total == a.final.total


@pytest.mark.numeric
def test_compact_solver_renders_the_two_loop_path(weights, photo, painting):
    """A whole two-stage render (stage hand-over, line searches, the best point kept) takes
    the two-loop solver's path with the compact one, evaluation by evaluation, in float64,
    where two correct solvers agree to ~1e-13 on any CPU (support/numeric.py). In fp32 the
    two paths part by rounding, by how much depending on the CPU."""
    p = RenderParams(**{**PARAMS, "steps": 24, "scale_steps": (8, 16), "log_every": 1})
    photo, painting = photo.double(), painting.double()
    with oracle_in_engine():
        old = float64_engine(StyleTransfer, weights, loop=BEFORE).render(
            photo, [StyleInput(painting)], p)
    new = float64_engine(StyleTransfer, weights, loop=LoopOptions()).render(
        photo, [StyleInput(painting)], p)
    assert new.loop["solver"] == "compact" and new.image.dtype == torch.float64
    before, after = [t.total for t in old.trace], [t.total for t in new.trace]
    assert len(before) == 24 and same_path(before, after), relative_gaps(before, after)
    assert new.final.total == pytest.approx(old.final.total, rel=FLOAT64_PATH_TOLERANCE)


def test_fewer_host_reads_and_launches_per_evaluation(weights, photo, painting):
    """What the GPU pays for per evaluation, counted on the CPU: every host read is a device
    sync, every compute op an eager kernel launch (a graph replay is one)."""
    p = RenderParams(**{**PARAMS, "scales": (1.0,), "scale_steps": None, "steps": 24, "size": 32})
    counts, results = {}, {}
    loops = (("legacy", BEFORE), ("fast", LoopOptions()), ("masked", LoopOptions(solver="masked")))
    for name, loop in loops:
        counter = LoopCounter()
        e = make_engine(weights, loop, ReplayByCall(counter) if name != "legacy" else None,
                        always)
        solver = oracle_in_engine() if name == "legacy" else contextlib.nullcontext()
        with solver, counter:
            r = e.render(photo, [StyleInput(painting)], p)
        counts[name] = {k: v / r.evaluations for k, v in counter.counts.items()}
        results[name] = r
    print("per evaluation", counts)
    # counts include the render's set-up (targets, final losses), spread over 24 evaluations
    assert counts["fast"]["host_reads"] <= 2.5 < counts["legacy"]["host_reads"]
    assert counts["fast"]["launches"] < counts["legacy"]["launches"] / 2.5
    # the masked solver: one read per evaluation (about 1.9 for the compact one)
    assert counts["masked"]["host_reads"] <= 1.3 < counts["fast"]["host_reads"] - 0.5
    assert results["masked"].loop["solver"] == "masked"
