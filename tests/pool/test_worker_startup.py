"""Weights mapped from the decode cache (decoded once), the warming
state between a worker's hello and its readiness, warming's plan, and the graph LRU."""

import fcntl
import threading
from pathlib import Path

import pytest
import torch

from deepart_batch import weights as W
from deepart_batch.core.jobspec import JobSpec, StyleRef
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.graphs import LoopOptions, StepCache
from deepart_batch.pool import DevicePool, EventKind, PoolJob, SlotState, plan_workers
from deepart_batch.pool import warming

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.numeric
def test_mapped_weights_equal_the_decoded_ones_bit_for_bit_and_render_identically(
        tmp_path, monkeypatch, photo, painting):
    monkeypatch.setenv("DEEPART_CACHE_DIR", str(tmp_path))
    decoded = W.decode_quantized(W.bundled_path())
    W.load_weights("bundled")                    # decodes into the empty cache
    mapped = W.load_weights("bundled")           # maps the cache file
    assert set(mapped.conv) == set(decoded)
    for k, v in decoded.items():
        assert mapped.conv[k].dtype == v.dtype and torch.equal(mapped.conv[k], v), k
    (cached,) = tmp_path.glob("vgg19-bundled-*.pt")
    with open("/proc/self/maps") as fh:           # mapped, not read into private memory
        assert str(cached) in fh.read()
    p = RenderParams(size=32, steps=3, scales=(1.0,), precision="fp32")
    a = StyleTransfer(decoded, "caffe").render(photo, [StyleInput(painting)], p)
    b = StyleTransfer(mapped.conv, "caffe").render(photo, [StyleInput(painting)], p)
    assert torch.equal(a.image, b.image)


def test_workers_starting_together_decode_once(tmp_path, monkeypatch):
    """A worker that finds no cache while another decodes waits for it and maps its file."""
    monkeypatch.setenv("DEEPART_CACHE_DIR", str(tmp_path / "first"))
    W.load_weights("bundled")
    (made,) = (tmp_path / "first").glob("vgg19-bundled-*.pt")
    shared = tmp_path / "shared"
    monkeypatch.setenv("DEEPART_CACHE_DIR", str(shared))
    target = shared / made.name
    decodes = threading.Event()
    real_decode = W.decode_quantized

    def counting_decode(path):
        decodes.set()
        return real_decode(path)
    monkeypatch.setattr(W, "decode_quantized", counting_decode)
    shared.mkdir()
    with open(shared / (made.name + ".lock"), "a+b") as lock:   # the first worker decodes
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = {}
        later = threading.Thread(target=lambda: result.update(w=W.load_weights("bundled")))
        later.start()
        decodes.wait(timeout=3)                   # without the lock it decodes at once
        assert not decodes.is_set(), "the second worker decoded instead of waiting"
        target.write_bytes(made.read_bytes())     # the first worker's decode lands
        fcntl.flock(lock, fcntl.LOCK_UN)
    later.join(timeout=60)
    assert not decodes.is_set()
    assert torch.equal(result["w"].conv["conv5_4.weight"],
                       real_decode(W.bundled_path())["conv5_4.weight"])


class _Recording(DevicePool):
    """The real pool, recording its slot's state after each message it handles."""

    def _on_message(self, w, message):
        event = super()._on_message(w, message)
        self.seen.append((message.kind, w.view().state))
        self.status_states.append(self.status()[0]["state"])   # what status.json shows
        if message.kind is EventKind.HELLO:   # warming: a job is refused
            try:
                self.assign(w.spec.id, photo_job(99))
            except RuntimeError as exc:
                self.refused = str(exc)
        return event


def photo_job(job_id):
    spec = JobSpec(content=str(DATA / "tubingen.jpg"), input="tubingen.jpg",
                   styles=(StyleRef("starry", str(DATA / "starry_night.jpg"), 1.0),),
                   params=RenderParams(size=32, steps=2), output_format="JPEG")
    return PoolJob(job_id, 1, spec, "starry")


def test_a_worker_is_warming_between_hello_and_ready_and_takes_jobs_after():
    pool = _Recording(plan_workers(["cpu"]), warm=True,
                      warm_params=RenderParams(size=64, steps=4))
    pool.seen, pool.refused, pool.status_states = [], None, []
    pool.start()
    try:
        ready = None
        for _ in range(1200):
            for ev in pool.poll(0.1):
                if ev.kind is EventKind.READY:
                    ready = ev
            if ready:
                break
        assert ready is not None, "the worker never said ready"
        assert pool.seen[:2] == [(EventKind.HELLO, SlotState.WARMING),
                                 (EventKind.READY, SlotState.IDLE)]
        assert "not idle" in pool.refused
        assert pool.status_states[:2] == ["warming", "idle"]
        parts = [p["part"] for p in ready.startup["parts"]]
        assert parts == ["import torch", "weights", "trunks", "warming render"]
        # the CPU warms one evaluation at the smallest stage of the configured job
        assert ready.warmed == {"size": 64, "evaluations": 1, "steps": ["eager"]}
        pool.assign(pool.slots()[0].id, photo_job(1))
        done = []
        for _ in range(1200):
            done += [e for e in pool.poll(0.1) if e.kind in (EventKind.DONE, EventKind.FAILED)]
            if done:
                break
        assert done[0].kind is EventKind.DONE, done[0]
    finally:
        pool.shutdown()


def test_warming_plans_the_configured_stages_on_cuda_and_one_evaluation_on_the_cpu():
    assert warming.warm_enabled(None, "cuda:0") and not warming.warm_enabled(None, "cpu")
    assert warming.warm_enabled(True, "cpu") and not warming.warm_enabled(False, "cuda:0")
    job = RenderParams(size=1024, steps=300)
    cpu = warming.warm_params(job, "cpu")
    assert (cpu.size, cpu.steps, cpu.scales) == (256, 1, (1.0,))
    cuda = warming.warm_params(job, "cuda:0")
    assert (cuda.size, cuda.scales, cuda.scale_steps) == (1024, (0.25, 0.5, 1.0), (1, 1, 1))
    small = warming.warm_params(RenderParams(size=128, steps=10), "cuda:0")
    assert small.scales == (0.5, 1.0) and small.steps == 2   # 32 px is under MIN_SCALE_SIDE


def test_executor_warm_is_read_from_the_config(tmp_path):
    from support.boxes import Box
    from deepart_batch.settings.config import load_config
    assert load_config(Box(tmp_path / "a").config).executor.warm is None
    config = load_config(Box(tmp_path / "b", executor={"warm": False}).config)
    pool = DevicePool.from_config(config)
    assert pool.warm is False and pool.warm_params.size == config.render_params().size


class _Captures:
    """Stands in for CudaGraphs on the CPU: counts captures; replay runs the body."""

    def __init__(self):
        self.captures = 0

    def capture(self, body, device, warmup=2):
        body()
        self.captures += 1
        return body


def test_graph_cache_keeps_the_least_recently_used_shapes_out(weights, photo, painting):
    runtime = _Captures()
    loop = LoopOptions(graph_cache=2)
    engine = StyleTransfer(weights.conv, weights.preprocessing, loop=loop)
    engine.step_cache = StepCache(loop, runtime, lambda options, device: None)

    def render(size):
        p = RenderParams(size=size, steps=1, scales=(1.0,), precision="fp32")
        return engine.render(photo, [StyleInput(painting)], p).scale_timings[0]["graph"]
    # A, B, A again (A is now the most recent), C evicts B (least recent), not A
    assert [render(s) for s in (32, 40, 32, 48)] == ["captured", "captured", "reused",
                                                     "captured"]
    assert render(32) == "reused" and render(40) == "captured"
    assert runtime.captures == 4


def test_a_worker_stuck_warming_is_restarted(monkeypatch):
    """A slot takes no job while warming, so no job_timeout can end a stuck one: after
    START_GRACE from its hello the pool starts it again."""
    from deepart_batch.pool import pool as pool_module
    monkeypatch.setattr(pool_module, "START_GRACE", 1.0)
    monkeypatch.setenv("DEEPART_INJECT_FAULT", "slow_start")   # sleeps 25 s after hello
    pool = DevicePool(plan_workers(["cpu"]))
    pool.start()
    try:
        pids = []
        for _ in range(3000):
            pids += [e.pid for e in pool.poll(0.1) if e.kind is EventKind.HELLO]
            if len(pids) == 2:
                break
        assert len(pids) == 2 and pids[0] != pids[1]
    finally:
        pool.shutdown()
