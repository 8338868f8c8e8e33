"""CPU cost of the L-BFGS loop, per evaluation: the two-loop oracle (tests/support/lbfgs_oracle.py,
the old production loop), the engine's compact solver (solver.lbfgs) and issue 24's
fixed-shape one (solver.lbfgs_masked), run alternating.

    python -m benchmarks.studies.solver_cpu_ab [--size 512 --evals 150 --history 100]
    python -m benchmarks.studies.solver_cpu_ab --network 64 --out benchmarks/studies/results/solver-cpu.md

solver   a cheap separable objective on an image-sized vector (3 x H x W x 3/4): the
         solver's own work per evaluation, what the render loop adds to each evaluation
network  the engine's fp32 objective at --network px: seconds per evaluation with each
         solver against the bare network floor (forward + input-gradient backward alone,
         same count), and the host reads per evaluation (engine.loopcount)

CPU time (time.process_time) and ratios from one run: the box may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
from deepart_batch.engine import solver
from deepart_batch.engine.loopcount import LoopCounter
from tests.support.lbfgs_oracle import lbfgs_two_loop

SOLVERS = {"two_loop": lbfgs_two_loop, "compact": solver.lbfgs, "masked": solver.lbfgs_masked}


def run(fn, n: int, evals: int, history: int) -> float:
    gen = torch.Generator().manual_seed(0)
    scale = torch.rand(n, generator=gen) * 10 + 0.1
    target = torch.rand(n, generator=gen)
    x = torch.zeros(n, requires_grad=True)

    def evaluate(x):
        d = x - target
        loss = (scale * d * d).sum() + (d ** 4).sum()
        loss.backward()
        return loss.detach()

    t = time.process_time()
    fn(x, evaluate, evals, history=history)
    return (time.process_time() - t) / evals


def network_objective(size: int):
    from deepart_batch import images
    from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
    from deepart_batch.engine.optimize import resize_long_side
    from deepart_batch.weights import load_weights
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cpu")
    photo = images.to_tensor(images.load_image(ROOT / "tests" / "data" / "tubingen.jpg"))
    style = images.to_tensor(images.load_image(ROOT / "tests" / "data" / "starry_night.jpg"))
    p = RenderParams(size=size, steps=1, scales=(1.0,), precision="fp32").validated()
    content = resize_long_side(photo, size)
    grams = [engine.style_targets(style, p, content)]
    return content, engine.objective(content, [StyleInput(style)], grams, p, "fp32")


def network_run(fn, content, objective, evals: int, history: int, count=False):
    """(CPU seconds per evaluation, host reads per evaluation or None, best loss)."""
    losses = []

    def evaluate(x):
        total, _ = objective.value_and_grad(x)
        losses.append(total.detach())
        return total.detach()

    x = content.clone().requires_grad_(True)
    counter = LoopCounter()
    t = time.process_time()
    if fn is None:  # the floor: the same evaluations, no solver
        for _ in range(evals):
            x.grad = None
            evaluate(x)
    elif count:
        with counter:
            fn(x, evaluate, evals, history=history)
    else:
        fn(x, evaluate, evals, history=history)
    seconds = (time.process_time() - t) / evals
    reads = counter.counts["host_reads"] / evals if count else None
    return seconds, reads, float(min(losses))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--network", type=int, help="also time the engine objective at this size")
    ap.add_argument("--network-evals", type=int, default=60)
    ap.add_argument("--out", type=Path, help="append the report (markdown) here")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared box "
                    "idle worker threads spin, which process_time would count)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = [f"## solver_cpu_ab {time.strftime('%Y-%m-%d %H:%M:%S')}", "",
             f"`uptime` before: {uptime()}", "",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
             f"{os.cpu_count()} CPUs; CPU seconds (process_time), min of {args.repeats} "
             f"alternating runs", ""]
    n = 3 * args.size * args.size * 3 // 4
    times = {k: [] for k in SOLVERS}
    for _ in range(args.repeats):
        for k, fn in SOLVERS.items():
            times[k].append(run(fn, n, args.evals, args.history))
    lines += [f"### Solver alone: separable objective, {n} values, {args.evals} evaluations, "
              f"history {args.history}", "", "| solver | CPU ms / evaluation (min) | median "
              "| / compact |", "|---|---|---|---|"]
    for k, v in times.items():
        lines.append(f"| {k} | {min(v) * 1e3:.2f} | {statistics.median(v) * 1e3:.2f} | "
                     f"{min(v) / min(times['compact']):.2f} |")
    if args.network:
        content, objective = network_objective(args.network)
        ne, rows = args.network_evals, {k: [] for k in ("floor", *SOLVERS)}
        best = {}
        network_run(None, content, objective, 3, args.history)  # warm-up: kernels, caches
        for _ in range(args.repeats):
            for k in rows:
                sec, _, loss = network_run(SOLVERS.get(k), content, objective, ne, args.history)
                rows[k].append(sec)
                best[k] = loss
        reads = {k: network_run(fn, content, objective, min(ne, 30), args.history,
                                count=True)[1] for k, fn in SOLVERS.items()}
        floor = min(rows["floor"])
        lines += ["", f"### Engine objective, fp32, {tuple(content.shape[-2:])} px, {ne} "
                  f"evaluations, history {args.history}", "",
                  "| loop | CPU ms / evaluation (min) | / bare network floor | host reads / "
                  "evaluation | best loss |", "|---|---|---|---|---|"]
        for k, v in rows.items():
            r = reads.get(k)
            lines.append(f"| {k} | {min(v) * 1e3:.1f} | {min(v) / floor:.3f} | "
                         f"{'-' if r is None else f'{r:.2f}'} | "
                         f"{'-' if k == 'floor' else f'{best[k]:.4g}'} |")
    lines += ["", f"`uptime` after: {uptime()}", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
