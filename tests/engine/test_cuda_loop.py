"""The CUDA-graph loop on a real GPU: CUDA-graph steps against eager ones, graph reuse, and the device
syncs per evaluation. Skipped where torch sees no CUDA device (CI); run by
benchmarks/gpu_check.py on a lent GPU."""

import contextlib
import warnings

import pytest
import torch
from support.lbfgs_oracle import oracle_in_engine

from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.graphs import CudaGraphs, EagerStep, GraphStep, LoopOptions
from deepart_batch.engine.optimize import resize_long_side

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

PARAMS = dict(size=128, steps=40, scales=(0.5, 1.0), scale_steps=(15, 25))


def render(weights, photo, painting, loop, **kw):
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cuda", loop=loop)
    return engine, engine.render(photo, [StyleInput(painting)], RenderParams(**{**PARAMS, **kw}))


@pytest.mark.parametrize("precision,tol", [("fp32", 1e-4), ("bf16", 1e-2)])
def test_graph_step_computes_the_eager_step(weights, photo, painting, precision, tol):
    """Same loss and gradient as the eager step on fresh random images, replay after
    replay (the static buffers are refreshed, not stale)."""
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cuda")
    p = RenderParams(size=128, precision=precision).validated()
    content = resize_long_side(photo.cuda(), 128)
    grams = [engine.style_targets(painting, p, content)]
    objective = engine.objective(content, [StyleInput(painting)], grams, p, precision)
    torch.backends.cudnn.benchmark = True
    try:
        eager = EagerStep(objective)
        graph = GraphStep(objective, content.shape, torch.device("cuda"), CudaGraphs())
        for _ in range(3):
            x = torch.rand(content.shape, device="cuda")
            loss_e, grad_e, parts_e = eager(x)
            loss_g, grad_g, parts_g = graph(x)
            assert torch.isfinite(grad_g).all()
            assert abs(loss_g.item() - loss_e.item()) <= tol * abs(loss_e.item())
            assert ((grad_g - grad_e).norm() / grad_e.norm()).item() <= 10 * tol
            assert parts_g.content.item() == pytest.approx(parts_e.content.item(), rel=tol)
    finally:
        torch.backends.cudnn.benchmark = False


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graph_render_matches_eager_render(weights, photo, painting, precision):
    no_graphs = LoopOptions(cuda_graphs=False)
    _, eager = render(weights, photo, painting, no_graphs, precision=precision)
    engine, graphed = render(weights, photo, painting, LoopOptions(), precision=precision)
    assert eager.loop["steps"] == ["eager", "eager"]
    assert graphed.loop["steps"] == ["cuda_graph", "cuda_graph"]
    assert graphed.loop["cudnn_benchmark"] is LoopOptions().cudnn_benchmark
    # the first logged losses are the same function of the same image; after that the
    # L-BFGS paths part by rounding (cuDNN's algorithms differ), so the ends are compared
    # loosely (measured on an H200: 3.3% apart in fp32 after 40 evaluations)
    assert graphed.trace[0].total == pytest.approx(eager.trace[0].total, rel=1e-3)
    assert graphed.final.total == pytest.approx(eager.final.total, rel=0.1)
    # a second render of the same shapes replays the captured graphs with its own targets
    again = engine.render(photo, [StyleInput(painting.flip(-1))], RenderParams(
        **{**PARAMS, "precision": precision}))
    assert [t["graph"] for t in again.scale_timings] == ["reused", "reused"]
    _, eager_again = render(weights, photo, painting.flip(-1), no_graphs, precision=precision)
    assert again.final.total == pytest.approx(eager_again.final.total, rel=0.1)


def test_syncs_per_evaluation_on_the_device(weights, photo, painting):
    """torch's sync debug mode warns at every host-device synchronisation; count them."""
    counts = {}
    # before the CUDA-graph loop: eager steps and the two-loop L-BFGS (the oracle)
    before = LoopOptions(cuda_graphs=False, cudnn_benchmark=False)
    for name, loop in (("legacy", before), ("fast", LoopOptions())):
        engine = StyleTransfer(weights.conv, weights.preprocessing, "cuda", loop=loop)
        p = RenderParams(**{**PARAMS, "scales": (1.0,), "scale_steps": None, "steps": 60})
        solver = oracle_in_engine if name == "legacy" else contextlib.nullcontext
        with solver():
            engine.render(photo, [StyleInput(painting)], p)  # warm: capture, cuDNN plans
        with solver(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                r = engine.render(photo, [StyleInput(painting)], p)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts[name] = sum("synchroniz" in str(w.message) for w in caught) / r.evaluations
    print("syncs per evaluation", counts)
    assert counts["fast"] <= 2.5
    assert counts["fast"] < counts["legacy"]
