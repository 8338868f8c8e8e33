"""Command line: thin wrappers that parse arguments and hand over to the modules below."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
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


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not already say the default and there is
    one to say: no "(default: equal) (default: None)"."""

    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if "default" in text or default is None or default is False or \
                default is argparse.SUPPRESS or default == [] or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def _add_render(sub) -> None:
    from .engine import RenderParams
    d = RenderParams()
    p = sub.add_parser("render", help="restyle one photo (try a style)",
                       description="Restyle CONTENT with one or more STYLE images and write "
                                   "OUT plus OUT.json (the loss report).",
                       formatter_class=_HelpFormatter)
    p.add_argument("content", help="content photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s); several are blended")
    p.add_argument("-o", "--output", required=True, help="output image: .png, .jpg or .webp")
    p.add_argument("--blend", type=float, nargs="+", metavar="W",
                   help="blend weight per style image (default: equal)")
    p.add_argument("--size", type=int, default=d.size, help="output long side in pixels")
    p.add_argument("--steps", type=int, default=d.steps, help="optimisation steps (loss evaluations)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=d.optimizer,
                   help="lbfgs (Gatys; converges in few evaluations) or adam (cheaper steps, "
                        "needs more of them)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="step size (default 1.0 for lbfgs, 0.02 for adam)")
    p.add_argument("--content-weight", type=float, default=d.content_weight,
                   help="weight of the photo's content loss (>= 0): higher keeps more of it")
    p.add_argument("--style-weight", type=float, default=d.style_weight,
                   help="weight of the paintings' style (Gram) loss (>= 0): higher paints more")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight,
                   help="total-variation weight (>= 0): higher smooths away speckle")
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
                   help="auto: bf16 convolutions where the device runs them natively (CPUs "
                        "with AVX512-BF16 or AMX, CUDA compute capability 8.0+), else fp32; "
                        "tf32: TF32 convolutions on CUDA 8.0+ (fp32 elsewhere)")
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
    p.add_argument("--weights", default="bundled",
                   help="bundled (offline Caffe VGG19), torchvision, or a state-dict path "
                        "(default: bundled)")
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
    r.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    r.add_argument("--once", action="store_true", required=True,
                   help="process what is present and exit (required)")
    r.set_defaults(func=cmd_run)
    st = sub.add_parser("status", help="job counts, devices, running jobs, recent failures")
    st.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    rt = sub.add_parser("retry", help="put failed photos back; re-render done ones (--force)",
                        description="Put failed photos back into the inbox (from failed/), so "
                                    "the running daemon or the next run --once renders them; "
                                    "their problem notes and .error.json go. Held photos are "
                                    "tried at once. --force renders done ones again, next to "
                                    "the old outputs. Works while watch runs.")
    rt.add_argument("job", nargs="?", type=int, metavar="JOB_ID", help="a job id from status")
    rt.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    rt.add_argument("--photo", metavar="NAME", help="name, inbox path or pattern (city/*.jpg)")
    rt.add_argument("--all-failed", action="store_true", help="every failed photo")
    rt.add_argument("--since", metavar="TIME", help="failed (or with --force, done) since "
                                                    "TIME: 2026-11-27T09:00, or 30m, 2h, 1d")
    rt.add_argument("--force", action="store_true", help="also render done photos again")
    rt.set_defaults(func=cmd_retry)
    rj = sub.add_parser("repair-journal", help="move a damaged journal aside and rebuild it "
                        "from state_dir/work, done and failed",
                        description="For a journal.sqlite that is truncated, overwritten or "
                                    "lost (the daemon also does this by itself at start-up). "
                                    "Photos in work/ are claimed again; done/ and failed/ "
                                    "become the history. Refuses while a daemon runs.")
    rj.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    rj.add_argument("--force", action="store_true",
                    help="rebuild even when the journal opens fine")
    rj.set_defaults(func=cmd_repair_journal)
    v = sub.add_parser("validate", help="check the config and the manifest; exit 0 or 2")
    v.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    v.set_defaults(func=cmd_validate)
    pr = sub.add_parser("prune", help="remove archived originals and journal rows of old, "
                                      "finished inputs",
                        description="Remove, for every input that finished (done or failed) "
                                    "more than --older-than ago, its archived original in "
                                    "state_dir/done or failed and its journal rows. Unfinished "
                                    "inputs and the outbox are never touched. The daemon does "
                                    "the same by itself when the config sets "
                                    "retention.older_than.")
    pr.add_argument("--config", required=True, help="config YAML (see config.example.yaml)")
    pr.add_argument("--older-than", metavar="AGE",
                    help="age like 30d, 12h or '2 weeks' (default: retention.older_than "
                         "from the config)")
    pr.add_argument("--dry-run", action="store_true",
                    help="say what would be removed, remove nothing")
    pr.set_defaults(func=cmd_prune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Gatys neural style transfer "
                                     "for render boxes: one-off renders and a hot-folder daemon.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO",
                        help="DEBUG, INFO, WARNING or ERROR (default: INFO; the daemon "
                             "commands use logging.level from the config unless given)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_render(sub)
    _add_daemon_commands(sub)
    _add_weights(sub)
    from .gallery.commands import add_commands as add_gallery_commands
    add_gallery_commands(sub)
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
    if args.blend and sum(blend) <= 0:
        raise ParamsError("--blend weights are all zero; give at least one style a weight > 0")
    if args.blend and abs(sum(blend) - 1) > 1e-6:
        logger.warning("--blend weights sum to {:g}, not 1; they are scaled to {}", sum(blend),
                       ", ".join(f"{w / sum(blend):.3g}" for w in blend))
    request = RenderRequest(content=args.content,
                            styles=[StyleFile(s, w) for s, w in zip(args.styles, blend)],
                            params=params, init_image=init_image,
                            max_input_pixels=args.max_pixels)
    for path in [args.content, *args.styles] + ([init_image] if init_image else []):
        _require_regular_file(path)          # a FIFO or device would block the read forever
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
    first = report.trace[0]["total"] if report.trace else report.final["total"]
    last = report.trace[-1]["total"] if report.trace else report.final["total"]
    if params.preserve_color == "luminance":
        losses = (f"loss of the optimised image {first:.4g} -> {last:.4g}; of the output "
                  f"after restoring the photo's colours {report.final['total']:.4g}")
    else:
        losses = f"loss {first:.4g} -> {report.final['total']:.4g}"
    logger.info("wrote {} and {} ({}, {:.1f} s)", out, report_path, losses,
                report.timings["render_seconds"])
    return 0


def _require_regular_file(path: str) -> None:
    """Refuse FIFOs, devices and folders before anything opens them."""
    import stat
    from .errors import ImageError
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
    from .settings.config import load_config
    from .daemon.service import DAEMON, EXIT_LOCKED, AlreadyRunning, Service
    config = load_config(args.config)
    _daemon_logging(config, args.log_level if args.log_level != "INFO" else None)
    try:
        service = Service(config, once=once)
    except AlreadyRunning as exc:
        _flush_logs()
        if once and exc.holder_role == DAEMON:   # the nightly timer beside the daemon
            print(f"{PROG}: {exc}; the daemon handles the inbox, so this bulk pass has "
                  f"nothing to do", file=sys.stderr)
            return 0
        print(f"{PROG}: {exc}; it is still going, so this one does not start",
              file=sys.stderr)
        return EXIT_LOCKED
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
             f"  photos held   {s.held:>5}   (waiting for the setup; see "
             f"{config.problems.folder}/ in the outbox)",
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
    from .settings.config import load_config
    from .daemon.status import collect, render_text
    info = collect(load_config(args.config))
    print(json.dumps(info, indent=2) if args.json else render_text(info))
    return 0


def cmd_retry(args) -> int:
    from .settings.config import load_config
    from .daemon.retry import RetryRequest, parse_since, retry
    request = RetryRequest(args.job, args.photo, args.all_failed,
                           parse_since(args.since) if args.since else None, args.force)
    lines = retry(load_config(args.config), request)
    for line in lines:
        print(line)
    if not lines:
        print(f"{PROG}: nothing matched; see deepart-batch status", file=sys.stderr)
        return 1
    return 0


def cmd_repair_journal(args) -> int:
    from .settings.config import load_config
    from .daemon.repair import repair_journal
    message, code = repair_journal(load_config(args.config), args.force)
    print(message)
    return code


def cmd_prune(args) -> int:
    from .daemon.retention import prune_state_dir
    from .settings.config import load_config
    from .core.timefmt import parse_duration
    config = load_config(args.config)
    try:
        older_than = parse_duration(args.older_than) if args.older_than else \
            config.retention.older_than
    except ValueError as exc:
        raise ParamsError(f"--older-than: {exc}") from None
    if older_than is None:
        raise ParamsError(f"give --older-than (like 30d), or set retention.older_than in "
                          f"{args.config}")
    result = prune_state_dir(Path(config.state_dir), older_than, dry_run=args.dry_run)
    for line in result.skipped:
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    print(("dry run, nothing removed: would have " if args.dry_run else "") +
          result.describe(older_than))
    return 0


def cmd_validate(args) -> int:
    from .settings.config import check_config
    from .settings.folders import folder_problems
    from .settings.manifest import check_manifest, load_manifest
    from .resolution import inbox_warnings
    config, problems = check_config(args.config)
    if config is not None:
        notes: list[str] = []
        problems += check_manifest(config.manifest, config.styles_dir, config, notes)
        problems += [f"{args.config}: {p}" for p in folder_problems(config)]
        for note in notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
    for problem in problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    for warning in inbox_warnings(config, load_manifest(config.manifest, config.styles_dir,
                                                        config)):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: OK (manifest {config.manifest} OK)")
    return 0


def _subcommand(argv: list[str]) -> str | None:
    args = iter(argv)
    for arg in args:
        if arg == "--log-level":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """The entry point; a reader that stops early (`status | head`) ends it quietly."""
    try:
        code = _main(argv)
        sys.stdout.flush()                   # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail
        return 141                           # 128 + SIGPIPE, as `yes | head` reports


def _main(argv: list[str] | None) -> int:
    if _subcommand(sys.argv[1:] if argv is None else argv) in ("watch", "run"):
        from .daemon.earlystop import catch_early_stop
        catch_early_stop()  # before the parser imports torch: SIGTERM now exits cleanly
    parser = build_parser()
    args = parser.parse_args(argv)
    from .ops.logsetup import configure_logging
    configure_logging(args.log_level.upper(), enqueue=False)  # daemons reconfigure
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
