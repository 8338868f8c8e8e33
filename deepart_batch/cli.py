"""Command line: thin wrappers that parse arguments and hand over to the modules below."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DeepartError, ParamsError

PROG = "deepart-batch"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t for t in (x.strip() for x in text.split(",")) if t)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.25,0.5,1, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 200,80,20, got {text!r}") from None


def _layer_weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER=WEIGHT, got {text!r}") from None


def _add_render(sub) -> None:
    from .engine import RenderParams
    d = RenderParams()
    p = sub.add_parser("render", help="restyle one photo (try a style)",
                       description="Restyle CONTENT with one or more STYLE images and write "
                                   "OUT plus OUT.json (the loss report).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("content", help="content photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s); several are blended")
    p.add_argument("-o", "--output", required=True, help="output image: .png, .jpg or .webp")
    p.add_argument("--blend", type=float, nargs="+", metavar="W",
                   help="blend weight per style image (default: equal)")
    p.add_argument("--size", type=int, default=d.size, help="output long side in pixels")
    p.add_argument("--steps", type=int, default=d.steps, help="optimisation steps (loss evaluations)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=d.optimizer)
    p.add_argument("--learning-rate", type=float, default=None,
                   help="step size (default 1.0 for lbfgs, 0.02 for adam)")
    p.add_argument("--content-weight", type=float, default=d.content_weight)
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument("--tv-weight", type=float, default=d.tv_weight)
    p.add_argument("--content-layers", type=_csv, default=d.content_layers,
                   help="comma-separated, e.g. relu4_2 or the tutorial's conv_4")
    p.add_argument("--style-layers", type=_csv, default=d.style_layers,
                   help="comma-separated, e.g. relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    p.add_argument("--layer-weight", type=_layer_weight, action="append", default=[],
                   metavar="LAYER=W", help="extra weight for one layer (repeatable)")
    p.add_argument("--style-scale", type=float, default=d.style_scale,
                   help="style image long side relative to --size")
    p.add_argument("--init", default="content",
                   help="content, noise, or the path of an image to start from")
    p.add_argument("--preserve-color", nargs="?", const="luminance", default="none",
                   choices=("none", "luminance", "match"),
                   help="keep the photo's colours: luminance-only transfer, or match the "
                        "style's colours to the photo first")
    p.add_argument("--scales", type=_floats, default=d.scales,
                   help="coarse-to-fine schedule: fractions of --size ending at 1 "
                        "(1 = single scale)")
    p.add_argument("--scale-steps", type=_ints, default=None,
                   help="evaluations per scale, summing to --steps (default: the engine's split)")
    p.add_argument("--look-size", type=int, default=d.look_size,
                   help="long side the look (composition, stroke scale) is set at, capped at "
                        "the photo's; larger --size renders this preview first, then add "
                        "detail above it without changing the look. Raise it for a finer "
                        "pattern across the print, lower it for larger strokes; 0 renders "
                        "straight at --size")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "tf32"), default=d.precision,
                   help="auto: bf16 where the device runs it fast, TF32 on CUDA, else fp32")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (CPU runs repeat exactly)")
    p.add_argument("--log-every", type=int, default=d.log_every, help="trace/progress interval")
    p.add_argument("--weights", default="bundled",
                   help="bundled (offline Caffe VGG19), torchvision, or a state-dict path")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--quality", type=int, default=92, help="JPEG/WebP quality")
    p.add_argument("--max-pixels", type=int, default=50_000_000,
                   help="refuse inputs with more pixels (decompression-bomb guard)")
    p.set_defaults(func=cmd_render)


def _add_weights(sub) -> None:
    p = sub.add_parser("weights", help="decode and cache VGG19 weights; print their id",
                       description="Load the weights once (decoding and caching the bundled "
                                   "file) and print the source, sha256 and cache directory.")
    p.add_argument("--weights", default="bundled")
    p.set_defaults(func=cmd_weights)


def _add_daemon_commands(sub) -> None:
    w = sub.add_parser("watch", help="run the hot-folder daemon (systemd service)",
                       description="Watch the inbox and render every settled file until "
                                   "SIGTERM/SIGINT; then drain running jobs and exit 0.")
    w.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    w.set_defaults(func=cmd_watch)
    r = sub.add_parser("run", help="render everything in the inbox, then exit (cron/timer)",
                       description="Take every file present in the inbox, render it, print a "
                                   "summary and exit: 0 if all succeeded, 1 if some failed.")
    r.add_argument("--config", required=True)
    r.add_argument("--once", action="store_true", required=True,
                   help="process what is present and exit (required)")
    r.set_defaults(func=cmd_run)
    st = sub.add_parser("status", help="job counts, devices, running jobs, recent failures")
    st.add_argument("--config", required=True)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    v = sub.add_parser("validate", help="check the config and the manifest; exit 0 or 2")
    v.add_argument("--config", required=True)
    v.set_defaults(func=cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Gatys neural style transfer "
                                     "for render boxes: one-off renders and a hot-folder daemon.")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_render(sub)
    _add_daemon_commands(sub)
    _add_weights(sub)
    return parser


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"--device {name}: no CUDA device is available here; use cpu")
    return name


def cmd_render(args) -> int:
    from loguru import logger

    from . import images
    from .engine import RenderParams, StyleTransfer
    from .paths import atomic_write_bytes, atomic_write_json
    from .pipeline import RenderRequest, StyleFile, render_request
    from .progress import progress_reporter
    from .resolution import upsample_warning
    from .weights import load_weights

    out = Path(args.output)
    fmt = images.output_format(out)
    if args.blend and len(args.blend) != len(args.styles):
        raise ParamsError(f"--blend gives {len(args.blend)} weights for "
                          f"{len(args.styles)} style images")
    init, init_image = args.init, None
    if init not in ("content", "noise"):
        init, init_image = "image", args.init
    params = RenderParams(
        size=args.size, steps=args.steps, optimizer=args.optimizer,
        learning_rate=args.learning_rate, content_layers=args.content_layers,
        style_layers=args.style_layers, layer_weights=dict(args.layer_weight),
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, style_scale=args.style_scale, init=init,
        preserve_color=args.preserve_color, seed=args.seed, log_every=args.log_every,
        scales=args.scales, scale_steps=args.scale_steps, precision=args.precision,
        look_size=args.look_size,
    ).validated()
    blend = args.blend or [1.0] * len(args.styles)
    for w in blend:
        if w < 0:
            raise ParamsError(f"--blend weights must be >= 0, got {w}")
    request = RenderRequest(content=args.content,
                            styles=[StyleFile(s, w) for s, w in zip(args.styles, blend)],
                            params=params, init_image=init_image,
                            max_input_pixels=args.max_pixels)
    for path in [args.content, *args.styles] + ([init_image] if init_image else []):
        images.probe(path, args.max_pixels)  # fail on bad input before loading weights
    width, height, _ = images.probe(args.content, args.max_pixels)
    if (warning := upsample_warning(params.size, max(width, height), args.content)):
        logger.warning(warning)
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
    logger.info("wrote {} and {} (loss {:.4g} -> {:.4g}, {:.1f} s)", out, report_path,
                report.trace[0]["total"] if report.trace else report.final["total"],
                report.final["total"], report.timings["render_seconds"])
    return 0


def cmd_weights(args) -> int:
    from .weights import cache_dir, load_weights
    w = load_weights(args.weights)
    print(f"source: {w.source}\nsha256: {w.sha256}\nid: {w.id}\n"
          f"preprocessing: {w.preprocessing}\ncache: {cache_dir()}")
    return 0


def _daemon_logging(config, cli_level: str | None) -> None:
    from .ops.logsetup import configure_logging
    lg = config.logging
    configure_logging(cli_level or lg.level, json_file=lg.json_file, rotation=lg.rotation,
                      retention=lg.retention)


def _serve(args, once: bool) -> int:
    from .config import load_config
    from .daemon.service import AlreadyRunning, Service
    config = load_config(args.config)
    _daemon_logging(config, args.log_level if args.log_level != "INFO" else None)
    try:
        service = Service(config, once=once)
    except AlreadyRunning as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 75
    code = service.run()
    if once:
        _flush_logs()
        print(_summary(service, config), file=sys.stderr)
    return code


def _summary(service, config) -> str:
    s = service.summary
    lines = ["", "deepart-batch run --once: summary",
             f"  inputs done   {s.inputs_done:>5}   (archived in {config.state_dir}/done)",
             f"  inputs failed {s.inputs_failed:>5}   (archived in {config.state_dir}/failed)",
             f"  jobs rendered {s.jobs_done:>5}   -> {config.outbox}",
             f"  jobs failed   {s.jobs_failed:>5}",
             f"  duplicates    {s.duplicates:>5}   (identical re-drops, not rendered again)"]
    for message in s.failures[:10]:
        lines.append(f"  ! {message}")
    if len(s.failures) > 10:
        lines.append(f"  ... and {len(s.failures) - 10} more (deepart-batch status)")
    return "\n".join(lines)


def cmd_watch(args) -> int:
    return _serve(args, once=False)


def cmd_run(args) -> int:
    return _serve(args, once=True)


def cmd_status(args) -> int:
    import json
    from .config import load_config
    from .daemon.status import collect, render_text
    info = collect(load_config(args.config))
    print(json.dumps(info, indent=2) if args.json else render_text(info))
    return 0


def cmd_validate(args) -> int:
    from .config import check_config
    from .manifest import check_manifest, load_manifest
    from .resolution import inbox_warnings
    config, problems = check_config(args.config)
    if config is not None:
        problems += check_manifest(config.manifest, config.styles_dir, config)
    for problem in problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    for warning in inbox_warnings(config, load_manifest(config.manifest, config.styles_dir,
                                                        config)):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: OK (manifest {config.manifest} OK)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .ops.logsetup import configure_logging
    configure_logging(args.log_level.upper())
    try:
        return args.func(args)
    except DeepartError as exc:
        _flush_logs()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _flush_logs()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _flush_logs() -> None:
    """Log sinks are enqueued (written by a background thread): let them drain first, so
    the error is the last line a person or a script reads."""
    from loguru import logger
    logger.complete()


if __name__ == "__main__":
    sys.exit(main())
