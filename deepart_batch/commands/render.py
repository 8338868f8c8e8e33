"""`deepart-batch render` (restyle one photo) and `deepart-batch weights` (cache them).

torch is imported inside the handlers only, and `render` imports it after every input and
parameter is checked: `render --help`, a bad argument or a bad file answer at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ParamsError
from .render_regions import add_region_options, check_mask_early, parse_regions, style_names
from .options import (HelpFormatter, add_device_option, add_output_options, add_param_options,
                      add_weights_option, params_from_args)


def add_commands(sub) -> None:
    p = sub.add_parser("render", help="restyle one photo (try a style)",
                       description="Restyle CONTENT with one or more STYLE images and write "
                                   "OUT plus OUT.json (the loss report).",
                       formatter_class=HelpFormatter)
    p.add_argument("content", help="content photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s); several are blended")
    p.add_argument("-o", "--output", required=True, help="output image: .png, .jpg or .webp")
    p.add_argument("--blend", type=float, nargs="+", metavar="W",
                   help="blend weight per style image (default: equal)")
    add_region_options(p)
    add_param_options(p)
    add_weights_option(p)
    add_device_option(p)
    add_output_options(p)
    p.set_defaults(func=cmd_render)
    w = sub.add_parser("weights", help="decode and cache VGG19 weights; print their id",
                       description="Load the weights once (decoding and caching the bundled "
                                   "file) and print the source, sha256 and cache directory.",
                       formatter_class=HelpFormatter)
    add_weights_option(w)
    w.set_defaults(func=cmd_weights)


def _check_blend_count(args) -> None:
    if args.blend and len(args.blend) != len(args.styles):
        raise ParamsError(f"--blend gives {len(args.blend)} weights for "
                          f"{len(args.styles)} style images")


def _blend_weights(args) -> list[float]:
    """One weight per style image, refused when negative or all zero."""
    blend = args.blend or [1.0] * len(args.styles)
    for w in blend:
        if w < 0:
            raise ParamsError(f"--blend weights must be >= 0, got {w}")
    if args.blend and sum(blend) <= 0:
        raise ParamsError("--blend weights are all zero; give at least one style a weight > 0")
    return blend


def cmd_render(args) -> int:
    from loguru import logger

    from .. import images
    from ..paths import atomic_write_bytes, atomic_write_json
    from ..progress import progress_reporter
    from ..resolution import upsample_warning
    from ..weights import load_weights
    from .device import resolve_device

    out = Path(args.output)
    fmt = images.output_format(out)
    _check_blend_count(args)
    params, init_image = params_from_args(args)
    params = params.validated()
    blend = _blend_weights(args)
    if args.blend and abs(sum(blend) - 1) > 1e-6:
        logger.warning("--blend weights sum to {:g}, not 1; they are scaled to {}", sum(blend),
                       ", ".join(f"{w / sum(blend):.3g}" for w in blend))
    regions = parse_regions(args)
    for path in [args.content, *args.styles] + ([init_image] if init_image else []):
        require_regular_file(path)           # a FIFO or device would block the read forever
        images.probe(path, args.max_pixels)  # fail on bad input before loading torch
    width, height, _ = images.probe(args.content, args.max_pixels, images.MIN_PHOTO_SIDE)
    if args.mask:
        logger.info("regions from {}: {}", args.mask,
                    check_mask_early(args, regions, args.max_pixels))
    if (warning := upsample_warning(params.size, max(width, height), args.content)):
        logger.warning(warning)
    from ..engine import StyleTransfer
    from ..pipeline import RenderRequest, StyleFile, render_request
    names = style_names(args.styles) if args.mask else [None] * len(args.styles)
    request = RenderRequest(content=args.content,
                            styles=[StyleFile(s, w, n)
                                    for s, w, n in zip(args.styles, blend, names)],
                            params=params, init_image=init_image,
                            max_input_pixels=args.max_pixels, mask=args.mask,
                            regions=regions)
    weights = load_weights(args.weights)
    device = resolve_device(args.device)
    engine = StyleTransfer(weights.conv, weights.preprocessing, device)
    logger.info("rendering {} with {} at {} px, {} steps on {}", args.content,
                ", ".join(args.styles), params.size, params.steps, device)
    with progress_reporter(params.steps, label=out.name) as callback:
        image, report = render_request(engine, weights, request, callback=callback)
    atomic_write_bytes(out, images.encode_image(image, fmt, args.quality))
    report.output.update(path=str(out), format=fmt)
    report_path = out.with_suffix(".json")
    atomic_write_json(report_path, report.to_dict())
    logger.info("wrote {} and {} ({}, {:.1f} s)", out, report_path,
                _loss_summary(report, params), report.timings["render_seconds"])
    if report.regions:
        for r in report.regions["regions"]:
            loss = "kept" if r["keep"] else f"loss {r['final_loss'] or 0:.4g}"
            logger.info("region {}: {:.0%} of the photo, {}", r["name"], r["area"], loss)
    return 0


def _loss_summary(report, params) -> str:
    first = report.trace[0]["total"] if report.trace else report.final["total"]
    last = report.trace[-1]["total"] if report.trace else report.final["total"]
    if params.preserve_color == "luminance":
        return (f"loss of the optimised image {first:.4g} -> {last:.4g}; of the output "
                f"after restoring the photo's colours {report.final['total']:.4g}")
    return f"loss {first:.4g} -> {report.final['total']:.4g}"


def require_regular_file(path: str) -> None:
    """Refuse FIFOs, devices and folders before anything opens them."""
    import stat
    from ..errors import ImageError
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return                               # images.probe says "not found" with the hint
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)"
                if stat.S_ISFIFO(mode) else "a device or socket")
        raise ImageError(f"{path}: not a regular file ({kind}); give a photo file")


def cmd_weights(args) -> int:
    from ..weights import cache_dir, load_weights
    w = load_weights(args.weights)
    print(f"source: {w.source}\nsha256: {w.sha256}\nid: {w.id}\n"
          f"preprocessing: {w.preprocessing}\ncache: {cache_dir()}")
    return 0
