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
    from ..core.terminal import escape_controls as shown
    from ..gallery.liveness import run_mode
    from ..gallery.styles import collect_styles, no_card_words
    from ..report import duration
    from ..settings.config import load_config
    config = load_config(args.config)
    entries = collect_styles(config)
    params = config.card_params()
    outbox = Path(config.outbox)
    absent = sum(not e.in_folder for e in entries)
    print(f"{len(entries) - absent} painting(s) in {shown(config.styles_dir)}"
          + (f" (and {absent} the manifest names that are not there)" if absent else "")
          + f"; cards at {params.size} px, {params.steps} steps"
          + ("" if config.cards else " (cards: false, none are made)"))
    no_card = no_card_words(config.cards, run_mode(config.state_dir))
    for e in entries:
        print(f"\n{shown(e.rel)}  [{'no card yet' if e.state == 'none' else e.state}]")
        print(f"  manifest: {shown(', '.join(e.names))}" if e.names else
              "  manifest: not used by the manifest")
        for rule in e.rules:
            print(f"  used by {shown(rule)}")
        if e.problem:
            print(f"  problem: {shown(e.problem[0])}\n  what to do: {shown(e.problem[1])}")
        elif not e.cards:
            print(f"  card: {no_card}")
        for c in e.cards:
            where = f"  {shown(os.path.relpath(c.image, outbox))}" if c.image else ""
            took = f" in {duration(c.seconds)}" if c.seconds is not None and \
                c.state == ShownState.DONE else ""
            device = f" on {c.device}" if c.device and c.state == ShownState.DONE else ""
            print(f"  card {shown(c.photo)}: {c.state}{took}{device}{where}")
            if c.trouble:
                print(f"    {shown(c.trouble[0])} {shown(c.trouble[1])}")
    print(f"\npage: {shown(outbox / 'styles.html')}")
    return 0
