"""Daemon overhead against render time, in one run: intake per file, journal per job.

    .venv/bin/python -m benchmarks.daemon [--files 200]

Intake = inspect (lstat, header probe) + claim (rename into work/) + sha256 + two journal
writes. Journal per job = add_job, mark_running, one progress update per logged step,
mark_done, as the service loop does them. Both are compared with one real render of a
512 px photo at 256 px (100 evaluations, a short job), on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch import images
from deepart_batch.core.hashing import sha256_file
from deepart_batch.core.jobspec import JobSpec
from deepart_batch.daemon.sources import claim
from deepart_batch.journal import Journal
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.weights import load_weights

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def bench_intake(root: Path, n: int) -> list[float]:
    inbox, work = root / "inbox", root / "work"
    inbox.mkdir()
    work.mkdir()
    for i in range(n):
        shutil.copy(PHOTO, inbox / f"p{i}.jpg")
    journal = Journal(root / "journal.sqlite")
    times = []
    for i in range(n):
        src = inbox / f"p{i}.jpg"
        t = time.perf_counter()
        assert claim.inspect(src, src.name, 200_000_000, 50_000_000, ["jpeg"]) is None
        dst = work / f"{i}-{src.name}"
        input_id = journal.begin_claim(src.name, "", str(dst))
        claim.move_file(src, dst)
        journal.finish_claim(input_id, sha256_file(dst))
        times.append(time.perf_counter() - t)
    journal.close()
    return times


def bench_journal(root: Path, n: int, progress_updates: int) -> list[float]:
    journal = Journal(root / "journal2.sqlite")
    input_id = journal.begin_claim("x.jpg", "", "/tmp/x.jpg")
    spec = JobSpec(content="/tmp/x.jpg", input="x.jpg", styles=(),
                   params=RenderParams(), output_format="JPEG")
    times = []
    for i in range(n):
        t = time.perf_counter()
        job_id = journal.add_job(input_id, f"key{i}", "", 0, "s", spec, "/o.jpg", "/o.json")
        journal.mark_running(job_id, "cpu#0", "cpu")
        for step in range(progress_updates):
            journal.set_progress(job_id, {"step": step, "total": progress_updates, "loss": 1.0})
        journal.mark_done(job_id, 1.0)
        times.append(time.perf_counter() - t)
    journal.close()
    return times


def bench_render() -> tuple[float, int]:
    w = load_weights()
    engine = StyleTransfer(w.conv, w.preprocessing)
    content = images.to_tensor(images.load_image(PHOTO))
    style = images.to_tensor(images.load_image(STYLE))
    params = RenderParams(size=256, steps=100)
    t = time.perf_counter()
    result = engine.render(content, [StyleInput(style)], params)
    return time.perf_counter() - t, result.evaluations


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        intake_t = bench_intake(root, args.files)
        steps = RenderParams().steps
        updates = max(1, steps // RenderParams().log_every)
        journal_t = bench_journal(root, args.files, updates)
    render_s, evals = bench_render()
    med_in, med_j = statistics.median(intake_t), statistics.median(journal_t)
    print(f"intake per file   median {med_in * 1e3:7.2f} ms  (p90 "
          f"{sorted(intake_t)[int(len(intake_t) * .9)] * 1e3:.2f} ms, {args.files} files of "
          f"{PHOTO.stat().st_size // 1024} KiB)")
    print(f"journal per job   median {med_j * 1e3:7.2f} ms  ({updates} progress updates)")
    print(f"render 256 px     {render_s:7.2f} s    ({evals} evaluations)")
    print(f"overhead / render {(med_in + med_j) / render_s * 100:.3f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
