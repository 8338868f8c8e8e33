"""CPU cost of the L-BFGS loop alone, the two-loop oracle (tests/lbfgs_oracle.py, the old
production loop) against the engine's compact solver, alternating.

    python benchmarks/solver_cpu_ab.py [--size 512 --evals 150 --history 100]

The objective is a cheap separable one on an image-sized vector (3 x H x W), so the
timing is the solver's own work per evaluation: what the render loop adds to each forward
and backward on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from deepart_batch.engine import solver  # noqa: E402
from lbfgs_oracle import lbfgs_two_loop  # noqa: E402


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

    t = time.perf_counter()
    fn(x, evaluate, evals, history=history)
    return (time.perf_counter() - t) / evals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 3 * args.size * args.size * 3 // 4
    times = {"two_loop": [], "compact": []}
    for _ in range(args.repeats):
        times["two_loop"].append(run(lbfgs_two_loop, n, args.evals, args.history))
        times["compact"].append(run(solver.lbfgs, n, args.evals, args.history))
    for k, v in times.items():
        print(f"{k:9s} ms per evaluation: min {min(v) * 1e3:.2f} median "
              f"{statistics.median(v) * 1e3:.2f}  ({args.evals} evaluations, history "
              f"{args.history}, {n} values, {torch.get_num_threads()} threads)")
    print(f"two_loop / compact (min): {min(times['two_loop']) / min(times['compact']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
