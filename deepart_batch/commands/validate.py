"""`deepart-batch validate`: check the config and the manifest; exit 0 or 2 (torch-free)."""

from __future__ import annotations

import sys

from ..core.terminal import escape_controls
from .console import PROG
from .options import add_config_option


def _say(line: str) -> None:
    """One line on stderr; names from the config or the share with their control
    characters escaped."""
    print(escape_controls(line), file=sys.stderr)


def add_commands(sub) -> None:
    v = sub.add_parser("validate", help="check the config and the manifest; exit 0 or 2")
    add_config_option(v)
    v.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    try:
        return _validate(args)
    except OSError as exc:   # a path no check foresaw: still a problem line, not a traceback
        from ..settings.access import access_hint
        where = exc.filename or args.config
        hint = access_hint(where) if isinstance(exc, PermissionError) else \
            "check that it is there and readable by this user"
        _say(f"{PROG}: error: {where}: {exc.strerror or exc}; {hint}")
        return 2


def _validate(args) -> int:
    from ..pool.executor import capacity_problem
    from ..resolution import inbox_warnings
    from ..settings.config_check import (capped_settings, check_config,
                                         ignored_settings, manifest_problems)
    from ..settings.folders import folder_problems, inbox_inheritance
    from ..settings.manifest import check_manifest, load_manifest
    from ..settings.notify_config import unsigned_notes
    from ..settings.service_files import service_file_notes
    config, problems = check_config(args.config)
    if config is not None:
        notes: list[str] = []
        if not manifest_problems(args.config, config):   # else said once, above
            problems += check_manifest(config.manifest, config.styles_dir, config, notes)
        problems += [f"{args.config}: {p}" for p in folder_problems(config)]
        if not problems:   # a setup that can render nothing is refused, never waited on
            problem = capacity_problem(config)
            problems += [f"{args.config}: {problem}"] if problem else []
        for note in notes:
            _say(f"{PROG}: note: {note}")
    for problem in problems:
        _say(f"{PROG}: error: {problem}")
    if problems:
        return 2
    if ignored := ignored_settings(config):
        _say(f"{PROG}: warning: {ignored}")
    manifest = load_manifest(config.manifest, config.styles_dir, config)
    for warning in inbox_warnings(config, manifest):
        _say(f"{PROG}: warning: {warning}")
    for capped in capped_settings(config, manifest):   # what applies, where a limit caps
        _say(f"{PROG}: note: {capped}")
    warnings, notes = inbox_inheritance(config)
    notes += unsigned_notes(config.notify) + service_file_notes(config)
    for note in notes:
        _say(f"{PROG}: note: {note}")
    for warning in warnings:
        _say(f"{PROG}: warning: {warning}")
    print(escape_controls(f"{args.config}: OK (manifest {config.manifest} OK)"))
    return 0
