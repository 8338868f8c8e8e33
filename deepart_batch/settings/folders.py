"""Are the inbox and outbox there, and usable? Checked by `validate`, `run --once` and `watch`.

A missing inbox is usually an unmounted share. Creating the folder would hide that (photos
dropped on the real share are never seen) so nothing here creates anything: `run --once`
refuses to start, `watch` waits and says so, `validate` reports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .access import access_hint, kind_of

__all__ = ["folder_problems"]

# What each folder must allow the service user: the daemon moves photos out of the inbox
# (read, list, write) and writes images and reports into the outbox (write, list).
_NEEDS = {"inbox": (os.R_OK | os.W_OK | os.X_OK, "read and write"),
          "outbox": (os.W_OK | os.X_OK, "write")}


def folder_problems(config) -> list[str]:
    """One line per problem with the inbox or outbox, naming the folder and what to check."""
    problems = []
    for key, (mode, verb) in _NEEDS.items():
        path = Path(getattr(config, key))
        kind = kind_of(path)
        if kind == "missing":
            problems.append(f"{key} {path} does not exist; if it is a network share, check "
                            f"that it is mounted, else create it")
        elif isinstance(kind, OSError):
            problems.append(f"{key} {path} cannot be reached: {access_hint(path, mode)}")
        elif kind != "dir":
            problems.append(f"{key} {path} is not a folder; point {key} at a folder")
        elif not os.access(path, mode):
            problems.append(f"{key} {path} is there but this user ({_user()}) cannot {verb} "
                            f"it; check its owner, group and mode (and ReadWritePaths= in the "
                            f"systemd unit): {access_hint(path, mode)}")
    return problems


def _user() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())
