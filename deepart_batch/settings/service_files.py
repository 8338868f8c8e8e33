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

__all__ = ["service_file_problems", "command_problem", "folder_of_problem",
           "nearest_existing"]


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


def nearest_existing(folder: Path) -> Path:
    """The folder itself, or the closest folder above it that exists."""
    folder = Path(os.path.abspath(folder))
    for candidate in (folder, *folder.parents):
        if kind_of(candidate) != "missing":
            return candidate
    return Path(folder.anchor)


def folder_of_problem(key: str, file: Path | None, created: bool = False) -> str | None:
    """`key` names a file the service writes: its folder must be there and writable. With
    `created` the service makes the folder itself (the JSON log's): a missing folder is
    fine when the nearest folder above it that exists lets this user create it."""
    if file is None:
        return None
    folder = Path(file).parent
    kind = kind_of(folder)
    fix = f"create it, point {key} elsewhere, or leave {key} out"
    if kind == "missing" and created:
        parent = nearest_existing(folder)
        if kind_of(parent) != "dir":
            return f"{key}: {parent} is not a folder, so {folder} cannot be created; {fix}"
        problem = reach_problem(key, parent, os.W_OK | os.X_OK, "written")
        return None if problem is None else \
            f"{problem} (the service creates {folder} there at start-up)"
    if kind == "missing":
        return f"{key}: the folder {folder} does not exist; {fix}"
    if kind in ("file", "other"):
        return f"{key}: {folder} is not a folder; {fix}"
    return reach_problem(key, folder, os.W_OK | os.X_OK, "written")


def service_file_problems(config) -> list[str]:
    found = [command_problem(config.notify.command),
             # loguru makes the JSON log's folder; node_exporter's is not ours to make
             folder_of_problem("logging.json_file", config.logging.json_file, created=True),
             folder_of_problem("metrics.textfile", config.metrics.textfile)]
    return [p for p in found if p]
