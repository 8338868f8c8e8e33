"""Device pool: real spawned workers on the CPU, injected device lists and injected faults."""

import json
import time

from support.boxes import Box, stop, wait_for
from deepart_batch.pool import DevicePool, FairScheduler, plan_workers
from deepart_batch.pool.scheduler import Candidate


def _reports(box):
    return [json.loads(p.read_text()) for p in sorted(box.outbox.rglob("*.json"))
            if not p.name.endswith(".error.json")]


def test_two_cpu_workers_share_four_jobs(tmp_path):
    box = Box(tmp_path, devices=["cpu", "cpu"], defaults={"steps": 12})
    for i, src in enumerate(["tubingen.jpg", "golden_gate.jpg", "the_scream.jpg", "starry_night.jpg"]):
        box.drop(src, f"p{i}.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    reports = _reports(box)
    assert len(reports) == 4
    assert {r["job"]["worker"] for r in reports} == {"cpu#0", "cpu#1"}
    assert "CUDA_VISIBLE_DEVICES=''" in res.stderr   # CPU workers are hidden from any GPU


def test_injected_oom_takes_the_retry_path(tmp_path):
    box = Box(tmp_path, defaults={"size": 96})
    box.drop("tubingen.jpg", "oom.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "oom"})
    assert res.returncode == 0, res.stderr[-2000:]
    (report,) = _reports(box)
    (event,) = report["events"]
    assert event["event"] == "oom" and event["size"] == 96 and event["action"] == "retry at 72px"
    assert report["params"]["size"] == 72 and report["output"]["width"] == 72


def test_oom_with_fail_policy_fails_with_reason(tmp_path):
    box = Box(tmp_path, on_oom="fail")
    box.drop("tubingen.jpg", "oom.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "oom"})
    assert res.returncode == 1
    error = json.loads((box.state / "failed/oom.jpg.error.json").read_text())
    assert error["reason"] == "oom" and "out of memory" in error["error"]


def test_killed_worker_job_completes_on_retry_without_duplicates(tmp_path):
    box = Box(tmp_path, defaults={"steps": 6})
    box.drop("tubingen.jpg", "crash.jpg")
    box.drop("golden_gate.jpg", "fine.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "crash@1:crash"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert box.outputs() == ["crash.scream.jpg", "fine.scream.jpg"]
    by_input = {r["job"]["input"]: r for r in _reports(box)}
    assert by_input["crash.jpg"]["job"]["attempt"] == 2
    assert by_input["fine.jpg"]["job"]["attempt"] == 1
    assert "died (exit code 70)" in res.stderr and "queued again" in res.stderr
    assert box.temp_files() == []


def test_hung_job_times_out_then_fails_after_max_attempts(tmp_path):
    box = Box(tmp_path, job_timeout=20, max_attempts=2)   # room for ok.jpg on a busy box
    box.drop("tubingen.jpg", "hang.jpg")
    box.drop("golden_gate.jpg", "ok.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "hang:hang"})
    assert res.returncode == 1
    assert box.outputs() == ["ok.scream.jpg"]
    error = json.loads((box.state / "failed/hang.jpg.error.json").read_text())
    assert error["reason"] == "timeout"
    assert "job_timeout" in error["error"] and "after 2 attempt(s)" in error["error"]
    assert res.stderr.count("passed job_timeout") == 2


def test_fake_four_gpu_box_pins_one_worker_per_gpu(monkeypatch):
    monkeypatch.setenv("DEEPART_FAKE_CUDA_COUNT", "4")   # only the count is stubbed
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    specs = plan_workers("auto", jobs_per_device=1)
    assert [(s.device, s.torch_device, s.env["CUDA_VISIBLE_DEVICES"]) for s in specs] == \
        [(f"cuda:{i}", "cuda:0", str(i)) for i in range(4)]
    pool = DevicePool(specs)
    pool.start()
    try:
        # ready = every worker said hello; a fake CUDA slot then warms before it is idle
        wait_for(lambda: [pool.poll(0.2)] and pool.all_ready()
                 and all(s.idle for s in pool.slots()), timeout=120, what="4 idle workers")
        seen = sorted((w.spec.device, w.info.cuda_visible_devices, w.info.torch_device)
                      for w in pool._workers)   # what each process said in its hello
        assert seen == [(f"cuda:{i}", str(i), "cuda:0") for i in range(4)]
        slots = pool.slots()                     # the public view the daemon gets
        assert [s.device for s in slots] == [f"cuda:{i}" for i in range(4)]
        assert all(s.idle and s.memory_bytes > 0 for s in slots)
        assert len({s.pid for s in slots}) == 4
    finally:
        pool.shutdown(grace=5)


def test_gpu_share_from_the_environment_is_respected(monkeypatch):
    # A box that gives this service GPUs 2 and 3 (CUDA_VISIBLE_DEVICES=2,3 in the unit):
    # torch sees 2 devices, and cuda:0 / cuda:1 must pin physical GPUs 2 / 3.
    specs = plan_workers("auto", cuda_count=2, visible="2,3")
    assert [(s.device, s.env["CUDA_VISIBLE_DEVICES"]) for s in specs] == \
        [("cuda:0", "2"), ("cuda:1", "3")]
    mig = plan_workers(["cuda:1"], cuda_count=2, visible="MIG-a, MIG-b")
    assert mig[0].env["CUDA_VISIBLE_DEVICES"] == "MIG-b"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")   # read from the daemon's environment
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in plan_workers("auto", cuda_count=2)] == \
        ["5", "7"]
    assert plan_workers(["cuda:1"], cuda_count=2, visible="")[0].env[
        "CUDA_VISIBLE_DEVICES"] == "1"


def test_cpu_workers_split_the_cores(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    specs = plan_workers(["cpu", "cpu"], jobs_per_device=2, cpu_count=16)
    assert [s.threads for s in specs] == [4, 4, 4, 4]
    assert plan_workers("auto", cuda_count=0, cpu_count=2)[0].threads == 2
    mixed = plan_workers(["cuda:1", "cpu"], cuda_count=2, cpu_count=8)
    assert [(s.id, s.env["CUDA_VISIBLE_DEVICES"]) for s in mixed] == [("cuda:1#0", "1"), ("cpu#0", "")]


def test_campaign_fairness_small_drop_is_not_stuck_behind_bulk():
    sched = FairScheduler()
    queue = [Candidate(i, "bulk", 0, "s") for i in range(1, 21)]
    queue += [Candidate(21, "urgent", 0, "s"), Candidate(22, "urgent", 0, "s")]
    order = []
    while queue:
        pick = sched.pick(queue)
        queue.remove(pick)
        order.append(pick.campaign)
    assert order.index("urgent") <= 1
    assert [i for i, c in enumerate(order) if c == "urgent"] == [1, 3]
    assert len(order) == 22


def test_priority_beats_fairness_and_affinity_breaks_ties():
    sched = FairScheduler()
    queue = [Candidate(1, "a", 0, "x"), Candidate(2, "b", 5, "x"), Candidate(3, "b", 5, "y")]
    assert sched.pick(queue).job_id == 2
    queue = [Candidate(1, "a", 0, "x"), Candidate(2, "a", 0, "y")]
    assert FairScheduler().pick(queue, cached_styles={"y"}).job_id == 2


def test_jobs_that_fit_no_device_are_refused_with_a_size_that_would():
    from dataclasses import replace

    from deepart_batch.core.jobspec import JobSpec
    from deepart_batch.daemon.schedule.planner import too_large
    from deepart_batch.engine import RenderParams
    spec = JobSpec(content="p.jpg", input="p.jpg", styles=(), output_format="JPEG",
                   params=RenderParams(size=2048), content_size=(4000, 3000))
    message = too_large(spec, capacity_bytes=2 * 2**30)
    assert message and "size 2048 needs about" in message and "would fit" in message
    fit = int(message.split("; size ")[1].split()[0])
    assert 256 < fit < 2048
    assert too_large(replace(spec, params=RenderParams(size=fit)), 2 * 2**30) is None
    assert too_large(spec, capacity_bytes=64 * 2**30) is None


def test_omp_num_threads_caps_each_cpu_worker_and_affinity_bounds_the_split(monkeypatch):
    import os
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    specs = plan_workers(["cpu", "cpu"], cpu_count=16)
    assert [(s.threads, s.env["OMP_NUM_THREADS"]) for s in specs] == [(3, "3"), (3, "3")]
    assert plan_workers(["cpu"], cpu_count=2)[0].threads == 2      # a cap, not a floor
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")                  # not a number: no cap
    assert plan_workers(["cpu"], cpu_count=8)[0].threads == 8
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert plan_workers(["cpu"])[0].threads == len(os.sched_getaffinity(0))


def test_jobs_per_device_auto_is_two_per_gpu_within_memory_one_on_the_cpu(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)     # no cap on the CPU worker
    from deepart_batch.pool.devices import AUTO_CUDA_JOBS, auto_jobs_per_device, job_memory_bytes
    from deepart_batch.engine import RenderParams
    need = job_memory_bytes(RenderParams(size=1024))
    assert auto_jobs_per_device("cpu", 64 << 30, need) == 1
    assert auto_jobs_per_device("cuda:0", 80 << 30, need) == AUTO_CUDA_JOBS == 2
    assert auto_jobs_per_device("cuda:0", int(need * 1.5), need) == 1   # two would not fit
    assert auto_jobs_per_device("cuda:0", need // 2, need) == 1         # never fewer than one
    specs = plan_workers(["cuda:0", "cuda:1", "cpu"], "auto", cuda_count=2, cpu_count=8,
                         job_bytes=need, cuda_memory=lambda i: (80 << 30) if i == 0 else need)
    assert [s.id for s in specs] == ["cuda:0#0", "cuda:0#1", "cuda:1#0", "cpu#0"]
    assert specs[-1].threads == 8
