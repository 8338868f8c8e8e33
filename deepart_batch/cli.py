"""Command line: main() and the parser, built from the commands in deepart_batch.commands."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .commands.console import PROG, flush_logs
from .errors import DeepartError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Gatys neural style transfer "
                                     "for render boxes: one-off renders and a hot-folder daemon.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO",
                        help="DEBUG, INFO, WARNING or ERROR (default: INFO; the daemon "
                             "commands use logging.level from the config unless given)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Imported here, after main() has caught an early SIGTERM (watch, run): the commands
    # read the settings schema and RenderParams to build their options.
    from .commands import daemon, gallery, notify, render, styles, units, validate
    for module in (render, daemon, validate, gallery, styles, units, notify):
        module.add_commands(sub)
    return parser


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
        flush_logs()
        from .core.terminal import escape_controls
        print(f"{PROG}: error: {escape_controls(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        flush_logs()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
