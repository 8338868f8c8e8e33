"""Print-size benchmark: does a large render keep the preview's look?

Renders the same pair at a preview size and at a large size (default parameters, so the
large one uses the look size), then scores both at a common size with the engine's own
look evaluator (deepart_batch/engine/evaluate.py): relative Gram error against the style,
relative relu4_2 error against the photo, and both for the large render against the preview.
Optionally (--baseline) also the large size rendered the old way (look_size 0).

    nice -n 15 .venv/bin/python -m benchmarks.printsize --preview 512 --large 2048
    .venv/bin/python -m benchmarks.printsize --device cuda --preview 1024 --large 4096 8192 \
        --photo big_photo.jpg --style big_style.jpg --baseline

Writes benchmarks/results/printsize[-TAG].{md,json} and side-by-side pictures: the preview,
the large render taken down to the preview's size (and the baseline), and a full-resolution
crop of the large render next to the preview's same region upsampled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch import images
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer
from deepart_batch.engine.evaluate import (CONTENT_LAYER, STYLE_LAYERS,
                                           LookEvaluator, to_size)
from deepart_batch.weights import load_weights

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
RESULTS = ROOT / "benchmarks" / "results"


def render(engine, photo, style, params: RenderParams, label: str) -> dict:
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    result = engine.render(photo, [StyleInput(style)], params)
    seconds = time.perf_counter() - t0
    print(f"{label}: {params.size} px, {result.evaluations} evaluations, {seconds:.1f} s",
          flush=True)
    return {"image": result.image, "label": label, "size": params.size,
            "look_size": params.look_size, "seconds": round(seconds, 1),
            "evaluations": result.evaluations, "precision": result.precision,
            "peak_memory_bytes": result.peak_memory_bytes,
            "peak_memory_method": result.peak_memory_method,
            "memory_estimate_bytes": result.memory_estimate_bytes,
            "scales": result.scale_timings, "loadavg": [round(load0, 2),
                                                        round(os.getloadavg()[0], 2)]}


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "image"}


def pictures(preview: dict, larges: list[dict], tag: str) -> list[str]:
    """Side by side at the preview's size, and a full-resolution crop of each large one."""
    tiles = [(preview["image"], f"preview {preview['size']} px")]
    tiles += [(to_size(r["image"], max(preview["image"].shape[-2:])),
               f"{r['label']} {r['size']} px, downsampled") for r in larges]
    paths = [RESULTS / f"printsize{tag}-side-by-side.png"]
    _strip(tiles, paths[0])
    for r in larges:
        big = r["image"]
        h, w = big.shape[-2:]
        crop = min(512, h, w)
        top, left = (h - crop) // 2, (w - crop) // 2
        up = F.interpolate(preview["image"], size=(h, w), mode="bicubic",
                           align_corners=False).clamp(0, 1)
        path = RESULTS / f"printsize{tag}-crop-{r['label'].replace(' ', '_')}-{r['size']}.png"
        _strip([(up[..., top:top + crop, left:left + crop], "preview upsampled (crop)"),
                (big[..., top:top + crop, left:left + crop],
                 f"{r['label']} {r['size']} px (same crop, full resolution)")], path)
        paths.append(path)
    return [os.path.relpath(p, ROOT) for p in paths]


def _strip(tiles, path: Path) -> None:
    pils = [(images.to_pil(t), label) for t, label in tiles]
    caption = 14
    width = sum(p.width for p, _ in pils) + 8 * (len(pils) - 1)
    canvas = Image.new("RGB", (width, max(p.height for p, _ in pils) + caption), "white")
    draw, x = ImageDraw.Draw(canvas), 0
    for p, label in pils:
        canvas.paste(p, (x, caption))
        draw.text((x + 2, 1), label, fill="black")
        x += p.width + 8
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)


def markdown(meta: dict, rows: list[dict], pics: list[str]) -> str:
    out = [f"# Print-size benchmark{meta['tag_title']}", "",
           f"{meta['started']} - {meta['finished']}; {meta['machine']}; weights "
           f"{meta['weights']}; photo {meta['photo']} ({meta['photo_size']}), style "
           f"{meta['style']} ({meta['style_size']}); steps {meta['steps']}, look_size "
           f"{meta['look_size']}, precision {meta['precision']}.", "",
           f"Scores at a common {meta['eval_size']} px (engine/evaluate.py): style = mean over "
           "relu1_1..relu5_1 of the relative squared Frobenius error of Grams normalised by "
           "H*W; content = relative squared error of relu4_2. Ratios are to the preview's.", "",
           "| render | style error | content error | style / preview | content / preview "
           "| style vs preview | content vs preview | seconds | evaluations | peak GiB "
           "| load avg |", "|" + "---|" * 11]
    base = rows[0]
    for r in rows:
        s = r["scores"]
        cmp = r.get("vs_preview") or {}
        out.append(
            f"| {r['label']} {r['size']} px | {s['style']:.4f} | {s['content']:.4f} | "
            f"{s['style'] / base['scores']['style']:.3f} | "
            f"{s['content'] / base['scores']['content']:.3f} | "
            f"{cmp.get('style', 0):.4f} | {cmp.get('content', 0):.4f} | {r['seconds']} | "
            f"{r['evaluations']} | {r['peak_memory_bytes'] / 2**30:.2f} | {r['loadavg']} |")
    ph = meta["photo_scores"]
    out += [f"| the photo itself (for scale) | {ph['style']:.4f} | {ph['content']:.4f} | | | "
            "| | | | | |", "",
            "Per stage of each render (size, evaluations, seconds):", ""]
    for r in rows:
        stages = ", ".join(f"{s['width']}x{s['height']}: {s['evaluations']} ev "
                           f"{s['seconds']:.0f} s" for s in r["scales"])
        out.append(f"- {r['label']} {r['size']} px: {stages}")
    out += ["", "Pictures: " + ", ".join(f"`{p}`" for p in pics), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    global RESULTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(PHOTO))
    ap.add_argument("--style", default=str(STYLE))
    ap.add_argument("--preview", type=int, default=512, help="preview size (= look size)")
    ap.add_argument("--large", type=int, nargs="+", default=[2048], help="large size(s)")
    ap.add_argument("--eval-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=RenderParams.steps)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baseline", action="store_true",
                    help="also render each large size with look_size 0 (before look sizes)")
    ap.add_argument("--tag", default="", help="suffix for the result files")
    ap.add_argument("--results", default=str(RESULTS), help="where the files go "
                    "(default benchmarks/results)")
    args = ap.parse_args(argv)
    RESULTS = Path(args.results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, args.device)
    biggest = max([args.preview, *args.large])
    photo = images.to_tensor(images.load_image(args.photo, max_side=biggest * 2))
    style = images.to_tensor(images.load_image(args.style, max_side=biggest * 2))
    evaluator = LookEvaluator(engine.encoder(STYLE_LAYERS + (CONTENT_LAYER,)), style, photo,
                              args.eval_size)
    base = RenderParams(steps=args.steps, precision=args.precision, look_size=args.preview)
    rows = [render(engine, photo, style, replace(base, size=args.preview), "preview")]
    for size in args.large:
        rows.append(render(engine, photo, style, replace(base, size=size), "look kept"))
        if args.baseline:
            rows.append(render(engine, photo, style, replace(base, size=size, look_size=0),
                               "no look size"))
    for r in rows:
        r["scores"] = evaluator.score(r["image"]).to_dict()
        if r is not rows[0]:
            r["vs_preview"] = evaluator.compare(r["image"], rows[0]["image"]).to_dict()
        print(r["label"], r["size"], r["scores"]["style"], r["scores"]["content"],
              r.get("vs_preview"), flush=True)
    tag = f"-{args.tag}" if args.tag else ""
    pics = pictures(rows[0], rows[1:], tag)
    meta = {"started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{platform.machine()} ({args.device}), {os.cpu_count()} CPUs, "
                       f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
            "weights": weights.id, "photo": os.path.relpath(args.photo, ROOT),
            "photo_size": "x".join(map(str, photo.shape[-1:-3:-1])),
            "style": os.path.relpath(args.style, ROOT),
            "style_size": "x".join(map(str, style.shape[-1:-3:-1])),
            "steps": args.steps, "look_size": args.preview, "precision": args.precision,
            "eval_size": args.eval_size, "tag_title": f" ({args.tag})" if args.tag else "",
            "photo_scores": evaluator.score(photo).to_dict()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"printsize{tag}.json").write_text(json.dumps(
        {"meta": meta, "rows": [strip(r) for r in rows], "pictures": pics}, indent=1))
    (RESULTS / f"printsize{tag}.md").write_text(markdown(meta, rows, pics))
    print((RESULTS / f"printsize{tag}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
