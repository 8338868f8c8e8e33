"""Can this user reach a path? For `validate`: a folder the service cannot read is a
problem line that names the folder that blocks it and what to do, never a traceback.

The usual cause is the team's group: the systemd unit gives the service user the group with
SupplementaryGroups=, but `runuser -u deepart` (or `sudo -u deepart`) without `-G` does not,
so a 0750 root:marketing folder is closed to it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["kind_of", "reach_problem", "who", "access_hint"]


def kind_of(path: str | os.PathLike) -> str | OSError:
    """'dir', 'file', 'other' or 'missing'; the OSError when it cannot even be looked at."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        return exc
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def who() -> str:
    """This user's name."""
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def _group_name(gid: int) -> str:
    try:
        import grp
        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def _owner_name(uid: int) -> str:
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _blocker(path: Path, want: int) -> Path | None:
    """The first folder on the way to `path` this user may not pass (or `path` itself, if it
    lacks `want`)."""
    path = Path(os.path.abspath(path))
    for folder in [*reversed(path.parents), path]:
        need = want if folder == path else os.X_OK
        try:
            if not os.access(folder, need):
                return folder
        except OSError:
            return folder
    return None


def access_hint(path: str | os.PathLike, want: int = os.R_OK) -> str:
    """Which folder blocks this user, its owner, group and mode, and what to do."""
    user = who()
    blocker = _blocker(Path(path), want) or Path(path)
    try:
        st = os.stat(blocker)
    except OSError:
        return (f"this user ({user}) cannot reach {blocker}; check the owner, group and mode "
                f"of the folders above it")
    group = _group_name(st.st_gid)
    member = st.st_gid == os.getegid() or st.st_gid in os.getgroups()
    where = (f"{blocker} is {_owner_name(st.st_uid)}:{group}, mode "
             f"{stat.S_IMODE(st.st_mode):04o}")
    if member:
        return (f"this user ({user}) cannot get through: {where}; give the group the access "
                f"it needs (chmod g+rwx for the inbox and outbox, g+rx elsewhere)")
    return (f"{where}, and this user ({user}) is not in group {group}; the systemd unit adds "
            f"the group with SupplementaryGroups={group}, so check as the service does: "
            f"`runuser -u {user} -G {group} -- deepart-batch validate --config ...` "
            f"(or give the folder to a group {user} is in)")


def reach_problem(key: str, path: str | os.PathLike, want: int, verb: str = "read"
                  ) -> str | None:
    """A line when `path` is there but this user cannot `verb` it (or cannot look)."""
    kind = kind_of(path)
    if kind == "missing":
        return None
    try:
        ok = not isinstance(kind, OSError) and os.access(path, want)
    except OSError:
        ok = False
    if ok:
        return None
    return f"{key}: {path} cannot be {verb} by this user: {access_hint(path, want)}"
