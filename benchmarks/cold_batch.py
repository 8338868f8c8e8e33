"""A batch from cold against the steady state: `deepart-batch run --once` on N
distinct photos, the whole wall time from the command's start (daemon start, worker
spawn, torch import, CUDA context, weights, warming, every job) against the rate once
every worker has finished its first job.

    python -m benchmarks.cold_batch --device cuda:0 --jobs 16 --jpd auto --out F.json
    python -m benchmarks.cold_batch --device cpu --jobs 3 --size 32 --steps 4   # try-out

cold rate    N / wall seconds (what a nightly pass of a few dozen photos sees)
steady rate  jobs that started after every worker's first job ended / the seconds from
             that moment to the last job's end (0 when too few jobs for it)
Each worker's start-up parts come from its `ready ... after its spawn (...)` log line.
Appends one JSON line per run to --out and prints a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
READY = re.compile(r"worker (\S+) ready ([\d.]+) s after its spawn \((.*)\)")


def make_box(root: Path, n: int, device: str, jpd: str, size: int, steps: int | None,
             warm: str | None) -> Path:
    from PIL import Image
    inbox, styles = root / "inbox", root / "styles"
    for d in (inbox, styles, root / "outbox", root / "state"):
        d.mkdir(parents=True)
    (styles / "starry_night.jpg").write_bytes(STYLE.read_bytes())
    base = Image.open(PHOTO).convert("RGB")
    for i in range(n):  # distinct files (a changed pixel), so none is a duplicate
        img = base.copy()
        img.putpixel((i, i), (i * 17 % 256, 0, 255 - i % 256))
        img.save(inbox / f"photo{i}.png")
    (root / "manifest.yaml").write_text(
        "styles:\n  starry: {image: starry_night.jpg}\nrules:\n  - match: '**'\n"
        "    outputs:\n      - {style: starry}\n")
    defaults = f"  size: {size}\n" + (f"  steps: {steps}\n" if steps else "")
    executor = f"executor:\n  warm: {warm == 'on'}\n".lower() if warm else ""
    cfg = root / "config.yaml"
    cfg.write_text(f"inbox: {inbox}\noutbox: {root / 'outbox'}\nstate_dir: {root / 'state'}\n"
                   f"styles_dir: {styles}\nmanifest: {root / 'manifest.yaml'}\n"
                   f"devices: [{device}]\njobs_per_device: {jpd}\n{executor}"
                   f"defaults:\n{defaults}")
    return cfg


def stamp(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def run(n: int, device: str, jpd: str, size: int, steps: int | None, warm: str | None,
        timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = make_box(root, n, device, jpd, size, steps, warm)
        t0 = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", "run", "--once",
                                 "--config", str(cfg)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        stderr = ""
        try:   # a timeout or SIGTERM of this script never leaves the daemon on the device
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stderr = f"run --once passed --timeout {timeout} s: killed; the jobs done count"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.time() - t0
        reports = [json.loads(p.read_text()) for p in (root / "outbox").rglob("*.json")
                   if not p.name.endswith(".error.json")]
    jobs = sorted(({"worker": r["job"]["worker"], "start": stamp(r["timings"]["started"]),
                    "end": stamp(r["timings"]["finished"]),
                    "render_s": r["timings"]["render_seconds"],
                    "graphs": [s.get("graph") or s.get("reason") for s in
                               r["timings"].get("scales", [])]} for r in reports),
                  key=lambda j: j["start"])
    first_end: dict = {}
    for j in jobs:
        first_end.setdefault(j["worker"], j["end"])
    warm_at = max(first_end.values()) if first_end else float("nan")
    later = [j for j in jobs if j["start"] >= warm_at]
    span = (max(j["end"] for j in later) - warm_at) if later else 0.0
    steady = len(later) / span * 3600 if span > 0 else 0.0
    cold = len(jobs) / wall * 3600
    startups = [{"worker": m[1], "spawn_to_ready_s": float(m[2]), "parts": m[3]}
                for m in READY.finditer(stderr)]
    firsts = [j["render_s"] for j in jobs if first_end.get(j["worker"]) == j["end"]]
    return {"device": device, "jobs_per_device": jpd, "size": size, "steps": steps,
            "warm": warm, "rc": proc.returncode, "done": len(jobs), "wall_s": round(wall, 2),
            "first_start_after_s": round(jobs[0]["start"] - t0, 2) if jobs else None,
            "cold_jobs_per_hour": round(cold), "steady_jobs_per_hour": round(steady),
            "steady_jobs": len(later),
            "cold_over_steady": round(cold / steady, 3) if steady else None,
            "first_job_render_s": firsts,
            "later_job_render_s_mean": round(sum(j["render_s"] for j in later) / len(later), 3)
            if later else None,
            "worker_startup": startups, "jobs": jobs,
            "stderr_tail": stderr[-1500:] if proc.returncode else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--jpd", default="auto", help="jobs_per_device: 1, 2, ... or auto")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=None, help="default: the engine's (300)")
    ap.add_argument("--warm", choices=("on", "off"), default=None,
                    help="executor.warm (default: unset, i.e. on CUDA only)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # runs the cleanup above
    r = run(a.jobs, a.device, a.jpd, a.size, a.steps, a.warm, a.timeout)
    print(json.dumps({k: v for k, v in r.items() if k != "jobs"}), flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as fh:
            fh.write(json.dumps(r) + "\n")
    return 0 if r["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
