"""Pool throughput in one run: 8 jobs with one style on 1 CPU worker vs 2 CPU workers,
and what a style-cache hit saves.

    .venv/bin/python -m benchmarks.pool [--size 192 --steps 30 --jobs 8]

1 worker uses all cores (torch threads = cores); 2 workers split them. Timing starts when
every worker has said hello (weights not yet loaded: that is part of the first job).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch.engine import RenderParams
from deepart_batch.core.jobspec import JobSpec, StyleRef
from deepart_batch.pool import DevicePool, EventKind, PoolJob, plan_workers

PHOTOS = [ROOT / "examples" / "photos" / n for n in ("tubingen.jpg", "golden_gate.jpg")]
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def run(devices: list[str], n_jobs: int, params: RenderParams) -> dict:
    pool = DevicePool(plan_workers(devices))
    pool.start()
    while not pool.all_ready():
        pool.poll(0.2)
    spec = JobSpec(content="", input="", styles=(StyleRef("starry", str(STYLE), 1.0),),
                   params=params, output_format="JPEG", quality=90)
    queue = [PoolJob(i, 1, spec.with_files(str(PHOTOS[i % 2]), [str(STYLE)]), "starry")
             for i in range(n_jobs)]
    done, t0 = [], time.perf_counter()
    while len(done) < n_jobs:
        for slot in pool.slots():
            if slot.idle and queue:
                pool.assign(slot.id, queue.pop(0))
        for ev in pool.poll(0.1):
            if ev.kind is EventKind.DONE:
                done.append(ev.report)
            elif ev.kind in (EventKind.FAILED, EventKind.CRASHED, EventKind.TIMEOUT):
                raise SystemExit(f"job {ev.job_id} {ev.kind}: {ev}")
    wall = time.perf_counter() - t0
    pool.shutdown()
    t = [r.timings for r in done]   # RenderReport (report.py)
    miss = [x["style_targets_seconds"] for x in t if x["style_cache_hits"] == 0]
    hit = [x["style_targets_seconds"] for x in t if x["style_cache_hits"] > 0]
    return {"workers": len(devices), "wall": wall, "jobs_per_min": n_jobs / wall * 60,
            "render_mean": statistics.mean(x["render_seconds"] for x in t),
            "targets_miss": statistics.mean(miss) if miss else None,
            "targets_hit": statistics.mean(hit) if hit else None, "misses": len(miss)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    params = RenderParams(size=args.size, steps=args.steps)
    one = run(["cpu"], args.jobs, params)
    two = run(["cpu", "cpu"], args.jobs, params)
    for r in (one, two):
        print(f"{r['workers']} worker(s): {r['wall']:.1f} s for {args.jobs} jobs "
              f"({r['jobs_per_min']:.2f} jobs/min), mean render {r['render_mean']:.2f} s, "
              f"style targets miss {r['targets_miss']:.3f} s x{r['misses']}, hit "
              f"{(r['targets_hit'] or 0):.4f} s")
    print(f"throughput 2 workers / 1 worker: {one['wall'] / two['wall']:.2f}x")
    job = one["wall"] / args.jobs
    print(f"style cache hit saves {one['targets_miss'] - (one['targets_hit'] or 0):.3f} s per job "
          f"({(one['targets_miss'] - (one['targets_hit'] or 0)) / job * 100:.1f} % of a job)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
