"""`deepart-batch units`: the three systemd units for a config, printed or installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import ParamsError
from .console import PROG
from .options import add_config_option


def add_commands(sub) -> None:
    u = sub.add_parser(
        "units", help="print (or --install) the systemd units for a config",
        description="Make deepart-batch.service, deepart-batch-bulk.service and "
                    "deepart-batch-bulk.timer from the config: ExecStart names the config "
                    "and this venv's entry point, ReadWritePaths= the config's inbox, outbox, "
                    "state and log folders and the metrics textfile's folder, "
                    "RequiresMountsFor= the folders. Printed unless --install is given.")
    add_config_option(u)
    u.add_argument("--install", nargs="?", const="/etc/systemd/system", metavar="DIR",
                   help="write the unit files into DIR (default /etc/systemd/system) instead "
                        "of printing them; then run systemctl daemon-reload")
    u.add_argument("--config-path", metavar="PATH",
                   help="the config's path as the units should name it (default: --config, "
                        "made absolute); for units made on another box")
    u.add_argument("--entry-point", metavar="PATH",
                   help="the deepart-batch program the units run (default: the one of the "
                        "venv this command runs from)")
    u.set_defaults(func=cmd_units)


def cmd_units(args) -> int:
    from ..ops.units import default_entry_point, printed, render_units, unit_paths
    from ..settings.config import load_config
    config = load_config(args.config)
    entry = Path(args.entry_point) if args.entry_point else default_entry_point()
    if not entry.is_absolute():
        raise ParamsError(f"--entry-point {entry}: give an absolute path")
    if args.entry_point is None and not entry.exists():
        print(f"{PROG}: warning: {entry} does not exist; give --entry-point", file=sys.stderr)
    config_path = Path(args.config_path) if args.config_path else Path(args.config).resolve()
    if not config_path.is_absolute():
        raise ParamsError(f"--config-path {config_path}: give an absolute path")
    units = render_units(unit_paths(config, config_path, entry))
    if args.install is None:
        sys.stdout.write(printed(units))
        return 0
    folder = Path(args.install)
    if not folder.is_dir():
        raise ParamsError(f"--install {folder}: no such folder")
    for name, text in units.items():
        target = folder / name
        temp = target.with_name(f".{name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        print(f"wrote {target}")
    print("next: systemctl daemon-reload, then systemctl enable --now deepart-batch.service "
          "(and restart it if it was running)")
    return 0
