"""What the service writes or runs outside the inbox and outbox, checked by `validate`:
its state_dir, the notify command, the JSON log's folder and the metrics textfile's folder.

A folder the service makes by itself is not an error while it is missing: the folder above
it that exists must let this user make it, or, for the units' state directory
(SYSTEMD_STATE_DIR and what is inside it), systemd makes it for the service at its first
start (StateDirectory=), owned by the service user, whoever may write /var/lib.

Loading the config does not look at them (the service may run on another box than the one
that checks the file); `validate` does, so a command that is not installed or a log folder
that does not exist is found at install time, not as a warning every few minutes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .access import kind_of, reach_problem

__all__ = ["service_file_problems", "service_file_notes", "command_problem",
           "folder_of_problem", "nearest_existing", "SYSTEMD_STATE_DIR"]

# The units' StateDirectory=deepart-batch (ops/unit_templates; a test keeps them equal):
# systemd makes this folder before the service starts, owned by the service user.
SYSTEMD_STATE_DIR = Path("/var/lib/deepart-batch")


def made_by_systemd(folder: str | os.PathLike) -> bool:
    """The units' state directory, or a folder inside it, while systemd has not made it yet
    (the service's first start makes it, whoever may write /var/lib)."""
    folder = Path(os.path.abspath(folder))
    return (folder == SYSTEMD_STATE_DIR or SYSTEMD_STATE_DIR in folder.parents) and \
        kind_of(SYSTEMD_STATE_DIR) == "missing"


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
    if kind == "missing" and created and made_by_systemd(folder):
        return None
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


def state_dir_problem(config) -> str | None:
    """state_dir is the service's own: made at start (by the daemon, or by systemd for
    the units' state directory) when missing; where it is, it must be writable."""
    state = Path(config.state_dir)
    kind = kind_of(state)
    if kind in ("file", "other"):
        return f"state_dir: {state} is not a folder; point state_dir at a folder on local disk"
    if kind == "missing":
        if made_by_systemd(state):
            return None
        return folder_of_problem("state_dir", state / "journal.sqlite", created=True)
    return reach_problem("state_dir", state, os.W_OK | os.X_OK, "written")


def service_file_notes(config) -> list[str]:
    """What `validate` says without it being wrong: folders systemd will make."""
    state = Path(config.state_dir)
    if made_by_systemd(state):
        return [f"state_dir {state} is not there yet: systemd makes it at the service's "
                f"first start (StateDirectory={SYSTEMD_STATE_DIR.name} in the units), owned "
                f"by the service user; do not create it by hand"]
    return []


def service_file_problems(config) -> list[str]:
    found = [state_dir_problem(config), command_problem(config.notify.command),
             # loguru makes the JSON log's folder; node_exporter's is not ours to make
             folder_of_problem("logging.json_file", config.logging.json_file, created=True),
             folder_of_problem("metrics.textfile", config.metrics.textfile)]
    return [p for p in found if p]
