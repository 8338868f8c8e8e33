"""Detail-stage variants (issue 23): cheaper evaluations above the look size, same print?

In one run, on one device: a preview at --preview px (= the look size), then the approved
print at --size px made from it (only the detail stages, engine/print_from_preview.py) once per
variant of the detail stages' content term. Each print is scored with the engine's look
evaluator (engine/evaluate.py) at its full size (style vs the style image, content vs the
photo; ratio to the current engine's print) and taken down to the preview's size (ratio to
the preview's). Time: the detail stages' render seconds; the approved/full ratio is
estimated as D / (P + D) with P the preview's seconds (a full render runs the preview's
stages, then the same detail stages).

    .venv/bin/python -m benchmarks.studies.detail_study --preview 128 --size 512 --steps 100
    .venv/bin/python -m benchmarks.studies.detail_study --per-eval --preview 256 --size 1024

Variants (engine/look.py detail_params): "current" (the render's content layers, relu4_2 by
default), content on relu3_1 or relu2_1 at the detail stages (weight x1 or x10), or no
content term there. --per-eval times one detail evaluation per variant instead.
Results: benchmarks/studies/results/detail-stages.md (none adopted).
The engine's encoder stops at the deepest layer a stage reads, so a shallower content layer
shortens the full-resolution forward and backward pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

from deepart_batch import images
from deepart_batch.engine import RenderParams, StyleInput, StyleTransfer, look
from deepart_batch.engine.evaluate import CONTENT_LAYER, STYLE_LAYERS, LookEvaluator
from deepart_batch.weights import load_weights

PHOTO = ROOT / "examples" / "photos" / "tubingen.jpg"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"

ORIGINAL = look.detail_params


def variant(content_layers, scale=1.0):
    """detail_params with the detail stages' content layers replaced (None: unchanged) and
    their content weight multiplied by `scale`."""
    def detail_params(p, stage_size):
        sp = ORIGINAL(p, stage_size)
        if content_layers is None:
            return sp
        weights = {k: v for k, v in sp.layer_weights.items() if k in sp.style_layers}
        return replace(sp, content_layers=tuple(content_layers), layer_weights=weights,
                       content_weight=sp.content_weight * scale)
    return detail_params


VARIANTS = {"current (relu4_2)": (None,), "content relu3_1": (("relu3_1",),),
            "content relu2_1": (("relu2_1",),), "no content": ((),),
            "content relu3_1 x10": (("relu3_1",), 10.0),
            "content relu2_1 x10": (("relu2_1",), 10.0)}


def per_evaluation(engine, photo, style, a) -> None:
    """Seconds of one detail-stage evaluation (value and gradient, look term included) at
    --size, per variant, interleaved round by round so that load drift hits all alike;
    the median of --rounds."""
    from deepart_batch.engine.graphs import EagerStep
    from deepart_batch.engine.optimize import resize_long_side
    p = RenderParams(size=a.size, seed=0, precision="fp32", look_size=a.preview).validated()
    content = resize_long_side(photo, a.size)
    look_image = resize_long_side(photo, a.preview)
    steps = {}
    for name in a.variants:
        look.detail_params = variant(*VARIANTS[name])
        try:
            steps[name] = EagerStep(look.detail_objective(engine, content, [StyleInput(style)],
                                                          p, "fp32", look_image))
        finally:
            look.detail_params = ORIGINAL
    x = content.clone()
    times = {name: [] for name in steps}
    before = uptime()
    for _ in range(a.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(x)
            times[name].append(time.perf_counter() - t0)
    after = uptime()
    ref = sorted(times[a.variants[0]])[a.rounds // 2]
    print(f"one detail evaluation at {a.size} px ({tuple(content.shape[-2:])}), median of "
          f"{a.rounds} interleaved rounds; load before `{before}`, after `{after}`")
    for name, t in times.items():
        med = sorted(t)[a.rounds // 2]
        print(f"| {name} | {med:.2f} s | {med / ref:.2f}x | {', '.join(f'{v:.2f}' for v in t)} |")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preview", type=int, default=128)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", nargs="*", default=[*list(VARIANTS)[:4], "current (relu4_2)"],
                    help="in this order; the current engine last again shows load drift")
    ap.add_argument("--out", default="")
    ap.add_argument("--per-eval", action="store_true",
                    help="only time one detail evaluation per variant at --size")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    load_before = uptime()
    weights = load_weights("bundled")
    engine = StyleTransfer(weights.conv, weights.preprocessing, a.device)
    photo = images.to_tensor(images.load_image(PHOTO, max_side=a.size * 2))
    style = images.to_tensor(images.load_image(STYLE, max_side=a.size * 2))
    styles = [StyleInput(style)]
    if a.per_eval:
        return per_evaluation(engine, photo, style, a)
    base = RenderParams(size=a.preview, steps=a.steps, seed=0, precision="fp32")
    t0 = time.perf_counter()
    prev = engine.render(photo, styles, base)
    t_prev = prev.seconds
    preview = (prev.image * 255).round() / 255  # as the approved PNG holds it
    print(f"preview {a.preview}: {t_prev:.1f} s", flush=True)
    enc = engine.encoder(STYLE_LAYERS + (CONTENT_LAYER,))
    small = LookEvaluator(enc, style, photo, size=a.preview)
    big = LookEvaluator(enc, style, photo, size=a.size)
    s_prev = small.score(preview)
    rows = []
    params = replace(base, size=a.size, look_size=a.preview)
    for layers, *_ in VARIANTS.values():  # built once per layer set, as a worker's warm-up does
        engine.encoder((base.content_layers if layers is None else layers)
                       + look.DETAIL_STYLE_LAYERS, base.pooling,
                       engine._use_channels_last("fp32"))
    for name in a.variants:
        look.detail_params = variant(*VARIANTS[name])
        try:
            load0 = uptime().split("load average: ")[1]
            r = engine.render(photo, styles, params, look_side=a.preview, approved=preview)
        finally:
            look.detail_params = ORIGINAL
        fs, ss, vs = big.score(r.image), small.score(r.image), small.compare(r.image, preview)
        rows.append({"variant": name, "seconds": r.seconds, "evaluations": r.evaluations,
                     "stages": [(t["size"], t["evaluations"], t["seconds"])
                                for t in r.scale_timings],
                     "full_style": fs.style, "full_content": fs.content,
                     "full_per_layer": fs.style_per_layer,
                     "look_style": ss.style, "look_content": ss.content,
                     "vs_preview_style": vs.style, "vs_preview_content": vs.content,
                     "load": load0})
        print(json.dumps(rows[-1]), flush=True)
    load_after = uptime()
    ref = rows[0]
    lines = [f"`python -m benchmarks.studies.detail_study --preview {a.preview} --size {a.size} --steps "
             f"{a.steps} --device {a.device}`, tubingen x starry_night, fp32, one run "
             f"({time.perf_counter() - t0:.0f} s).", "",
             f"- load before: `{load_before}`", f"- load after:  `{load_after}`", "",
             f"Preview {a.preview} px: {t_prev:.1f} s; style {s_prev.style:.4f}, content "
             f"{s_prev.content:.4f} at {a.preview} px.", "",
             f"| detail-stage variant | detail s | est. approved/full | style @{a.size} "
             f"| x current | content @{a.size} | x current | style @{a.preview} | x preview "
             f"| content @{a.preview} | x preview | vs preview (style, content) |",
             "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['seconds']:.1f} | "
            f"{r['seconds'] / (t_prev + r['seconds']):.2f} | {r['full_style']:.4f} | "
            f"{r['full_style'] / ref['full_style']:.3f} | {r['full_content']:.4f} | "
            f"{r['full_content'] / ref['full_content']:.3f} | {r['look_style']:.4f} | "
            f"{r['look_style'] / s_prev.style:.3f} | {r['look_content']:.4f} | "
            f"{r['look_content'] / s_prev.content:.3f} | {r['vs_preview_style']:.4f}, "
            f"{r['vs_preview_content']:.4f} |")
    lines += ["", "Stages (size, evaluations, seconds) and load at each print's start:", ""]
    lines += [f"- {r['variant']}: {r['stages']}; load {r['load']}" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
