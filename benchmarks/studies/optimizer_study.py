"""Optimizer study (issue 5): can any optimizer or parametrisation reach the single-scale
L-BFGS reference's loss in far fewer evaluations? Small (128 px) so that it runs in minutes.

Reference: the engine's L-BFGS (strong Wolfe, history 100, loss of the clamped image) for
2N evaluations; its loss after N evaluations is the target. Each variant gets N evaluations;
the table gives evaluations to the target and the loss relative to the reference's at the
same evaluation count. Evaluation counts do not depend on machine load.

Also: what the loss is made of along the reference's path, and how much (and at which
spatial frequencies) the image still changes between an iterate and the end.

    .venv/bin/python -m benchmarks.studies.optimizer_study         # 128 px, N = 500 (~10 min)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer, solver
from deepart_batch.engine import precision as prec
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.weights import load_weights

from benchmarks.engine import load_inputs

BANDS = ((0, 1 / 32), (1 / 32, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, 0.51))


def build_objective(size: int, precision: str = "fp32"):
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cpu")
    photo, style = load_inputs(size)
    p = RenderParams(size=size, steps=1, scales=(1.0,), precision=precision).validated()
    content = resize_long_side(photo, size)
    grams = engine.style_targets(style, p, content)
    styles = [StyleInput(style)]
    return content, engine.objective(content, styles, [grams], p, precision)

class Tracker:
    """The evaluation function handed to an optimizer: counts, keeps the best loss so far."""

    def __init__(self, objective: Objective, transform=None, snapshots=()):
        self.objective, self.transform = objective, transform
        self.best, self.n = [], 0
        self.snapshots, self.wanted = {}, set(snapshots)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        with prec.backend_flags(self.objective.precision, z.device):
            x = self.transform(z) if self.transform else z
            total, _ = self.objective(x)
        total.backward()
        self.n += 1
        value = float(total.detach())
        self.best.append(min(value, self.best[-1]) if self.best else value)
        if self.n in self.wanted:
            self.snapshots[self.n] = x.detach().clamp(0, 1).clone()
        return total.detach()


def _projected(x, track, steps):
    """Clamp to [0, 1] after every L-BFGS iteration (a cheap stand-in for L-BFGS-B)."""
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, max_eval=25, tolerance_grad=-1,
                            tolerance_change=-1, history_size=100,
                            line_search_fn="strong_wolfe")

    def closure():
        x.grad = None
        return track(x)
    while track.n < steps:
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)


def _lbfgsb(x, track, steps):
    """scipy's L-BFGS-B with true [0, 1] bounds (float64 on the CPU)."""
    import numpy as np
    from scipy.optimize import minimize
    shape = x.shape

    def fg(v):
        t = torch.from_numpy(v.astype(np.float32)).reshape(shape).requires_grad_(True)
        loss = track(t)
        return float(loss), t.grad.reshape(-1).double().numpy()
    minimize(fg, x.detach().reshape(-1).double().numpy(), jac=True, method="L-BFGS-B",
             bounds=[(0, 1)] * x.numel(),
             options=dict(maxfun=steps, maxiter=2 * steps, maxcor=100, ftol=0, gtol=0))


def variants():
    """name -> (how to run it, what it is)."""
    def lb(**kw):
        return lambda x, t, n: solver.lbfgs(x, t, n, **kw)

    def sigmoid(x, t, n):
        t.transform = torch.sigmoid
        z = torch.logit(x.detach().clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
        solver.lbfgs(z, t, n)
    return {
        "lbfgs_history_20": (lb(history=20), "L-BFGS, history 20"),
        "lbfgs_history_300": (lb(history=300), "L-BFGS, history 300"),
        "lbfgs_fixed_step": (lb(line_search=None), "L-BFGS, no line search, step 1"),
        "sigmoid": (sigmoid, "L-BFGS on z, image = sigmoid(z) (smooth bounds)"),
        "projected": (_projected, "L-BFGS, image clamped after each iteration"),
        "lbfgsb": (_lbfgsb, "scipy L-BFGS-B, bounds [0, 1]"),
        "adam": (lambda x, t, n: solver.adam(x, t, n), "Adam, lr 0.02"),
        "bf16": (lb(), "the reference optimizer, bf16 autocast (losses in fp32)"),
    }


def band_shares(delta: torch.Tensor) -> list[float]:
    """Share of the energy of an image difference per band of spatial frequency (cycles
    per pixel, max over the two axes), coarse to fine."""
    f = torch.fft.rfft2(delta - delta.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    h, w = delta.shape[-2:]
    r = torch.maximum(torch.fft.fftfreq(h).abs()[:, None], torch.fft.rfftfreq(w)[None, :])
    energy = [float(f[..., (r >= lo) & (r < hi)].sum()) for lo, hi in BANDS]
    total = sum(energy) or 1.0
    return [round(e / total, 3) for e in energy]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "studies" / "results"))
    args = ap.parse_args(argv)
    n = args.steps
    content, objective = build_objective(args.size)
    marks = sorted({n // 10, n // 5, 2 * n // 5, 3 * n // 5, n, 2 * n})
    ref = Tracker(objective, snapshots=marks)
    x = content.clone().requires_grad_(True)
    t0 = time.perf_counter()
    solver.lbfgs(x, ref, 2 * n)
    ref_seconds = time.perf_counter() - t0
    target = ref.best[n - 1]
    final = ref.snapshots[2 * n]
    path = []
    for k in marks:
        with torch.no_grad():
            total, parts = objective(ref.snapshots[k])
        path.append({"evaluations": k, "total": float(total), "content": float(parts.content),
                     "style": {l: float(v) for l, v in parts.style.items()},
                     "tv": float(parts.tv),
                     "rms_change_to_end": float((final - ref.snapshots[k]).pow(2).mean().sqrt()),
                     "change_to_end_bands": band_shares(final - ref.snapshots[k])})
    print(f"reference: {2 * n} evals in {ref_seconds:.1f} s; target (after {n}) {target:.5g}",
          flush=True)
    rows = []
    chosen = variants()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    for name, (run, what) in chosen.items():
        if name == "lbfgsb":
            try:
                import scipy  # noqa: F401
            except ImportError:
                rows.append({"name": name, "what": what, "skipped": "scipy is not installed"})
                continue
        obj = objective if name != "bf16" else build_objective(args.size, "bf16")[1]
        track = Tracker(obj)
        x = content.clone().requires_grad_(True)
        t0 = time.perf_counter()
        run(x, track, n)
        best = track.best[:n]
        hit = next((i + 1 for i, v in enumerate(best) if v <= target), None)
        rows.append({"name": name, "what": what, "seconds": round(time.perf_counter() - t0, 1),
                     "evaluations_to_target": hit,
                     "loss_over_reference": {k: round(best[k - 1] / ref.best[k - 1], 3)
                                             for k in marks if k <= len(best)}})
        print(json.dumps(rows[-1]), flush=True)
    result = {"size": args.size, "shape": list(content.shape[-2:]), "steps": n,
              "reference_seconds": round(ref_seconds, 1), "target": target,
              "reference_at": {k: ref.best[k - 1] for k in marks}, "path": path,
              "variants": rows, "torch": torch.__version__}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "optimizer_study.json").write_text(json.dumps(result, indent=1))
    (out / "optimizer_study.md").write_text(markdown(result))
    print(f"wrote {out / 'optimizer_study.md'}")
    return 0


def markdown(r: dict) -> str:
    n, marks = r["steps"], sorted(int(k) for k in r["reference_at"])
    out = [f"# Optimizer study, {r['shape'][1]}x{r['shape'][0]} px (tubingen x starry_night)",
           "", f"Reference: the engine's L-BFGS (strong Wolfe, history 100), fp32, {2 * n} "
           f"evaluations in {r['reference_seconds']} s. Target = its loss after {n} "
           f"evaluations: {r['target']:.5g}. Made by `python -m benchmarks.studies.optimizer_study`.", "",
           "| variant | evaluations to target (reference: " + str(n) + ") | " +
           " | ".join(f"loss / reference at {k}" for k in marks if k <= n) + " |",
           "|---|---|" + "---|" * len([k for k in marks if k <= n])]
    for v in r["variants"]:
        if "skipped" in v:
            out.append(f"| {v['what']} | skipped: {v['skipped']} |")
            continue
        ratios = v["loss_over_reference"]
        out.append(f"| {v['what']} | {v['evaluations_to_target'] or 'not reached'} | " +
                   " | ".join(str(ratios.get(str(k), ratios.get(k, '-')))
                              for k in marks if k <= n) + " |")
    out += ["", "## The reference's path", "",
            "| evaluations | total | content | style (relu1_1..relu5_1) | rms change to the "
            "end | share of that change per band, coarse to fine |", "|---|---|---|---|---|---|"]
    for p in r["path"]:
        style = ", ".join(f"{v:.3g}" for v in p["style"].values())
        out.append(f"| {p['evaluations']} | {p['total']:.4g} | {p['content']:.4g} | {style} | "
                   f"{p['rms_change_to_end']:.3f} | {p['change_to_end_bands']} |")
    out += ["", "Bands in cycles per pixel: " + ", ".join(f"[{lo:.3g}, {hi:.3g})"
                                                          for lo, hi in BANDS) + ".", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
