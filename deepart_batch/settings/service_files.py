"""What the service writes or runs outside its own folders, checked by `validate`: the
notify command, the JSON log's folder and the metrics textfile's folder.

Loading the config does not look at them (the service may run on another box than the one
that checks the file); `validate` does, so a command that is not installed or a log folder
that does not exist is found at install time, not as a warning every few minutes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .access import kind_of, reach_problem

__all__ = ["service_file_problems", "command_problem", "folder_of_problem"]


def command_problem(argv: list[str] | None) -> str | None:
    """notify.command: its program must exist and be executable by this user."""
    if not argv:
        return None
    program = argv[0]
    fix = ("install it, correct notify.command, or remove notify.command (see the "
           "commented-out example in config.example.yaml)")
    if "/" not in program:
        if shutil.which(program) is None:
            return f"notify.command: {program} is not found on PATH ({os.environ.get('PATH', '')}); {fix}"
        return None
    kind = kind_of(program)
    if kind == "missing":
        return f"notify.command: {program} does not exist; {fix}"
    if kind != "file" and not isinstance(kind, OSError):
        return f"notify.command: {program} is not a file; {fix}"
    return reach_problem("notify.command", program, os.X_OK, "run")


def folder_of_problem(key: str, file: Path | None) -> str | None:
    """`key` names a file the service writes: its folder must exist and be writable."""
    if file is None:
        return None
    folder = Path(file).parent
    kind = kind_of(folder)
    fix = f"create it, point {key} elsewhere, or leave {key} out"
    if kind == "missing":
        return f"{key}: the folder {folder} does not exist; {fix}"
    if kind in ("file", "other"):
        return f"{key}: {folder} is not a folder; {fix}"
    return reach_problem(key, folder, os.W_OK | os.X_OK, "written")


def service_file_problems(config) -> list[str]:
    found = [command_problem(config.notify.command),
             folder_of_problem("logging.json_file", config.logging.json_file),
             folder_of_problem("metrics.textfile", config.metrics.textfile)]
    return [p for p in found if p]
