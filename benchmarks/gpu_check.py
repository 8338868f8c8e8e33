"""The GPU render-loop check, in one run (< 8 minutes on an H100): the floor, the render loop
before and after, the daemon's throughput, a profile, and the CUDA tests.

    python -m benchmarks.gpu_check --out DIR                       # on a GPU
    python -m benchmarks.gpu_check --out DIR --device cpu --dry    # tiny sizes, to try it

floor    one evaluation's bare work: the engine's VGG19 trunk to relu5_1 (channels_last),
         five fp32 Grams, forward + input-gradient backward, cudnn.benchmark on; eager and
         replayed as a CUDA graph; batch 1 (and 2, 4 per image at the largest size)
render   seconds per evaluation inside a single-scale render (log_every 100: the time
         between the 100th and the last evaluation), old loop (eager steps, the two-loop
         L-BFGS oracle from tests/support/lbfgs_oracle.py), new loop and the new loop with
         the masked solver, alternating; host reads and launches counted
profile  torch.profiler over 30 evaluations of the new loop at the largest size
daemon   deepart-batch run --once on 8 distinct photos at the daemon size, default
         300 evaluations, jobs_per_device 1, 2, 4; wall time
         including worker start-up, and the span from the first render's start to the
         last one's end
tests    pytest on the CUDA tests, the render-loop and solver tests

Each section appends to DIR/gpu_check.json and DIR/gpu_check.md as it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch import images
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.graphs import CudaGraphs, LoopOptions
from deepart_batch.engine.loopcount import LoopCounter
from deepart_batch.engine.losses import gram
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.engine.precision import backend_flags, forward_autocast
from deepart_batch.weights import load_weights
from tests.support.lbfgs_oracle import oracle_in_engine

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class Results:
    def __init__(self, out: Path):
        self.out, self.data, self.md = out, {}, []
        out.mkdir(parents=True, exist_ok=True)

    def add(self, section: str, value, lines: list[str]) -> None:
        self.data[section] = value
        self.md += lines + [""]
        (self.out / "gpu_check.json").write_text(json.dumps(self.data, indent=1, default=str))
        (self.out / "gpu_check.md").write_text("\n".join(self.md))
        print("\n".join(lines), flush=True)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, device, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


# --- floor ------------------------------------------------------------------------------


def floor_ms(engine: StyleTransfer, photo, size: int, precision: str, batch: int, device,
             reps: int) -> dict:
    enc = engine.encoder(STYLE_LAYERS, "max", True)
    content = resize_long_side(photo, size).to(device)
    x = content.repeat(batch, 1, 1, 1).requires_grad_(True)

    def body():
        with torch.enable_grad():
            with forward_autocast(precision, device, cache=False):
                feats = enc(x, STYLE_LAYERS)
            total = sum(gram(f[i:i + 1]).sum() for f in feats.values() for i in range(batch))
            torch.autograd.grad(total, x)

    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        with backend_flags(precision, device):
            row = {"size": size, "shape": list(content.shape[-2:]), "precision": precision,
                   "batch": batch, "eager_ms": median_ms(body, device, reps) / batch}
            if device.type == "cuda":
                replay = CudaGraphs().capture(body, device, warmup=3)
                row["graph_ms"] = median_ms(replay, device, reps) / batch
    finally:
        torch.backends.cudnn.benchmark = old
    return row


def section_floor(res, engine, photo, sizes, device, reps):
    rows = []
    for size in sizes:
        for precision in (("bf16", "tf32") if device.type == "cuda" else ("fp32",)):
            rows.append(floor_ms(engine, photo, size, precision, 1, device, reps))
    for batch in (2, 4):
        rows.append(floor_ms(engine, photo, sizes[-1], "bf16" if device.type == "cuda"
                             else "fp32", batch, device, max(3, reps // 2)))
    lines = ["## Floor (ms per image per evaluation, median)", "",
             "| size | precision | batch | eager | CUDA graph |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} ({r['shape'][0]}x{r['shape'][1]}) | {r['precision']} | "
                     f"{r['batch']} | {r['eager_ms']:.2f} | "
                     f"{r.get('graph_ms', float('nan')):.2f} |")
    res.add("floor", rows, lines)
    return rows


# --- render loop --------------------------------------------------------------------------


# The loop before the CUDA-graph loop: eager steps, cuDNN's default, the two-loop L-BFGS oracle.
BEFORE = LoopOptions(cuda_graphs=False, cudnn_benchmark=False)
MASKED = LoopOptions(solver="masked")  # the fixed-shape solver, graphs as the new loop


def render_loop(weights, photo, style, size, precision, steps, loop, device, count=False):
    """One single-scale render timed per evaluation; the BEFORE loop runs the oracle."""
    before = loop == BEFORE
    engine = StyleTransfer(weights.conv, weights.preprocessing, device, loop=loop)
    log_every = max(1, steps // 10)
    p = RenderParams(size=size, steps=steps, scales=(1.0,), precision=precision,
                     log_every=log_every)
    stamps = []
    counter = LoopCounter() if count else None
    if counter:
        counter.__enter__()
    try:
        with oracle_in_engine() if before else contextlib.nullcontext():
            result = engine.render(photo, [StyleInput(style)], p,
                                   callback=lambda losses, total: stamps.append(
                                       (losses.step, time.perf_counter())))
    finally:
        if counter:
            counter.__exit__(None, None, None)
    (s0, t0), (s1, t1) = stamps[0], stamps[-1]
    row = {"size": size, "precision": result.precision,
           "loop": "two_loop" if before else loop.solver,
           "graphs": result.loop["steps"], "evaluations": result.evaluations,
           "in_loop_ms": (t1 - t0) / (s1 - s0) * 1e3,
           "render_ms_per_eval": result.seconds / result.evaluations * 1e3,
           "final_loss": result.final.total}
    if counter:
        row.update({k: v / result.evaluations for k, v in counter.counts.items()})
    return row


def section_render(res, weights, photo, style, sizes, steps, device, floor_rows):
    precisions = ("bf16", "tf32") if device.type == "cuda" else ("fp32",)
    cases = [(size, precisions[0]) for size in sizes] + [(sizes[0], p) for p in precisions[1:]]
    rows = []
    for size, precision in cases:
        for loop in (BEFORE, LoopOptions(), MASKED, BEFORE, LoopOptions(), MASKED):
            rows.append(render_loop(weights, photo, style, size, precision, steps, loop,
                                    device))
    counted = [render_loop(weights, photo, style, sizes[0], precisions[0], min(60, 3 * steps),
                           loop, device,
                           count=True) for loop in (BEFORE, LoopOptions(), MASKED)]
    floors = {(r["size"], r["precision"]): r for r in floor_rows if r["batch"] == 1}
    lines = ["## Seconds per evaluation inside a render (single scale, "
             f"{steps} evaluations; min of two runs, alternating old/new)", "",
             "| size | precision | old loop ms | new loop ms | old / new | new / eager floor "
             "| new / graph floor | masked solver ms | final loss old / new / masked |",
             "|---|---|---|---|---|---|---|---|---|"]
    summary = []
    for size, precision in cases:
        sel = [r for r in rows if r["size"] == size and r["precision"] == precision]
        old = min(r["in_loop_ms"] for r in sel if r["loop"] == "two_loop")
        new = min(r["in_loop_ms"] for r in sel if r["loop"] == "compact")
        fl = floors.get((size, precision), {})
        eager, graph = fl.get("eager_ms", float("nan")), fl.get("graph_ms", float("nan"))
        lo = [r["final_loss"] for r in sel if r["loop"] == "two_loop"][0]
        ln = [r["final_loss"] for r in sel if r["loop"] == "compact"][0]
        masked = min(r["in_loop_ms"] for r in sel if r["loop"] == "masked")
        lm = [r["final_loss"] for r in sel if r["loop"] == "masked"][0]
        summary.append({"size": size, "precision": precision, "old_ms": old, "new_ms": new,
                        "new_over_eager_floor": new / eager, "old_over_eager_floor": old / eager,
                        "new_over_graph_floor": new / graph, "masked_ms": masked})
        lines.append(f"| {size} | {precision} | {old:.2f} | {new:.2f} | {old / new:.2f} | "
                     f"{new / eager:.2f} (old {old / eager:.2f}) | {new / graph:.2f} | "
                     f"{masked:.2f} | {lo:.4g} / {ln:.4g} / {lm:.4g} |")
    lines += ["", f"Counted over a {counted[0]['evaluations']}-evaluation render at {sizes[0]} px"
              " (per evaluation, "
              "render set-up included): host reads (each a device sync) and compute ops "
              "(each an eager kernel launch; a graph replay dispatches none)", "",
              "| loop | host reads | ops launched from Python | graphs |", "|---|---|---|---|"]
    for r in counted:
        lines.append(f"| {r['loop']} | {r.get('host_reads', 0):.2f} | "
                     f"{r.get('launches', 0):.1f} | {r['graphs']} |")
    res.add("render", {"runs": rows, "summary": summary, "counted": counted}, lines)


def section_benchmark(res, weights, photo, style, sizes, device):
    """cudnn.benchmark on or off under the new loop: seconds per evaluation in a render
    (after each shape's first render in this process) and each configuration's first render
    at a shape (autotuning and capture included)."""
    rows = []
    for size in sizes:
        for _ in range(2):
            for loop in (LoopOptions(cudnn_benchmark=False), LoopOptions(cudnn_benchmark=True)):
                engine = StyleTransfer(weights.conv, weights.preprocessing, device, loop=loop)
                p = RenderParams(size=size, steps=300, scales=(1.0,), log_every=30)
                stamps = []
                t0 = time.perf_counter()
                r = engine.render(photo, [StyleInput(style)], p, callback=lambda losses, total:
                                  stamps.append((losses.step, time.perf_counter())))
                (s0, a), (s1, b) = stamps[0], stamps[-1]
                rows.append({"size": size, "cudnn_benchmark": loop.cudnn_benchmark,
                             "render_s": time.perf_counter() - t0,
                             "in_loop_ms": (b - a) / (s1 - s0) * 1e3})
    lines = ["## cudnn.benchmark under the new loop (300-evaluation single-scale renders; "
             "first = the first render of that shape in this process, autotuning and "
             "capture included)", "",
             "| size | cudnn.benchmark | first render s | later render s | in-loop ms, later |",
             "|---|---|---|---|---|"]
    for size in sizes:
        for bench in (False, True):
            sel = [r for r in rows if r["size"] == size and r["cudnn_benchmark"] == bench]
            lines.append(f"| {size} | {bench} | {sel[0]['render_s']:.2f} | "
                         f"{sel[1]['render_s']:.2f} | {sel[1]['in_loop_ms']:.2f} |")
    res.add("benchmark", rows, lines)


# --- profile ------------------------------------------------------------------------------


def section_profile(res, weights, photo, style, size, device):
    from torch.profiler import ProfilerActivity, profile
    engine = StyleTransfer(weights.conv, weights.preprocessing, device, loop=LoopOptions())
    p = RenderParams(size=size, steps=30, scales=(1.0,), log_every=1000)
    engine.render(photo, [StyleInput(style)], p)  # capture and warm up
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        r = engine.render(photo, [StyleInput(style)], p)
    wall = time.perf_counter() - t0
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    table = events.table(sort_by=key, row_limit=30)
    (res.out / "profile.txt").write_text(table)
    busy = None
    if device.type == "cuda":  # as the table's footer sums it: self device time of all ops
        busy = sum(e.self_device_time_total for e in events) / 1e6 / wall
    res.add("profile", {"size": size, "wall_s": wall, "evaluations": r.evaluations,
                        "gpu_busy_fraction": busy},
            [f"## Profile, new loop, {size} px, {r.evaluations} evaluations + set-up",
             "", f"wall {wall:.2f} s under the profiler; GPU kernel time / wall: "
             f"{busy if busy is None else round(busy, 3)}; top kernels in profile.txt"])


# --- daemon -------------------------------------------------------------------------------


def make_inbox(root: Path, n: int, device: str, jpd: int, size: int, steps: int | None):
    inbox, styles = root / "inbox", root / "styles"
    inbox.mkdir(parents=True)
    styles.mkdir()
    (styles / "starry_night.jpg").write_bytes(STYLE.read_bytes())
    base = images.load_image(PHOTO)
    for i in range(n):  # distinct files (a changed pixel), so none is a duplicate
        img = base.copy()
        img.putpixel((i, i), (i * 17 % 256, 0, 255 - i))
        img.save(inbox / f"photo{i}.png")
    (root / "manifest.yaml").write_text(
        "styles:\n  starry: {image: starry_night.jpg}\nrules:\n  - match: '**'\n"
        "    outputs:\n      - {style: starry}\n")
    from tests.support.boxes import write_config
    defaults = {"size": size, **({"steps": steps} if steps else {})}
    return write_config(root / "config.yaml", {
        "inbox": str(inbox), "outbox": str(root / "outbox"), "state_dir": str(root / "state"),
        "styles_dir": str(styles), "manifest": str(root / "manifest.yaml"),
        "devices": [device], "jobs_per_device": jpd, "defaults": defaults})


def run_daemon(n, device, jpd, size, steps, fast_env: str = "fast") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = make_inbox(root, n, device, jpd, size, steps)
        env = {**os.environ, "DEEPART_RENDER_LOOP": fast_env}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "deepart_batch.cli", "run", "--once",
                               "--config", str(cfg)], capture_output=True, text=True, env=env,
                              timeout=150)
        wall = time.perf_counter() - t0
        reports = [json.loads(p.read_text()) for p in (root / "outbox").rglob("*.json")]
    reports.sort(key=lambda r: r["timings"]["started"])
    renders = [r["timings"]["render_seconds"] for r in reports]
    starts = [datetime.fromisoformat(r["timings"]["started"]).timestamp() for r in reports]
    ends = [datetime.fromisoformat(r["timings"]["finished"]).timestamp() for r in reports]
    span = max(ends) - min(starts) if reports else float("nan")
    return {"jobs_per_device": jpd, "loop": fast_env,
            "rc": proc.returncode,
            "done": len(reports), "wall_s": wall, "span_s": span,
            "jobs_per_hour_wall": len(reports) / wall * 3600,
            "jobs_per_hour_span": len(reports) / span * 3600 if reports else 0,
            "render_mean_s": statistics.mean(renders) if renders else None,
            "loop_info": reports[0].get("loop") if reports else None,
            "jobs": [job_summary(r) for r in reports],
            "stderr_tail": proc.stderr[-600:] if proc.returncode else ""}


def job_summary(r: dict) -> dict:
    """Per job: where its time went (worker, render, stages with graph capture or reuse)."""
    t = r["timings"]
    return {"worker": r.get("job", {}).get("worker"), "started": t["started"],
            "finished": t["finished"], "load_s": t.get("load_seconds"),
            "style_targets_s": t.get("style_targets_seconds"), "render_s": t["render_seconds"],
            "stages": [(s["size"], s["evaluations"], s["seconds"], s.get("graph") or s.get("reason"))
                       for s in t.get("scales", [])]}


def steady(r: dict) -> float | None:
    """Mean render seconds of the jobs that were not their worker's first."""
    seen, later = set(), []
    for job in r["jobs"]:
        if job["worker"] in seen:
            later.append(job["render_s"])
        seen.add(job["worker"])
    return statistics.mean(later) if later else None


def section_daemon(res, n, device, jpds, size, steps, fast_env="fast"):
    rows = [run_daemon(n, device, jpd, size, steps, fast_env) for jpd in jpds]
    lines = [f"## Daemon: run --once, {n} photos at {size} px, "
             f"{steps or RenderParams().steps} evaluations (default schedule, auto precision)",
             "", "| loop | jobs_per_device | done | wall s | jobs/hour (wall, start-up incl.) "
             "| jobs/hour (first start to last end) | mean render s | mean render s, "
             "later jobs of each worker |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        later = steady(r)
        lines.append(f"| {r['loop']} | {r['jobs_per_device']} | {r['done']}/{n} | "
                     f"{r['wall_s']:.1f} | {r['jobs_per_hour_wall']:.0f} | "
                     f"{r['jobs_per_hour_span']:.0f} | {r['render_mean_s'] or 0:.2f} | "
                     f"{later if later is None else round(later, 2)} |")
        if r["rc"]:
            lines.append(f"rc {r['rc']}: {r['stderr_tail']!r}")
    res.add("daemon", rows, lines)


def section_tests(res, tests):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-s", *tests], capture_output=True, text=True, cwd=ROOT, timeout=400)
    tail = proc.stdout[-2500:]
    (res.out / "tests.txt").write_text(proc.stdout + proc.stderr)
    res.add("tests", {"rc": proc.returncode, "seconds": time.perf_counter() - t0,
                      "tail": tail[-400:]},
            ["## Tests on this machine", "", f"`pytest {' '.join(tests)}`: rc {proc.returncode}"
             f" in {time.perf_counter() - t0:.0f} s", "", "```", tail[-1200:], "```"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dry", action="store_true", help="tiny sizes and budgets (CPU try-out)")
    ap.add_argument("--sections", default="floor,render,profile,daemon,tests")
    ap.add_argument("--jobs", type=int, help="daemon photos (default 8)")
    ap.add_argument("--jpds", help="daemon jobs_per_device values, e.g. 1,2,4")
    ap.add_argument("--daemon-loop", default="fast", help="DEEPART_RENDER_LOOP of the "
                    "daemon runs: fast or benchmark")
    ap.add_argument("--tests", help="comma-separated test files")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.dry:
        sizes, steps, reps, daemon = [32, 40], 10, 2, dict(n=2, jpds=[1, 2], size=32, steps=6)
    else:
        sizes, steps, reps, daemon = [512, 1024], 400, 30, dict(n=8, jpds=[1, 2, 4],
                                                                  size=1024, steps=None)
    if args.jobs:
        daemon["n"] = args.jobs
    if args.jpds:
        daemon["jpds"] = [int(v) for v in args.jpds.split(",")]
    res = Results(args.out)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    res.add("env", {"device": name, "torch": torch.__version__, "started": time.ctime()},
            [f"# GPU render loop check", "",
             f"{time.ctime()}; {name}; torch {torch.__version__}; python "
             f"{sys.version.split()[0]}; {os.cpu_count()} CPUs"])
    sections = args.sections.split(",")
    weights = load_weights()
    photo = images.to_tensor(images.load_image(PHOTO))
    style = images.to_tensor(images.load_image(STYLE))
    engine = StyleTransfer(weights.conv, weights.preprocessing, device)
    t_all = time.perf_counter()
    floor_rows: list = []
    tests = (args.tests.split(",") if args.tests else
             ["tests/engine/test_cuda_loop.py", "tests/engine/test_render_loop.py",
              "tests/engine/test_solver.py"])
    daemon_device = args.device if args.device != "cuda" else "cuda:0"
    steps_of = {
        "floor": lambda: floor_rows.extend(section_floor(res, engine, photo, sizes, device,
                                                         reps)),
        "render": lambda: section_render(res, weights, photo, style, sizes, steps, device,
                                         floor_rows),
        "benchmark": lambda: section_benchmark(res, weights, photo, style, sizes, device),
        "profile": lambda: section_profile(res, weights, photo, style, sizes[-1], device),
        "daemon": lambda: section_daemon(res, daemon["n"], daemon_device, daemon["jpds"],
                                         daemon["size"], daemon["steps"],
                                         fast_env=args.daemon_loop),
        "tests": lambda: section_tests(res, tests),
    }
    for name in sections:  # one failing section must not cost the others' numbers
        t0 = time.perf_counter()
        try:
            steps_of[name]()
        except Exception:
            res.add(f"{name}_error", traceback.format_exc(),
                    [f"## {name}: FAILED", "", "```", traceback.format_exc()[-1500:], "```"])
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", flush=True)
    res.add("end", {"seconds": time.perf_counter() - t_all},
            [f"All sections: {time.perf_counter() - t_all:.0f} s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
