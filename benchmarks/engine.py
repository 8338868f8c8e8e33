"""Engine benchmark (issues 2 and 5): tubingen x starry_night, all measured in one run.

  evals        seconds per evaluation: (a) the seed tutorial, (b) the bare VGG19 floor
               (forward to relu5_1 + input-gradient backward), (c) this engine; fp32,
               channels_last and bf16
  converge     reference = this engine single-scale, fp32, L-BFGS, N evaluations; its final
               full-size fp32 loss is the target. Default configuration (multi-scale, auto
               precision): wall time until its full-size fp32 loss <= target / reference
               wall time (goal <= 0.25). Saves both outputs side by side as a PNG.
  converge1024 the same at 1024 px with a reduced reference budget (stated in the output)
  memory       peak memory at 512, 1024 and 2048 px, each in a fresh process

    .venv/bin/python -m benchmarks.engine --quick    # a few minutes, smaller sizes
    .venv/bin/python -m benchmarks.engine --full     # everything (~1.5 h on 2 cores)

The CPU may be shared: every per-evaluation timing is the minimum over repeats, and the
load average is recorded next to each wall-time figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch import images
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.precision import backend_flags, device_precision
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.weights import load_weights

from benchmarks.support import lbfgs_ab, report, seed_tutorial

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
MODES = ("fp32", "channels_last", "bf16")
CPU = torch.device("cpu")


def load_inputs(size: int):
    photo = images.to_tensor(images.load_image(PHOTO, max_side=size * 2))
    style = images.to_tensor(images.load_image(STYLE, max_side=size * 2))
    return photo, style


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# --- per-evaluation timings ------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_floor(weights, content: torch.Tensor, mode: str, reps: int,
               device: torch.device = CPU) -> float:
    """(b) torchvision VGG19 features to relu5_1: forward + input-gradient backward."""
    net = seed_tutorial.vgg19_features(weights.conv)[:30].requires_grad_(False).to(device)
    x = content.clone().to(device)
    if mode == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    best = float("inf")
    with backend_flags("tf32" if mode == "tf32" else "fp32", device):
        for _ in range(reps + 1):  # the first call builds oneDNN / cuDNN plans
            _sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
                out = net(x)
            out.float().sum().backward()
            _sync(device)
            best = min(best, time.perf_counter() - t0)
            x.grad = None
    return best


def time_tutorial(weights, content, style, reps: int, steps: int,
                  device: torch.device = CPU) -> float:
    """(a) the seed algorithm: seconds per closure evaluation."""
    cnn = seed_tutorial.vgg19_features(weights.conv).to(device)
    content, style = content.to(device), style.to(device)
    style = torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bicubic",
                                            antialias=True).clamp(0, 1)
    best = float("inf")
    for _ in range(reps):
        _, evals, seconds = seed_tutorial.run_style_transfer(cnn, content, style,
                                                             content.clone(), num_steps=steps)
        best = min(best, seconds / evals)
    return best


def time_engine(weights, photo, style, size, mode: str, steps: int,
                device: torch.device = CPU) -> dict:
    """(c) this engine, single scale: per-evaluation gaps between callbacks (min, median;
    each callback reads the loss as a float, which waits for the device)."""
    # CPU: NHWC for every mode but plain fp32 (as the engine picks); CUDA: NHWC only when
    # asked for, else the engine's own choice for the precision
    layout = mode != "fp32" if device.type == "cpu" else \
        {"channels_last": True, "fp32": False}.get(mode)
    engine = StyleTransfer(weights.conv, weights.preprocessing, device, channels_last=layout)
    stamps = []
    params = RenderParams(size=size, steps=steps, scales=(1.0,), log_every=1,
                          precision=mode if mode in ("bf16", "tf32") else "fp32")
    engine.render(photo, [StyleInput(style)], params,
                  callback=lambda losses, total: stamps.append(time.perf_counter()))
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    return {"min": gaps[0], "median": gaps[len(gaps) // 2]}


def bench_evals(weights, sizes, bf16_size: int, reps: int, steps: int,
                device: torch.device = CPU) -> list[dict]:
    # Without native bf16 (no AVX512-BF16/AMX) bf16 runs ~100x slower: time it small only.
    fast_bf16 = device_precision("auto", device) == "bf16"
    modes = MODES + (("tf32",) if device.type == "cuda" else ())
    rows = []
    for size in sorted(set(sizes) | {bf16_size}):
        photo, style = load_inputs(size)
        content = resize_long_side(photo, size)
        row = {"size": size, "shape": list(content.shape[-2:]), "loadavg": loadavg(),
               "device": str(device)}
        if size in sizes:
            row["tutorial"] = time_tutorial(weights, content, style, reps, steps, device)
        for mode in modes if size == bf16_size or fast_bf16 else MODES[:2]:
            slow = mode == "bf16" and not fast_bf16
            row[f"floor_{mode}"] = time_floor(weights, content, mode, 1 if slow else reps,
                                              device)
            eng = time_engine(weights, photo, style, size, mode, 3 if slow else steps, device)
            row[f"engine_{mode}"], row[f"engine_{mode}_median"] = eng["min"], eng["median"]
        print("evals", json.dumps(row), flush=True)
        rows.append(row)
    return rows


# --- convergence: time to the reference's loss ------------------------------------------


# Loss levels, as multiples of the target, at which every configuration's time is reported.
TOLERANCES = (2.0, 1.5, 1.2, 1.1, 1.05, 1.02, 1.0)


class _Reached(Exception):
    pass


def run_traced(engine, photo, style, params, stop_below: float | None = None) -> dict:
    """Render with a (seconds, step, scale, size, loss) row per evaluation; with stop_below,
    stop at the first full-size loss at or below it (result is then None)."""
    t0 = time.perf_counter()
    rows = []

    def on_step(losses, total):
        rows.append((time.perf_counter() - t0, losses.step, losses.scale, losses.size,
                     losses.total))
        if stop_below is not None and losses.size == params.size and \
                losses.total <= stop_below:
            raise _Reached

    load0 = loadavg()
    try:
        result = engine.render(photo, [StyleInput(style)], params, callback=on_step)
    except _Reached:
        result = None
    return {"result": result, "rows": rows, "loadavg": [load0, loadavg()],
            "precision": device_precision(params.precision, engine.device)}


def first_at(rows, level: float, size: int):
    """(seconds, evaluations) of the first full-size evaluation with loss <= level."""
    return next(((t, step) for t, step, _, s, loss in rows if s == size and loss <= level),
                None)


def full_size_equivalent(timings, upto_step: int, full_pixels: int) -> float:
    """Evaluations up to `upto_step`, each weighted by its stage's pixels / full pixels."""
    total, done = 0.0, 0
    for t in timings:
        n = min(t["evaluations"], max(0, upto_step - done))
        total += n * t["height"] * t["width"] / full_pixels
        done += t["evaluations"]
    return total


def tolerance_table(runs: dict, target: float, size: int, ref_seconds: float) -> list[dict]:
    """For each loss level (x target): each run's seconds to reach it, / reference time."""
    table = []
    for tol in TOLERANCES:
        row = {"tolerance": tol}
        for name, run in runs.items():
            hit = first_at(run["rows"], tol * target, size)
            row[name] = None if hit is None else {
                "seconds": round(hit[0], 2), "evaluations": hit[1],
                "ratio": round(hit[0] / ref_seconds, 4)}
        table.append(row)
    return table


def bench_converge(weights, size: int, ref_steps: int, default_steps: int,
                   out_dir: Path, tag: str, with_single: bool = True,
                   device: torch.device = CPU) -> dict:
    """Reference, the shipped default, the default's coarse stages followed by a full-size
    stage as long as the reference (stopped at the target), and single-scale auto precision
    (stopped at the target): each traced per evaluation."""
    photo, style = load_inputs(size)
    engine = StyleTransfer(weights.conv, weights.preprocessing, device)
    ref_params = RenderParams(size=size, steps=ref_steps, scales=(1.0,), precision="fp32",
                              optimizer="lbfgs", log_every=1)
    ref = run_traced(engine, photo, style, ref_params)
    target = ref["result"].final.total
    ref_seconds = ref["result"].seconds
    print(f"converge {tag}: reference {ref_steps} evals, {ref_seconds:.1f} s, "
          f"target loss {target:.6g}", flush=True)
    dflt_params = RenderParams(size=size, steps=default_steps, log_every=1)
    dflt = run_traced(engine, photo, style, dflt_params)
    res = dflt["result"]
    coarse = [t["evaluations"] for t in res.scale_timings[:-1]]
    longer_params = RenderParams(size=size, steps=sum(coarse) + ref_steps, log_every=1,
                                 scale_steps=(*coarse, ref_steps))
    longer = run_traced(engine, photo, style, longer_params, stop_below=target)
    print(f"converge {tag}: default continued: {len(longer['rows'])} evals, "
          f"{longer['rows'][-1][0]:.1f} s, last loss {longer['rows'][-1][4]:.6g}", flush=True)
    runs = {"reference": ref, "default": dflt, "default_continued": longer}
    if with_single:
        runs["single_scale_auto"] = run_traced(engine, photo, style, RenderParams(
            size=size, steps=ref_steps, scales=(1.0,), log_every=1), stop_below=target)
    if device.type == "cuda":  # TF32 keeps 10 mantissa bits to bf16's 7
        runs["single_scale_tf32"] = run_traced(engine, photo, style, RenderParams(
            size=size, steps=ref_steps, scales=(1.0,), log_every=1, precision="tf32"),
            stop_below=target)
    full_px = res.image.shape[-2] * res.image.shape[-1]
    reach = first_at(longer["rows"], target, size)
    ref_to_default = first_at(ref["rows"], res.final.total, size) or (None, None)
    longer_timings = [dict(t, evaluations=n) for t, n in
                      zip(res.scale_timings, (*coarse, ref_steps))]
    summary = {
        "size": size, "device": str(device), "reference_evaluations": ref_steps,
        "reference_seconds": ref_seconds, "target_loss": target,
        "reference_loadavg": ref["loadavg"],
        "default_params": {k: v for k, v in dflt_params.validated().to_dict().items()
                           if k in ("steps", "scales", "scale_steps", "precision",
                                    "optimizer", "lbfgs_history")},
        "default_precision": res.precision, "default_seconds": res.seconds,
        "default_final_loss": res.final.total, "default_loadavg": dflt["loadavg"],
        "default_scale_timings": res.scale_timings,
        "default_continued_scale_steps": [*coarse, ref_steps],
        "default_continued_loadavg": longer["loadavg"],
        "trace_precision_note": ("trace losses are fp32 full-size losses" if
                                 res.precision == "fp32" else
                                 "trace losses at the full size are at " + res.precision),
        "seconds_to_target": reach[0] if reach else None,
        "evaluations_to_target": reach[1] if reach else None,
        "ratio": reach[0] / ref_seconds if reach else None,
        "full_size_equivalent_evaluations_to_target":
            full_size_equivalent(longer_timings, reach[1], full_px) if reach else None,
        "reference_evaluations_to_default_final": ref_to_default[1],
        "reference_seconds_to_default_final": ref_to_default[0],
        "default_final_over_target": res.final.total / target,
        "default_seconds_over_reference": res.seconds / ref_seconds,
        "tolerances": tolerance_table(runs, target, size, ref_seconds),
        "runs": {name: {"precision": run["precision"], "evaluations": len(run["rows"]),
                        "seconds": round(run["rows"][-1][0], 2), "loadavg": run["loadavg"],
                        "last_loss": run["rows"][-1][4]}
                 for name, run in runs.items()},
    }
    for name in ("single_scale_auto", "single_scale_tf32"):
        hit = first_at(runs[name]["rows"], target, size) if name in runs else None
        summary[f"{name}_ratio"] = hit[0] / ref_seconds if hit else None
    summary["equivalent_ratio"] = (summary["full_size_equivalent_evaluations_to_target"]
                                   / ref_steps if reach else None)
    png = out_dir / f"{tag}-reference-vs-default.png"
    report.side_by_side(ref["result"].image, res.image, png,
                        (f"reference: 1 scale, fp32, {ref_steps} evals",
                         f"default: {len(res.scale_timings)} scales, {res.precision}, "
                         f"{res.evaluations} evals"))
    summary["image"] = str(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    print(f"converge {tag}:", json.dumps({k: v for k, v in summary.items()
                                          if k not in ("default_scale_timings", "tolerances")}),
          flush=True)
    return summary


# --- memory: one fresh process per size --------------------------------------------------


def memory_child(size: int, final_steps: int, device: str = "cpu") -> dict:
    weights = load_weights("bundled")
    photo, style = load_inputs(size)
    engine = StyleTransfer(weights.conv, weights.preprocessing, device)
    params = RenderParams(size=size, steps=2 + final_steps, scale_steps=(1, 1, final_steps))
    res = engine.render(photo, [StyleInput(style)], params)
    p = params.validated()
    numel = 3 * res.image.shape[-2] * res.image.shape[-1]
    filled = min(p.lbfgs_history, max(0, final_steps - 1))
    missing = (p.lbfgs_history - filled) * 2 * numel * 4 if p.optimizer == "lbfgs" else 0
    return {"size": size, "shape": list(res.image.shape[-2:]), "precision": res.precision,
            "final_stage_evaluations": final_steps,
            "peak_memory_bytes": res.peak_memory_bytes,
            "peak_memory_method": res.peak_memory_method,
            "process_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "estimate_bytes": res.memory_estimate_bytes,
            "lbfgs_history": p.lbfgs_history,
            "lbfgs_history_missing_bytes": missing,
            "projected_full_history_peak_bytes": res.peak_memory_bytes + missing,
            "seconds": res.seconds, "scale_timings": res.scale_timings}


def bench_memory(sizes, final_steps: int, device: torch.device = CPU) -> list[dict]:
    rows = []
    for size in sizes:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.engine", "--memory-child",
                               str(size), str(final_steps), "--device", str(device)],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            rows.append({"size": size, "error": proc.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print("memory", json.dumps({k: v for k, v in rows[-1].items()
                                    if k != "scale_timings"}), flush=True)
    return rows


# --- main -----------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, short runs (default)")
    mode.add_argument("--full", action="store_true", help="everything the issues ask for")
    ap.add_argument("--sections", default="evals,solver,converge,converge1024,memory")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--ref-steps", type=int, help="reference evaluations (full: 500)")
    ap.add_argument("--ref1024-steps", type=int, default=100,
                    help="reference evaluations at 1024 px (full run only)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other sections of an existing results file")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(*args.memory_child, device=args.device)))
        return 0
    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device(args.device)
    full = args.full
    sections = set(args.sections.split(","))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = load_weights("bundled")
    results = {"meta": {
        "mode": "full" if full else "quick", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else
        platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "weights": weights.id, "inputs": [str(PHOTO.relative_to(ROOT)),
                                          str(STYLE.relative_to(ROOT))],
        "seed_baseline": seed_tutorial.WEIGHTS_NOTE}}
    name = ("engine" if full else "engine-quick") + ("-cuda" if device.type == "cuda" else "")
    previous = out_dir / f"{name}.json"
    if args.merge and previous.exists():  # re-run some sections, keep the rest
        kept = json.loads(previous.read_text())
        results = {**kept, "meta": {**results["meta"],
                                    "earlier_sections_from": kept["meta"].get("started")}}
    if "evals" in sections:
        gpu = device.type == "cuda"
        results["evals"] = bench_evals(weights, ((512, 1024) if gpu else (256, 512)) if full
                                       else (256,), 128 if full else 64,
                                       reps=(10 if gpu else 3) if full else 2,
                                       steps=(40 if gpu else 12) if full else 6,
                                       device=device)
    if "solver" in sections:
        results["solver"] = lbfgs_ab.bench_solver(
            weights, load_inputs, (128, 512, 1024) if full else (64, 128),
            100 if full else 20, device)
    if "converge" in sections:
        size = 512 if full else 256
        results["converge"] = bench_converge(weights, size, args.ref_steps or
                                             (500 if full else 150), 300, out_dir,
                                             f"{name}-{size}", device=device)
    if "converge1024" in sections and full:
        results["converge_1024"] = bench_converge(weights, 1024, args.ref1024_steps, 300,
                                                  out_dir, f"{name}-1024",
                                                  with_single=device.type == "cuda",
                                                  device=device)
    if "memory" in sections:
        results["memory"] = bench_memory((512, 1024, 2048) if full else (256, 512),
                                         final_steps=4 if full else 3, device=device)
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / f"{name}.md").write_text(report.markdown(results))
    print(f"wrote {out_dir / (name + '.json')} and {out_dir / (name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
