"""Benchmark output: the markdown summary and the side-by-side comparison image."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from deepart_batch import images


def side_by_side(left: torch.Tensor, right: torch.Tensor, path: Path,
                 labels: tuple[str, str]) -> None:
    """Both images at their own size, 8 px apart, each captioned; written as PNG."""
    a, b = images.to_pil(left), images.to_pil(right)
    caption = 14
    canvas = Image.new("RGB", (a.width + 8 + b.width, max(a.height, b.height) + caption),
                       "white")
    canvas.paste(a, (0, caption))
    canvas.paste(b, (a.width + 8, caption))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), labels[0], fill="black")
    draw.text((a.width + 10, 1), labels[1], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)


def _s(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _gib(n):
    return "-" if n is None else f"{n / 2**30:.2f}"


def _evals(rows) -> list[str]:
    modes = ["fp32", "channels_last", "bf16"] + \
        (["tf32"] if any("floor_tf32" in r for r in rows) else [])
    head = ["(a) seed tutorial"] + [f"({k}) {w} {m}" for m in modes
                                    for k, w in (("b", "floor"), ("c", "engine"))]
    out = ["## Seconds per evaluation (min over repeats)", "",
           "| size (HxW) | " + " | ".join(head) + " | load avg |",
           "|" + "---|" * (len(head) + 2)]
    for r in rows:
        cells = [_s(r.get("tutorial"), 4)] + [_s(r.get(f"{w}_{m}"), 4) for m in modes
                                              for w in ("floor", "engine")]
        out.append(f"| {r['size']} ({r['shape'][0]}x{r['shape'][1]}) | " + " | ".join(cells)
                   + f" | {r['loadavg']} |")
    out += ["", "(a) is the seed tutorial (net cut after conv_5 = conv3_1, so it is cheaper "
            "than a relu5_1 trunk); (b) torchvision VGG19 features to relu5_1, forward + "
            "input-gradient backward; (c) one engine evaluation inside L-BFGS (default "
            "layers, to relu5_1), including Gram matrices, losses and optimiser overhead.", ""]
    return out


_RUN_LABELS = {"reference": "reference (1 scale, fp32)",
               "default": "default (shipped budget)",
               "default_continued": "default scales, full size continued",
               "single_scale_auto": "1 scale, auto precision",
               "single_scale_tf32": "1 scale, tf32"}


def _converge(c: dict, title: str) -> list[str]:
    runs = c.get("runs", {})
    out = [f"## {title}", "",
           f"Reference: this engine, single scale, fp32, L-BFGS, "
           f"{c['reference_evaluations']} evaluations at {c['size']} px: "
           f"{_s(c['reference_seconds'], 1)} s, final full-size fp32 loss (target) "
           f"{c['target_loss']:.6g} (load avg {c['reference_loadavg']}).", "",
           f"Default configuration {c['default_params']}, resolved precision "
           f"{c['default_precision']}: {_s(c['default_seconds'], 1)} s in all, final loss "
           f"{c['default_final_loss']:.6g} (load avg {c['default_loadavg']}).", "",
           "| metric | value |", "|---|---|",
           f"| wall seconds until full-size loss <= target (default scales, full size "
           f"continued) | {_s(c['seconds_to_target'], 1)} |",
           f"| evaluations until then (all scales) | {c['evaluations_to_target']} |",
           f"| **ratio to reference wall time (goal <= 0.25)** | **{_s(c['ratio'])}** |",
           f"| full-size-equivalent evaluations until then / reference evaluations "
           f"(load-independent) | {_s(c['equivalent_ratio'])} |",
           f"| reference evaluations to reach the default's final loss | "
           f"{c['reference_evaluations_to_default_final']} |",
           f"| reference seconds to reach the default's final loss | "
           f"{_s(c.get('reference_seconds_to_default_final'), 1)} |",
           f"| default final loss / target | {_s(c.get('default_final_over_target'))} |",
           f"| default wall time / reference wall time | "
           f"{_s(c.get('default_seconds_over_reference'))} |",
           f"| single scale, auto precision: ratio to reference wall time | "
           f"{_s(c.get('single_scale_auto_ratio'))} |"] + \
        ([f"| single scale, tf32: ratio to reference wall time | "
          f"{_s(c.get('single_scale_tf32_ratio'))} |"] if "single_scale_tf32" in runs else []) \
        + [""]
    if c.get("tolerances"):
        names = [n for n in _RUN_LABELS if n in runs]
        out += ["Seconds to reach a loss level (x target), and / reference wall time; "
                "'-' = not reached. Runs after the reference stop at the target.", "",
                "| loss <= | " + " | ".join(_RUN_LABELS[n] for n in names) + " |",
                "|---|" + "---|" * len(names)]
        for row in c["tolerances"]:
            cells = [("-" if row.get(n) is None else
                      f"{row[n]['seconds']:.1f} s ({row[n]['ratio']:.3f}), "
                      f"{row[n]['evaluations']} ev") for n in names]
            out.append(f"| {row['tolerance']:g}x | " + " | ".join(cells) + " |")
        out += ["", "Runs: " + "; ".join(
            f"{_RUN_LABELS[n]}: {r['precision']}, {r['evaluations']} evals, "
            f"{r['seconds']:.1f} s, last loss {r['last_loss']:.4g}, load {r['loadavg']}"
            for n, r in runs.items()), ""]
    out += ["Per scale: " + ", ".join(f"{t['width']}x{t['height']}: {t['evaluations']} evals "
                                      f"in {t['seconds']} s"
                                      for t in c["default_scale_timings"]), "",
            f"Side by side (reference left, default right): `{c['image']}`", ""]
    return out


def _solver(rows) -> list[str]:
    out = ["## Solver: this L-BFGS against torch.optim.LBFGS (seconds per evaluation)", "",
           "| size | device | precision | evaluations | torch min / median | ours min / "
           "median | torch (again) median | ours (again) median | torch / ours (median) | "
           "final loss torch / ours |", "|" + "---|" * 10]
    for r in rows:
        t, o = r["torch"], r["ours"]
        out.append(f"| {r['size']} | {r['device']} | {r['precision']} | {r['steps']} | "
                   f"{t['min']:.4f} / {t['median']:.4f} | {o['min']:.4f} / {o['median']:.4f} | "
                   f"{r['torch_again']['median']:.4f} | {r['ours_again']['median']:.4f} | "
                   f"{r['median_ratio_torch_over_ours']:.2f} | "
                   f"{t['final_loss']:.4g} / {o['final_loss']:.4g} |")
    out += ["", "Same algorithm (torch's direction, first step and strong Wolfe line search); "
            "ours keeps the two-loop coefficients on the device instead of reading each one "
            "back as a Python number. Runs alternate torch, ours, torch, ours.", ""]
    return out


def _memory(rows) -> list[str]:
    out = ["## Peak memory (default configuration, one fresh process per size)", "",
           "| size | HxW | precision | measured peak (GiB) | + L-BFGS history not yet "
           "filled (GiB) | projected peak, full history (GiB) | estimate (GiB) | "
           "process max RSS (GiB) | seconds |", "|" + "---|" * 9]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['size']} | error: {r['error']} |" + " |" * 7)
            continue
        out.append(f"| {r['size']} | {r['shape'][0]}x{r['shape'][1]} | {r['precision']} "
                   f"| {_gib(r['peak_memory_bytes'])} | {_gib(r['lbfgs_history_missing_bytes'])} "
                   f"| {_gib(r['projected_full_history_peak_bytes'])} "
                   f"| {_gib(r['estimate_bytes'])} | {_gib(r['process_max_rss_bytes'])} "
                   f"| {_s(r['seconds'], 1)} |")
    out += ["", "Measured peak = the render's peak growth of the process resident set "
            "(sampled every 5 ms; `peak_memory_method` rss_growth_sampled). Each run does "
            f"{rows[0].get('final_stage_evaluations', '?') if rows else '?'} evaluations at "
            "the full size, so L-BFGS has not stored its whole history yet; the projected "
            "column adds the missing 2 x history x pixels x 3 x 4 bytes.", ""]
    return out


def markdown(results: dict) -> str:
    m = results["meta"]
    out = [f"# Engine benchmark ({m['mode']})", "",
           f"{m['started']} - {m['finished']}; {m.get('device_name', m['machine'])} "
           f"({m.get('device', 'cpu')}), {m['cpus']} CPUs, torch "
           f"{m['torch']} ({m['threads']} threads, CPU capability {m['cpu_capability']}); "
           f"weights {m['weights']}; inputs {' x '.join(m['inputs'])}.", "",
           f"Note: {m['seed_baseline']}. The CPU is shared with other work: timings are "
           "minima over repeats and the load average is given next to wall times.", ""]
    if m.get("earlier_sections_from"):
        out += [f"Sections not re-run (--merge) are from the run started "
                f"{m['earlier_sections_from']}.", ""]
    if "evals" in results:
        out += _evals(results["evals"])
    if "solver" in results:
        out += _solver(results["solver"])
    if "converge" in results:
        out += _converge(results["converge"], f"Time to the reference's loss at "
                                              f"{results['converge']['size']} px")
    if "converge_1024" in results:
        out += _converge(results["converge_1024"], "Time to the reference's loss at 1024 px "
                         "(reduced reference budget)")
    if "memory" in results:
        out += _memory(results["memory"])
    return "\n".join(out) + "\n"
