"""Solver A/B for benchmarks/engine.py: the engine's L-BFGS against torch.optim.LBFGS,
seconds per evaluation on the same inputs, runs alternating."""

from __future__ import annotations

import json
import time

import torch

from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.precision import device_precision

CPU = torch.device("cpu")


def torch_lbfgs(x, evaluate, steps, lr=1.0, history=100, line_search="strong_wolfe"):
    """The engine's former solver: torch.optim.LBFGS, with the same budget and best-point
    rules as solver.lbfgs (the baseline of the solver section)."""
    best, best_loss, count = x.detach().clone(), float("inf"), 0

    class Spent(Exception):
        pass

    def closure():
        nonlocal best_loss, count
        if count >= steps:
            raise Spent
        x.grad = None
        loss = evaluate(x)
        count += 1
        if float(loss) < best_loss:
            best_loss = float(loss)
            best.copy_(x.detach())
        return loss

    opt = torch.optim.LBFGS([x], lr=lr, max_iter=steps, max_eval=steps, tolerance_grad=-1,
                            tolerance_change=-1, history_size=history,
                            line_search_fn=line_search)
    try:
        while count < steps:
            opt.step(closure)
    except Spent:
        pass
    with torch.no_grad():
        x.copy_(best)


def bench_solver(weights, load_inputs, sizes, steps: int,
                 device: torch.device = CPU) -> list[dict]:
    """Seconds per engine evaluation (min and median of callback gaps, single scale, auto
    precision) with solver.lbfgs and with torch.optim.LBFGS, alternating, same inputs."""
    from deepart_batch.engine import solver
    ours = solver.lbfgs
    rows = []
    for size in sizes:
        photo, style = load_inputs(size)
        row = {"size": size, "device": str(device),
               "precision": device_precision("auto", device), "steps": steps}
        for name, fn in (("torch", torch_lbfgs), ("ours", ours),
                         ("torch_again", torch_lbfgs), ("ours_again", ours)):
            solver.lbfgs = fn
            try:
                engine = StyleTransfer(weights.conv, weights.preprocessing, device)
                stamps, losses = [], []
                res = engine.render(photo, [StyleInput(style)], RenderParams(
                    size=size, steps=steps, scales=(1.0,), log_every=1),
                    callback=lambda l, total: (stamps.append(time.perf_counter()),
                                               losses.append(l.total)))
            finally:
                solver.lbfgs = ours
            gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
            row[name] = {"min": gaps[0], "median": gaps[len(gaps) // 2],
                         "final_loss": res.final.total}
        row["median_ratio_torch_over_ours"] = (
            min(row["torch"]["median"], row["torch_again"]["median"]) /
            min(row["ours"]["median"], row["ours_again"]["median"]))
        print("solver", json.dumps(row), flush=True)
        rows.append(row)
    return rows
