"""Regions benchmark: does a render with a mask keep what it should and paint what it should?

On a photo and two paintings the tests do not use (benchmarks/data/, <= 256 px), at 256 px
on the CPU, one run renders through the pipeline (render_request, as `render --mask` does):

1. the photo in painting A, no mask; 2. in painting B, no mask;
3. with portrait.keep.png: the face kept (black), the rest in A (white);
4. with portrait.two.png: the top in B (red), the rest in A (white).

and measures, on the 8-bit outputs:
- inside the kept region, the mean absolute difference to the photo (at the output size),
  in 1/255 steps (must be < 1), and the same by distance from the kept region across the
  feathered band (must not decrease: a monotone blend into the painting);
- each styled region's Gram error to its own painting (relative squared Frobenius error of
  the region's guided Gram matrices, mean over the five style layers), against the same
  region of the unmasked render in that painting (must be within 1.15x);
- with two styles, each region's Gram error to the other painting over its own (>= 1.5x).

    nice -n 15 .venv/bin/python benchmarks/regions.py [--steps 300] [--picture PNG]

Writes benchmarks/results/regions.md and regions.json (and the before/after picture).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from deepart_batch import images
from deepart_batch.core.regions import RegionSpec, effective_regions
from deepart_batch.engine import RenderParams, StyleTransfer
from deepart_batch.engine.losses import guided_gram
from deepart_batch.engine.regions import FEATHER_PX
from deepart_batch.masks import read_mask
from deepart_batch.pipeline import RenderRequest, StyleFile, load_inputs, render_request
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.weights import load_weights

HERE = Path(__file__).resolve().parent
DATA, RESULTS, OUT = HERE / "data", HERE / "results", HERE / "out"   # out/: not kept
PHOTO = DATA / "portrait.jpg"
A, B = DATA / "shipwreck.jpg", DATA / "picasso.jpg"        # Turner; Picasso 1907
KEEP_MASK, TWO_MASK = DATA / "portrait.keep.png", DATA / "portrait.two.png"
WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (255, 0, 0)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
KEEP_LIMIT, GRAM_LIMIT, SEPARATION = 1.0, 1.15, 1.5


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def render(engine, weights, params, styles, mask=None, regions=()) -> dict:
    req = RenderRequest(content=str(PHOTO), styles=styles, params=params,
                        mask=str(mask) if mask else None, regions=regions)
    before, t0 = load(), time.perf_counter()
    image, report = render_request(engine, weights, req)
    seconds = time.perf_counter() - t0
    print(f"{mask.name if mask else 'no mask'} in {', '.join(s.name for s in styles)}: "
          f"{seconds:.1f} s, load {before} -> {load()}", flush=True)
    return {"image": images.to_tensor(image), "pil": image, "seconds": round(seconds, 1),
            "load_before": before, "load_after": load(), "report": report}


def region_grams(engine, image: torch.Tensor, guide: torch.Tensor) -> dict:
    """The region's guided Gram matrix at each style layer (its mask taken down by area)."""
    enc = engine.encoder(STYLE_LAYERS)
    with torch.no_grad():
        feats = enc(image, STYLE_LAYERS)
        return {k: guided_gram(feats[k], F.interpolate(guide, size=feats[k].shape[-2:],
                                                       mode="area")) for k in STYLE_LAYERS}


def per_layer(grams: dict, targets: dict, scale: dict) -> list[float]:
    return [float((grams[k] - targets[k]).pow(2).sum() / scale[k].pow(2).sum())
            for k in STYLE_LAYERS]


def gram_error(engine, image: torch.Tensor, guide: torch.Tensor, targets: dict,
               layers: list | None = None) -> float:
    """Mean over the style layers of |G_region - G_style|^2 / |G_style|^2 (`layers`, when
    given, receives the per-layer values)."""
    values = per_layer(region_grams(engine, image, guide), targets, targets)
    if layers is not None:
        layers.extend(round(v, 4) for v in values)
    return float(np.mean(values))


def separation(engine, image: torch.Tensor, guide: torch.Tensor, own: dict, other: dict
               ) -> tuple[float, float]:
    """The region's distance to each painting's Grams, per layer over the same scale (the
    region's own Gram), so the two compare: (to own, to other), means over the layers."""
    grams = region_grams(engine, image, guide)
    return (float(np.mean(per_layer(grams, own, grams))),
            float(np.mean(per_layer(grams, other, grams))))


def labels_at(mask: Path, size: tuple[int, int], regions) -> np.ndarray:
    return read_mask(mask, PHOTO, size, effective_regions(regions)).labels


def guide_of(labels: np.ndarray, index: int) -> torch.Tensor:
    return torch.from_numpy((labels == index).astype(np.float32))[None, None]


def band_profile(out: torch.Tensor, photo: torch.Tensor, keep: torch.Tensor) -> list[float]:
    """Mean |out - photo| (in 1/255) at Chebyshev distance 0, 1, ... from the kept region."""
    diff = (out - photo).abs().mean(1, keepdim=True) * 255
    profile, inside = [], keep
    profile.append(float(diff[inside > 0].mean()))
    for d in range(1, FEATHER_PX + 4):
        grown = F.max_pool2d(keep, 2 * d + 1, stride=1, padding=d)
        ring = (grown > 0) & (inside == 0)
        profile.append(float(diff[ring].mean()))
        inside = grown
    return profile


def picture(path: Path, panels: list[Image.Image], height: int = 128) -> int:
    scaled = [p.convert("RGB").resize((round(p.width * height / p.height), height),
                                      Image.Resampling.LANCZOS) for p in panels]
    strip = Image.new("RGB", (sum(p.width for p in scaled) + 4 * (len(scaled) - 1), height),
                      (255, 255, 255))
    x = 0
    for p in scaled:
        strip.paste(p, (x, 0))
        x += p.width + 4
    strip.save(path, optimize=True)
    return path.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--picture", type=Path, help="write photo | mask | outputs here (PNG)")
    args = ap.parse_args()
    torch.manual_seed(0)
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, "cpu")
    params = RenderParams(size=args.size, steps=args.steps)
    start_load = load()
    sa, sb = StyleFile(str(A), 1.0, "shipwreck"), StyleFile(str(B), 1.0, "picasso")
    plain_a = render(engine, weights, params, [sa])
    plain_b = render(engine, weights, params, [sb])
    kept = render(engine, weights, params, [sa], KEEP_MASK)
    two_regions = (RegionSpec(RED, styles={"picasso": 1.0}),
                   RegionSpec(WHITE, styles={"shipwreck": 1.0}))
    two = render(engine, weights, params, [sa, StyleFile(str(B), 0.0, "picasso")], TWO_MASK,
                 two_regions)

    h, w = kept["image"].shape[-2:]
    content = load_inputs(RenderRequest(str(PHOTO), [sa], params))[0]
    photo = images.to_tensor(images.to_pil(resize_long_side(content, args.size)))
    targets = {n: engine.style_targets(load_inputs(RenderRequest(str(p), [], params))[0],
                                       params) for n, p in (("A", A), ("B", B))}
    # 3: kept region exact, feathered band monotone, the styled rest as painted as without
    keep_labels = labels_at(KEEP_MASK, (w, h), ())
    white, black = 0, 1                      # effective_regions(()): white, black
    keep = guide_of(keep_labels, black)
    profile = band_profile(kept["image"], photo, keep)
    styled = guide_of(keep_labels, white)
    masked_layers, plain_layers = [], []
    keep_rows = {"keep_mae_255": round(profile[0], 3),
                 "band_mae_255": [round(v, 2) for v in profile[1:]],
                 # from inside (0) across the band to the first unblended pixel
                 "band_monotone": all(b >= a - 1e-6 for a, b in
                                      zip(profile[:FEATHER_PX + 2], profile[1:FEATHER_PX + 2])),
                 "styled_error": gram_error(engine, kept["image"], styled, targets["A"],
                                            masked_layers),
                 "unmasked_same_region": gram_error(engine, plain_a["image"], styled,
                                                    targets["A"], plain_layers),
                 "unmasked_whole": gram_error(engine, plain_a["image"], torch.ones_like(styled),
                                              targets["A"])}
    keep_rows["ratio_whole"] = keep_rows["styled_error"] / keep_rows["unmasked_whole"]
    keep_rows["ratio_same_region"] = (keep_rows["styled_error"] /
                                      keep_rows["unmasked_same_region"])
    keep_rows["layers"] = {"masked": masked_layers, "unmasked_same_region": plain_layers}
    # 4: two styles, each region nearer its own painting
    two_labels = labels_at(TWO_MASK, (w, h), two_regions)
    order = [r.value for r in effective_regions(two_regions)]
    rows = []
    for value, own, other, plain in ((RED, "B", "A", plain_b), (WHITE, "A", "B", plain_a)):
        guide = guide_of(two_labels, order.index(value))
        error = gram_error(engine, two["image"], guide, targets[own])
        whole = gram_error(engine, plain["image"], torch.ones_like(guide), targets[own])
        unmasked = gram_error(engine, plain["image"], guide, targets[own])
        to_own, to_other = separation(engine, two["image"], guide, targets[own],
                                      targets[other])
        rows.append({"region": "red (top) -> picasso" if value == RED else
                     "white (rest) -> shipwreck", "area": float(guide.mean()),
                     "error": error, "unmasked_whole": whole, "ratio_whole": error / whole,
                     "unmasked_same_region": unmasked, "ratio_same_region": error / unmasked,
                     "to_own": to_own, "to_other": to_other, "separation": to_other / to_own})
    checks = {
        "keep_exact": keep_rows["keep_mae_255"] < KEEP_LIMIT,
        "band_monotone": keep_rows["band_monotone"],
        "keep_styled_within_1.15x": keep_rows["ratio_whole"] <= GRAM_LIMIT,
        "two_styles_within_1.15x": all(r["ratio_whole"] <= GRAM_LIMIT for r in rows),
        "two_styles_separated_1.5x": all(r["separation"] >= SEPARATION for r in rows)}
    result = {"size": args.size, "steps": args.steps, "device": "cpu",
              "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or
              platform.machine(), "load_start": start_load, "load_end": load(),
              "renders": {k: {kk: v[kk] for kk in ("seconds", "load_before", "load_after")}
                          for k, v in (("plain_shipwreck", plain_a), ("plain_picasso", plain_b),
                                       ("keep", kept), ("two_styles", two))},
              "keep": keep_rows, "two_styles": rows, "checks": checks,
              "region_losses": {"keep": kept["report"].regions,
                                "two_styles": two["report"].regions}}
    RESULTS.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    for name, r in (("plain_shipwreck", plain_a), ("plain_picasso", plain_b), ("keep", kept),
                    ("two_styles", two)):
        r["pil"].save(OUT / f"regions-{name}.png")
    (RESULTS / "regions.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (RESULTS / "regions.md").write_text(markdown(result))
    if args.picture:
        mask_rgb = Image.open(KEEP_MASK).convert("RGB")
        two_rgb = Image.open(TWO_MASK).convert("RGB")
        size = picture(args.picture, [Image.open(PHOTO), mask_rgb, kept["pil"], two_rgb,
                                      two["pil"]])
        print(f"wrote {args.picture} ({size // 1024} KiB)")
    print(markdown(result))
    return 0 if all(checks.values()) else 1


def markdown(r: dict) -> str:
    k = r["keep"]
    lines = [
        "# Regions (spatial control): benchmark", "",
        f"`benchmarks/regions.py`, {r['size']} px, {r['steps']} evaluations (default "
        f"coarse-to-fine), CPU ({r['cpu']}, {r['torch_threads']} torch threads), bundled "
        f"weights, one run. Photo `benchmarks/data/portrait.jpg` (203x256), paintings "
        f"shipwreck (Turner) and picasso (self-portrait 1907), none used by the tests.", "",
        f"Load average (1, 5, 15 min): {r['load_start']} at the start, {r['load_end']} at "
        f"the end; per render:", "",
        "| render | seconds | load before | load after |", "|---|---:|---|---|"]
    lines += [f"| {n} | {v['seconds']} | {v['load_before']} | {v['load_after']} |"
              for n, v in r["renders"].items()]
    lines += [
        "", "## Kept region (`portrait.keep.png`: the face black = keep, the rest white = "
        "shipwreck)", "",
        f"- inside the kept region: mean |output - photo| = **{k['keep_mae_255']:.3f}/255** "
        f"(limit < {KEEP_LIMIT}/255)",
        f"- by distance 1..{len(k['band_mae_255'])} px from it (feather {FEATHER_PX} px): "
        f"{', '.join(f'{v:.1f}' for v in k['band_mae_255'])} /255: "
        f"{'monotone' if k['band_monotone'] else 'NOT monotone'} from inside across the band "
        f"(distance 0..{FEATHER_PX + 1})",
        f"- styled region's Gram error to shipwreck: {k['styled_error']:.4f}; the unmasked "
        f"render's Gram error: {k['unmasked_whole']:.4f} -> **{k['ratio_whole']:.3f}x** "
        f"(limit {GRAM_LIMIT}x)",
        f"- the stricter comparison, the unmasked render's error over the same region only: "
        f"{k['unmasked_same_region']:.4f} -> **{k['ratio_same_region']:.3f}x**; per layer "
        f"(relu1_1..relu5_1) masked {k['layers']['masked']}, unmasked "
        f"{k['layers']['unmasked_same_region']}", "",
        "## Two styles (`portrait.two.png`: top 40% red = picasso, rest white = shipwreck)",
        "", "| region | area | Gram error | unmasked render's | ratio | unmasked, same "
        "region | ratio | distance to own | to the other | other / own |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {x['region']} | {x['area']:.0%} | {x['error']:.4f} | "
              f"{x['unmasked_whole']:.4f} | **{x['ratio_whole']:.3f}x** | "
              f"{x['unmasked_same_region']:.4f} | {x['ratio_same_region']:.3f}x | "
              f"{x['to_own']:.4f} | {x['to_other']:.4f} | **{x['separation']:.2f}x** |"
              for x in r["two_styles"]]
    lines += ["", "Gram error: mean over relu1_1..relu5_1 of |G_region - G_painting|^2 / "
              "|G_painting|^2, G_region the guided Gram matrix of the region (its mask taken "
              "down to each layer by area), G_painting the render's own style target; the "
              "unmasked render's is over its whole image (what it optimised), 'same region' "
              "over the region's pixels only. Distance to own / to the other: "
              "|G_region - G_painting|^2 / |G_region|^2 per layer, the same scale for both "
              "paintings (the error above divides by each painting's own Gram, which is not "
              "comparable across paintings), mean over the layers.", "",
              "## Checks", ""]
    lines += [f"- {name}: {'pass' if ok else 'FAIL'}" for name, ok in r["checks"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
