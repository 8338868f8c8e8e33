"""`deepart-batch styles`: every painting of styles_dir with its manifest names, the rules
that use it and its style card (or the problem that keeps it from having one), as
outbox/styles.html shows them. Reads the journal read-only and the outbox; no torch."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.states import ShownState
from .options import add_config_option


def add_commands(sub) -> None:
    s = sub.add_parser("styles", help="each painting: its manifest names, rules and card",
                       description="List every painting in styles_dir with the manifest "
                                   "names and rules that use it and its style card: the "
                                   "standard photos restyled with it at the default settings "
                                   "(made by `watch`, behind every photo), or why it has "
                                   "none. The same as outbox/styles.html.")
    add_config_option(s)
    s.set_defaults(func=cmd_styles)


def cmd_styles(args) -> int:
    from ..gallery.styles import collect_styles
    from ..report import duration
    from ..settings.config import load_config
    config = load_config(args.config)
    entries = collect_styles(config)
    params = config.card_params()
    outbox = Path(config.outbox)
    print(f"{len(entries)} painting(s) in {config.styles_dir}; cards at {params.size} px, "
          f"{params.steps} steps" + ("" if config.cards else " (cards: false, none are made)"))
    for e in entries:
        print(f"\n{e.rel}  [{'no card yet' if e.state == 'none' else e.state}]")
        print(f"  manifest: {', '.join(e.names)}" if e.names else
              "  manifest: not used by the manifest")
        for rule in e.rules:
            print(f"  used by {rule}")
        if e.problem:
            print(f"  problem: {e.problem[0]}\n  what to do: {e.problem[1]}")
        elif not e.cards:
            print("  card: not made yet")
        for c in e.cards:
            where = f"  {os.path.relpath(c.image, outbox)}" if c.image else ""
            took = f" in {duration(c.seconds)}" if c.seconds is not None and \
                c.state == ShownState.DONE else ""
            device = f" on {c.device}" if c.device and c.state == ShownState.DONE else ""
            print(f"  card {c.photo}: {c.state}{took}{device}{where}")
            if c.trouble:
                print(f"    {c.trouble[0]} {c.trouble[1]}")
    print(f"\npage: {outbox / 'styles.html'}")
    return 0
