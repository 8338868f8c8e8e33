"""How the daemon's own cost grows with a backlog: N tiny photos (32 px, 1 step) dropped at
once into a running `watch`.

    nice -n 10 python -m benchmarks.backlog [--sizes 500,5000,50000] [--real]
                                            [--real-sizes 500,5000] [--out DIR]

With the canned executor (tests/support/canned.py: every job answered at once with one
stored render) the run isolates the daemon: claim, plan, journal, dispatch, publish,
archive, gallery. With `--real` the same drop is also rendered by the local pool's worker
(CPU, 32 px, 1 step). For each run it records, from /proc of the daemon's own process:
CPU seconds per photo (user + system, from the drop to the last photo finished), photos/s,
peak RSS (VmHWM); and the worst `deepart-batch status --json` wall time, polled during the
run as a user would (a fresh interpreter each time), the time until every photo was
claimed, and the largest gallery page once the run is over.

A warm-up photo is rendered before the drop, so start-up and the first render are not in
the per-photo figures. The table and a plot (when matplotlib is installed) go to
benchmarks/results/backlog.md and backlog.png, with backlog.json; the growth of CPU per
photo is fitted as a power of N and extrapolated to 100,000 photos (marked as such).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import resource
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from deepart_batch.core.states import InputState
from deepart_batch.journal import JournalDamaged, JournalUnavailable, open_reader
from tests.support.boxes import Box, stop
from tests.support.canned import canned_render
from tests.support.manifests import ONE_STYLE

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CAMPAIGN = "monday"          # one campaign: the gallery's worst case
STATUS_EVERY = 5.0           # seconds between `status` polls
EXTRAPOLATE_TO = 100_000
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    mode: str                 # canned | real
    photos: int
    seconds: float            # drop to the last photo finished
    claimed_seconds: float    # drop to the last photo claimed
    photos_per_second: float
    cpu_seconds: float        # the daemon process, over `seconds`
    cpu_per_photo_ms: float
    peak_rss_mb: float
    worst_status_s: float     # wall: what a user waits
    worst_status_cpu_s: float # CPU of that interpreter: what it costs on a quiet box
    status_polls: int
    largest_page_kb: float
    pages: int
    failed: int
    life_peak_rss_mb: float = 0.0   # VmHWM up to its exit: the stop's whole rebuild too
    stop_seconds: float = 0.0       # SIGTERM to exit (the last whole rebuild in it)
    load: str = ""            # load averages (1, 5, 15 min) at its start / end


def tiny_photo(n: int) -> bytes:
    """A 32 px photo with its own pixels (no two are duplicates)."""
    im = Image.new("RGB", (32, 24), ((n * 7) % 256, (n * 13) % 256, (n * 29) % 256))
    for k in range(3):   # n's bytes, large enough to survive JPEG: a block per byte
        level = (n >> (8 * k)) & 0xFF
        im.paste((level, 255 - level, level), (8 * k, 16, 8 * k + 8, 24))
    buf = io.BytesIO()
    im.save(buf, "PNG")   # lossless: n in the pixels makes the bytes unique
    return buf.getvalue()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK      # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def progress(box: Box) -> tuple[int, int, int]:
    """(inputs past claiming, inputs finished, inputs failed) from the journal, read-only."""
    try:
        journal = open_reader(box.state / "journal.sqlite", timeout=5)
    except (FileNotFoundError, JournalUnavailable):
        return 0, 0, 0
    try:
        counts = journal.input_counts()
    except (JournalUnavailable, JournalDamaged):
        return 0, 0, 0
    finally:
        journal.close()
    failed = counts.get(InputState.FAILED.value, 0)
    return sum(n for s, n in counts.items() if s != InputState.CLAIMING.value), \
        counts.get(InputState.DONE.value, 0) + failed, failed


def timed_status(box: Box) -> tuple[float, float]:
    """Wall and CPU seconds of one `status --json` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    res = box.cli("status", "--config", box.config, "--json", timeout=120)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode != 0:
        raise RuntimeError(f"status failed: {res.stderr[-500:]}")
    return took, cpu


def wait_until(predicate, timeout: float, what: str, proc) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


def one_run(mode: str, photos: int, root: Path, timeout: float) -> Run:
    box = Box(root, manifest=ONE_STYLE, canned=mode == "canned",
              defaults={"size": 32, "steps": 1, "log_every": 1},
              watch={"settle_seconds": 1, "rescan_seconds": 60, "poll_interval": 2})
    staging = root / "staging" / CAMPAIGN
    staging.mkdir(parents=True)
    for n in range(photos):
        (staging / f"p{n:06d}.png").write_bytes(tiny_photo(n))
    (box.inbox / "warmup").mkdir()
    proc = box.start_watch(log_name=f"watch-{mode}-{photos}.log")
    try:
        (box.inbox / "warmup" / "w.png").write_bytes(tiny_photo(photos + 1))
        wait_until(lambda: progress(box)[1] >= 1, 600, "the warm-up photo", proc)
        time.sleep(2)                                  # its gallery rebuild
        cpu0, started = cpu_seconds(proc.pid), time.monotonic()
        os.rename(staging, box.inbox / CAMPAIGN)       # every photo at once
        claimed_at, worst, worst_cpu, polls, last_poll = None, 0.0, 0.0, 0, 0.0
        deadline = started + timeout
        while True:
            claimed, finished, failed = progress(box)
            now = time.monotonic()
            if claimed_at is None and claimed >= photos + 1:
                claimed_at = now
            if finished >= photos + 1:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({proc.returncode}); see {box.log}")
            if now > deadline:
                raise TimeoutError(f"{finished - 1} of {photos} finished after {timeout} s")
            if now - last_poll >= STATUS_EVERY:
                wall, cpu = timed_status(box)
                worst, worst_cpu = max(worst, wall), max(worst_cpu, cpu)
                polls, last_poll = polls + 1, now
            time.sleep(0.5)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(proc.pid) - cpu0
        wall, cpu_status = timed_status(box)
        worst, worst_cpu, polls = max(worst, wall), max(worst_cpu, cpu_status), polls + 1
        time.sleep(3)                                  # the gallery's last rebuild
        rss = peak_rss_mb(proc.pid)
        life_rss, stop_took = stopped_peak_rss_mb(proc)
    finally:
        stop(proc, signal.SIGTERM, timeout=300)
    pages = [p for p in box.outbox.rglob("*.html")]
    return Run(mode, photos, round(seconds, 2), round((claimed_at or now) - started, 2),
               round(photos / seconds, 2), round(cpu, 2), round(1000 * cpu / photos, 3),
               round(rss, 1), round(worst, 3), round(worst_cpu, 3), polls,
               round(max((p.stat().st_size for p in pages), default=0) / 1024, 1),
               len(pages), failed, round(life_rss, 1), round(stop_took, 2))


def stopped_peak_rss_mb(proc, timeout: float = 300) -> tuple[float, float]:
    """SIGTERM, then the daemon's VmHWM read until it exits (its stop rebuilds the whole
    gallery once more): its peak over its whole life, and how long it took to stop."""
    proc.send_signal(signal.SIGTERM)
    started, peak = time.monotonic(), 0.0
    while proc.poll() is None and time.monotonic() - started < timeout:
        try:
            peak = max(peak, peak_rss_mb(proc.pid))
        except (OSError, ValueError):
            break   # gone between poll and read
        time.sleep(0.05)
    return peak, time.monotonic() - started


def power_fit(runs: list[Run]) -> tuple[float, float] | None:
    """cpu_per_photo = a * N**b by least squares in log-log; None under two sizes."""
    pts = [(math.log(r.photos), math.log(r.cpu_per_photo_ms)) for r in runs
           if r.cpu_per_photo_ms > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return math.exp(my - b * mx), b


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def table(runs: list[Run], fits: dict, notes: list[str]) -> str:
    lines = ["# Backlog: the daemon's cost per photo against the size of a drop", "",
             f"Made by `python -m benchmarks.backlog {' '.join(sys.argv[1:])}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}: "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. "
             "Load averages (1, 5, 15 min) at each run's start and end are in the table: "
             "the box is shared, and wall-clock figures (photos/s, status) move with it; "
             "CPU seconds of the daemon move much less.", "",
             "| executor | photos | all claimed (s) | all done (s) | photos/s | daemon CPU s | "
             "CPU ms/photo | peak RSS MB (run / with the stop) | worst status s wall / CPU "
             "(polls) | largest page KB (pages) | failed | stop s | load start / end |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | --- |"]
    for r in runs:
        lines.append(f"| {r.mode} | {r.photos:,} | {r.claimed_seconds} | {r.seconds} | "
                     f"{r.photos_per_second} | {r.cpu_seconds} | {r.cpu_per_photo_ms} | "
                     f"{r.peak_rss_mb} / {r.life_peak_rss_mb} | {r.worst_status_s} / "
                     f"{r.worst_status_cpu_s} ({r.status_polls}) | "
                     f"{r.largest_page_kb} ({r.pages}) | {r.failed} | {r.stop_seconds} | "
                     f"{r.load} |")
    lines.append("")
    for mode, fit in fits.items():
        if fit is None:
            lines.append(f"- {mode}: one size only, no growth fitted.")
            continue
        a, b = fit
        lines.append(f"- {mode}: CPU ms/photo fitted as {a:.3g} x N^{b:.3f}; "
                     f"**extrapolated** (not measured) to {EXTRAPOLATE_TO:,} photos: "
                     f"{a * EXTRAPOLATE_TO ** b:.3g} ms/photo, "
                     f"{a * EXTRAPOLATE_TO ** b * EXTRAPOLATE_TO / 1000:.0f} CPU s in all.")
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], path: Path) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed in this environment: no plot was made."
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for mode in sorted({r.mode for r in runs}):
        mine = sorted((r for r in runs if r.mode == mode), key=lambda r: r.photos)
        axes[0].plot([r.photos for r in mine], [r.cpu_per_photo_ms for r in mine], "o-",
                     label=mode)
        axes[1].plot([r.photos for r in mine], [r.photos_per_second for r in mine], "o-",
                     label=mode)
        axes[2].plot([r.photos for r in mine],
                     [max(r.peak_rss_mb, r.life_peak_rss_mb) for r in mine], "o-",
                     label=mode)
    axes[0].set_ylim(bottom=0)
    axes[2].axhline(256, color="grey", linestyle=":", label="256 MB")
    for ax, label in zip(axes, ("daemon CPU ms per photo", "photos per second",
                                "daemon peak RSS MB (the stop included)")):
        ax.set_xscale("log")
        ax.set_xlabel("photos dropped at once")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return f"plot: {path.name}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,5000,50000",
                        help="photos per canned run, comma-separated (default %(default)s)")
    parser.add_argument("--real", action="store_true",
                        help="also render with the local pool (see --real-sizes)")
    parser.add_argument("--real-sizes", default="500,5000",
                        help="photos per real run (default %(default)s)")
    parser.add_argument("--no-canned", action="store_true", help="real runs only")
    parser.add_argument("--timeout", type=float, default=6 * 3600,
                        help="seconds one run may take")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    plan = [] if args.no_canned else [("canned", int(n)) for n in args.sizes.split(",") if n]
    if args.real:
        plan += [("real", int(n)) for n in args.real_sizes.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="backlog-") as tmp:
        canned_render()   # here (cached), so the daemon reads it and imports no torch
        runs = []
        for mode, n in plan:
            load = load_average()
            print(f"{mode} {n}: running (load {load})", flush=True)
            run = one_run(mode, n, Path(tmp) / f"{mode}-{n}", args.timeout)
            run.load = f"{load} / {load_average()}"
            print(f"  {json.dumps(asdict(run))}", flush=True)
            runs.append(run)
    fits = {mode: power_fit([r for r in runs if r.mode == mode])
            for mode in sorted({r.mode for r in runs})}
    args.out.mkdir(parents=True, exist_ok=True)
    notes = [plot(runs, args.out / "backlog.png")]
    (args.out / "backlog.md").write_text(table(runs, fits, notes))
    (args.out / "backlog.json").write_text(json.dumps(
        {"runs": [asdict(r) for r in runs],
         "fits": {m: f and {"a": f[0], "b": f[1]} for m, f in fits.items()}}, indent=1))
    print((args.out / "backlog.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
