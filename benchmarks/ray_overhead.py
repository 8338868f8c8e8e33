"""What the Ray path costs over the local pool, in one run on this box (loopback only).

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 .venv/bin/python -m benchmarks.ray_overhead \
        [--repeats 3 --jobs 8 --size 128 --steps 10]

1. Per-job overhead (dispatch + transfer): one job at a time, warm slots (weights loaded,
   style targets cached), 1 step at one scale so the render itself is short. Overhead =
   wall time from `assign` to the DONE event in the daemon, minus the worker's own time
   from its report (started -> finished of the render). The rest is what each path adds:
   pipe or object store, pickling, JPEG bytes back, the daemon's poll. At 256 and 1024 px.
2. Throughput: 8 jobs on two Ray nodes of 1 CPU each (one CPU actor each) against one
   local worker with 2 torch threads: the same total cores. Jobs per hour from the wall
   time of the whole batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # everything on 127.0.0.1
ROOT = Path(__file__).resolve().parent.parent

from ray.cluster_utils import Cluster

from deepart_batch.engine import RenderParams
from deepart_batch.core.jobspec import JobSpec, StyleRef
from deepart_batch.pool import DevicePool, EventKind, PoolJob, plan_workers
from deepart_batch.pool.ray_executor import RayExecutor

PHOTOS = [ROOT / "examples" / "photos" / n for n in ("tubingen.jpg", "golden_gate.jpg")]
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def _spec(photo: Path, params: RenderParams) -> JobSpec:
    return JobSpec(content=str(photo), input=photo.name, params=params,
                   output_format="JPEG", styles=(StyleRef("starry", str(STYLE), 1.0),))


def _ready(executor) -> None:
    executor.start()
    while not executor.all_ready():
        executor.poll(0.2)


def _run(executor, jobs: list[PoolJob]) -> list[tuple[float, object]]:
    """Feed idle slots until every job is done; (seconds from assign to DONE, report)."""
    queue, started, out = list(jobs), {}, []
    while len(out) < len(jobs):
        for slot in executor.slots():
            if slot.idle and queue:
                job = queue.pop(0)
                started[job.job_id] = time.perf_counter()
                executor.assign(slot.id, job)
        for ev in executor.poll(0.05):
            if ev.kind is EventKind.DONE:
                out.append((time.perf_counter() - started[ev.job_id], ev.report))
            elif ev.kind not in (EventKind.PROGRESS, EventKind.EVENT):
                raise SystemExit(f"job {ev.job_id} {ev.kind}: {ev}")
    return out


def _worker_seconds(report) -> float:
    t = report.timings   # a RenderReport (report.py)
    return (datetime.fromisoformat(t["finished"]) - datetime.fromisoformat(t["started"])
            ).total_seconds()


def overhead(executor, size: int, repeats: int, ids) -> dict:
    params = RenderParams(size=size, steps=1, scales=(1.0,))
    _run(executor, [PoolJob(next(ids), 1, _spec(PHOTOS[0], params), "starry")])   # warm
    rows = []
    for i in range(repeats):   # one at a time: nothing queues behind anything
        ((wall, report),) = _run(executor, [PoolJob(next(ids), 1,
                                                    _spec(PHOTOS[i % 2], params), "starry")])
        rows.append((wall - _worker_seconds(report)) * 1000)
        print(f"  {executor.kind} {size} px job {i + 1}: assign->done {wall * 1000:.0f} ms, "
              f"worker {_worker_seconds(report) * 1000:.0f} ms, overhead {rows[-1]:.1f} ms",
              flush=True)
    return {"median_ms": statistics.median(rows), "min_ms": min(rows), "max_ms": max(rows)}


def throughput(executor, n_jobs: int, params: RenderParams, ids) -> dict:
    _run(executor, [PoolJob(next(ids), 1, _spec(PHOTOS[0], params), "starry")
                    for _ in range(len(executor.slots()))])   # every slot warm
    t0 = time.perf_counter()
    done = _run(executor, [PoolJob(next(ids), 1, _spec(PHOTOS[i % 2], params), "starry")
                           for i in range(n_jobs)])
    wall = time.perf_counter() - t0
    print(f"  {executor.kind} throughput: {n_jobs} jobs in {wall:.1f} s", flush=True)
    return {"wall_s": wall, "jobs_per_hour": n_jobs / wall * 3600,
            "nodes": sorted({r["job"]["node"] for _, r in done})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--throughput-only", action="store_true",
                    help="skip the overhead part; run the Ray half first (to pair with a "
                         "full run, which runs the local half first, on a box whose load drifts)")
    args = ap.parse_args()
    ids = iter(range(1, 10**6))
    params = RenderParams(size=args.size, steps=args.steps)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray_ex = RayExecutor(cluster.address, cpu_actors_per_node=1, cpus_per_actor=1,
                         discover_seconds=3600)
    local = DevicePool(plan_workers(["cpu"], cpu_count=2))   # 1 worker, 2 threads
    results = {}
    sizes = () if args.throughput_only else (256, 1024)
    halves = [("local", local), ("ray", ray_ex)]
    try:
        for name, executor in (halves[::-1] if args.throughput_only else halves):
            _ready(executor)
            for size in sizes:
                results[(name, size)] = overhead(executor, size, args.repeats, ids)
            results[(name, "tp")] = throughput(executor, args.jobs, params, ids)
            executor.shutdown()
    finally:
        local.shutdown()
        ray_ex.shutdown()
        cluster.shutdown()

    print(f"per-job overhead (assign -> DONE minus the worker's render span), "
          f"median of {args.repeats}, 1 step:")
    for size in sizes:
        lo, ra = results[("local", size)], results[("ray", size)]
        print(f"  {size:>4} px: local {lo['median_ms']:7.1f} ms (min {lo['min_ms']:.1f}, max "
              f"{lo['max_ms']:.1f}); ray {ra['median_ms']:7.1f} ms (min {ra['min_ms']:.1f}, "
              f"max {ra['max_ms']:.1f}); ray - local {ra['median_ms'] - lo['median_ms']:+.1f} ms")
    lo, ra = results[("local", "tp")], results[("ray", "tp")]
    print(f"throughput, {args.jobs} jobs at {args.size} px, {args.steps} steps, 2 cores in all:")
    print(f"  local, 1 worker x 2 threads: {lo['wall_s']:.1f} s, {lo['jobs_per_hour']:.0f} jobs/h")
    print(f"  ray, 2 nodes x 1 CPU actor:  {ra['wall_s']:.1f} s, {ra['jobs_per_hour']:.0f} jobs/h "
          f"(nodes used: {len(ra['nodes'])})")
    print(f"  ray / local: {ra['jobs_per_hour'] / lo['jobs_per_hour']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
