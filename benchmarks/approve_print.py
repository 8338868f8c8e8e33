"""Approve to print: the print of an approved preview vs a full print render.

In one run, on one device: a preview at --preview px; the approved print at --size px made
from it (only the detail stages above the preview's size); and a full render at --size px
with the same look size (the preview's stages again, then the same detail stages). Reports
the time of each (engine render seconds and wall), the ratio approved/full (target <= 0.6),
and the approved print's style and content error taken down to the preview's size, as a
ratio to the preview's own (target <= 1.1; engine/evaluate.py's LookEvaluator).

    nice -n 15 .venv/bin/python -m benchmarks.approve_print --preview 256 --size 1024

Writes benchmarks/results/approve-print.md (with `uptime` before and after).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from deepart_batch import images
from deepart_batch.approved_preview import read_approval, stamp
from deepart_batch.engine import RenderParams, StyleTransfer
from deepart_batch.engine.evaluate import CONTENT_LAYER, STYLE_LAYERS, LookEvaluator
from deepart_batch.pipeline import (RenderRequest, StyleFile, print_request,
                                    render_request)
from deepart_batch.weights import load_weights

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
RESULTS = ROOT / "benchmarks" / "results"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(engine, weights, req):
    t0 = time.perf_counter()
    image, report = render_request(engine, weights, req)
    return image, report.to_dict(), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preview", type=int, default=256)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(RESULTS / "approve-print.md"))
    a = ap.parse_args()
    load_before = uptime()
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, a.device)
    styles = [StyleFile(str(STYLE), name="starry_night")]
    base = RenderParams(size=a.preview, steps=a.steps, seed=0, precision="fp32")
    tmp = Path(tempfile.mkdtemp())

    preview, prep, t_prev = timed(engine, weights, RenderRequest(str(PHOTO), styles, base))
    path = tmp / "preview.png"
    path.write_bytes(images.encode_image(preview, "PNG"))
    prep["output"]["path"] = str(path)
    (tmp / "preview.json").write_text(json.dumps(stamp(prep, path.read_bytes())))
    approval = read_approval(path, tmp / "preview.json")

    printed, rep, t_print = timed(engine, weights, print_request(approval, a.size, str(path)))
    full_params = replace(base, size=a.size, look_size=a.preview)
    full, frep, t_full = timed(engine, weights, RenderRequest(str(PHOTO), styles, full_params))
    load_after = uptime()

    photo = images.to_tensor(images.load_image(PHOTO))
    style = images.to_tensor(images.load_image(STYLE))
    judge = LookEvaluator(engine.encoder(STYLE_LAYERS + (CONTENT_LAYER,)), style, photo,
                          size=a.preview)
    s_prev, s_print, s_full = (judge.score(images.to_tensor(im))
                               for im in (preview, printed, full))
    r_print, r_full = rep["timings"]["render_seconds"], frep["timings"]["render_seconds"]
    stages = lambda r: ", ".join(f"{s['size']} px x {s['evaluations']}"  # noqa: E731
                                 for s in r["timings"]["scales"])
    lines = [
        "# Approve to print: the print of an approved preview vs a full print render",
        "",
        f"`python -m benchmarks.approve_print --preview {a.preview} --size {a.size} --steps "
        f"{a.steps} --device {a.device}`, tubingen x starry_night, fp32, one run.",
        "",
        f"- load before: `{load_before}`",
        f"- load after:  `{load_after}`",
        "",
        "| render | stages run (size x evaluations) | render s | wall s |",
        "|---|---|---|---|",
        f"| preview {a.preview} px | {stages(prep)} | {prep['timings']['render_seconds']:.1f} "
        f"| {t_prev:.1f} |",
        f"| approved print {a.size} px | {stages(rep)} | {r_print:.1f} | {t_print:.1f} |",
        f"| full {a.size} px, look_size {a.preview} | {stages(frep)} | {r_full:.1f} "
        f"| {t_full:.1f} |",
        "",
        f"**Time, approved / full: {r_print / r_full:.2f}x render ({t_print / t_full:.2f}x "
        f"wall); target <= 0.6x.**",
        "",
        f"Errors at {a.preview} px (LookEvaluator; ratio to the preview's, target <= 1.1):",
        "",
        "| image | style error | ratio | content error | ratio |",
        "|---|---|---|---|---|",
    ]
    for label, s in (("preview", s_prev), ("approved print", s_print), ("full print", s_full)):
        lines.append(f"| {label} | {s.style:.4f} | {s.style / s_prev.style:.3f} | "
                     f"{s.content:.4f} | {s.content / s_prev.content:.3f} |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
