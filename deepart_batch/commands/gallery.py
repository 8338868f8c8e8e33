"""`deepart-batch gallery` (rebuild the outbox pages) and `deepart-batch contact-sheet`
(one PNG grid of photos by styles)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.terminal import escape_controls
from ..errors import ParamsError
from .options import HelpFormatter, add_config_option, add_device_option, add_weights_option


def add_commands(sub) -> None:
    g = sub.add_parser("gallery", help="rebuild the outbox gallery pages from the reports",
                       description="Rewrite outbox/index.html and every campaign page from "
                                   "the JSON reports (and the journal, for what is still on "
                                   "its way), e.g. after an upgrade. Prints the index's path.")
    add_config_option(g)
    g.set_defaults(func=cmd_gallery)
    c = sub.add_parser("contact-sheet", help="one PNG grid: photos as rows, styles as columns",
                       description="From the outbox (--config, optionally --campaign), or "
                                   "for trying styles from --photo and --style images, "
                                   "rendered small here.",
                       formatter_class=HelpFormatter)
    c.add_argument("-o", "--output", required=True, help="the PNG to write")
    add_config_option(c, required=False,
                      help="take finished renders from this daemon's outbox")
    c.add_argument("--campaign", help="only this campaign (top-level inbox folder)")
    c.add_argument("--photo", nargs="+", default=[], metavar="PHOTO", help="photo(s) to try")
    c.add_argument("--style", nargs="+", default=[], metavar="STYLE", help="style image(s)")
    c.add_argument("--size", type=int, default=128, help="long side of each trial render")
    c.add_argument("--steps", type=int, default=60, help="steps of each trial render")
    add_device_option(c)
    add_weights_option(c)
    c.add_argument("--cell", type=int, default=256, help="picture size in the sheet, pixels")
    c.set_defaults(func=cmd_contact_sheet)


def cmd_gallery(args) -> int:
    from ..settings.config import load_config
    from ..gallery.pages import build_gallery
    config = load_config(args.config)
    index = build_gallery(Path(config.outbox), Path(config.state_dir),
                          config.limits.max_input_pixels,
                          problems_folder=config.problems.folder,
                          manifest=Path(config.manifest), config=config)
    print(escape_controls(index))
    return 0


def cmd_contact_sheet(args) -> int:
    from ..gallery.contact_sheet import (SheetLayout, draw_sheet, grid_from_outbox, grid_from_renders,
                                save_sheet)
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise ParamsError(f"--output {out}: a contact sheet is a PNG; name it like sheet.png")
    if args.cell < 32:
        raise ParamsError(f"--cell {args.cell}: use at least 32 pixels")
    if args.config:
        if args.photo or args.style:
            raise ParamsError("give either --config (finished renders) or --photo and "
                              "--style (try styles), not both")
        from ..settings.config import load_config
        config = load_config(args.config)
        grid = grid_from_outbox(Path(config.outbox), Path(config.state_dir), args.campaign)
        title = args.campaign or ""
        if not grid.rows:
            raise ParamsError(f"{config.outbox}: no finished renders"
                              + (f" in campaign {args.campaign!r}" if args.campaign else ""))
    else:
        if not args.photo or not args.style:
            raise ParamsError("give --config to use finished renders, or --photo PHOTO... "
                              "and --style STYLE... to try styles")
        from .. import images
        for path in [*args.photo, *args.style]:
            images.probe(path)   # a clear error naming the file before loading weights
        from .device import resolve_device
        grid = grid_from_renders([Path(p) for p in args.photo], [Path(s) for s in args.style],
                                 args.size, args.steps, resolve_device(args.device),
                                 args.weights,
                                 log=lambda m: print(escape_controls(m), file=sys.stderr))
        title = f"{args.size} px, {args.steps} steps"
    layout = SheetLayout(cell=args.cell, label=max(20, args.cell // 9))
    save_sheet(draw_sheet(grid, layout, title), grid, out)
    print(escape_controls(out))
    return 0
