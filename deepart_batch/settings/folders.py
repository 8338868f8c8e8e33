"""Are the inbox and outbox there, and usable? Checked by `validate`, `run --once` and `watch`.

A missing inbox is usually an unmounted share. Creating the folder would hide that (photos
dropped on the real share are never seen) so nothing here creates anything: `run --once`
refuses to start, `watch` waits and says so, `validate` reports it.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from .access import access_hint, kind_of

__all__ = ["folder_problems", "inbox_inheritance", "masks_folder_problems"]

_ACL_DEFAULT = "system.posix_acl_default"
_ACL_GROUP_OBJ, _ACL_GROUP, _ACL_WRITE = 0x04, 0x08, 0x02

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


def masks_folder_problems(config, uses_masks: str) -> tuple[list[str], list[str]]:
    """For `validate`: (errors, warnings) about the masks folder (config.masks), which must
    be a folder this user can read and list. `uses_masks`: the manifest's strictest `mask:`
    (none, optional, required). Missing, it is an error when a rule requires masks (its
    photos would wait for ever) and a warning when rules only use them if there: the daemon
    never creates it (a missing folder is usually an unmounted share), and reads masks from
    it as soon as it is there."""
    path = Path(config.masks)
    kind = kind_of(path)
    key = "masks_dir" if config.masks_dir is not None else \
        "masks_dir (unset: masks beside the inbox)"
    if kind == "missing":
        if uses_masks == "none":
            return [], []
        line = (f"{key}: {path} does not exist, and the manifest has rules with `mask: "
                f"{uses_masks}`; create it (the team saves masks there, mirroring the inbox's "
                f"folders), or check that its share is mounted")
        return ([line], []) if uses_masks == "required" else ([], [line])
    if isinstance(kind, OSError):
        return [f"{key}: {path} cannot be reached: {access_hint(path, os.R_OK | os.X_OK)}"], []
    if kind != "dir":
        return [f"{key}: {path} is not a folder; point masks_dir at a folder"], []
    if not os.access(path, os.R_OK | os.X_OK):
        return [f"{key}: {path} is there but this user ({_user()}) cannot read it; check its "
                f"owner, group and mode: {access_hint(path, os.R_OK | os.X_OK)}"], []
    return [], []


def _user() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def _default_acl_gives_group_write(path: Path) -> bool:
    """True when the folder's default ACL gives a group (named, or the owning group) write
    access: what `setfacl -d -m g:marketing:rwX` leaves (the xattr: a 4-byte version, then
    8-byte entries tag, perm, id)."""
    try:
        blob = os.getxattr(path, _ACL_DEFAULT)
    except (OSError, AttributeError):   # none set, or no ACL support here
        return False
    entries = (struct.unpack_from("<HHI", blob, at) for at in range(4, len(blob) - 7, 8))
    return any(tag in (_ACL_GROUP, _ACL_GROUP_OBJ) and perm & _ACL_WRITE
               for tag, perm, _ in entries)


def inbox_inheritance(config) -> tuple[list[str], list[str]]:
    """(warnings, notes) for `validate`: does the inbox hand group write access on to the
    folders the team copies in? A default ACL for the group does; the setgid bit with group
    write gives the group but not write on folders made with umask 022 (a note)."""
    inbox = Path(config.inbox)
    try:
        st = os.stat(inbox)
    except OSError:
        return [], []       # folder_problems says so
    if _default_acl_gives_group_write(inbox):
        return [], []
    recipe = (f"setfacl -R -d -m g:{_group_of(st.st_gid)}:rwX {inbox} (or a Samba share's create mask 0664 "
              f"and directory mask 2775); see \"Permissions\" in the README")
    if st.st_mode & stat.S_ISGID and st.st_mode & stat.S_IWGRP:
        return [], [f"inbox {inbox} has the setgid bit and group write but no default ACL: "
                    f"folders copied in with umask 022 (cp -r) arrive without group write and "
                    f"their photos are held (inbox_permissions); to avoid it: {recipe}"]
    return [f"inbox {inbox} has no default ACL for the team's group and no setgid bit with "
            f"group write: folders the team copies in may not be the service's to take; "
            f"{recipe}"], []


def _group_of(gid: int) -> str:
    """The inbox's group by name (the team's, when set up as the README says)."""
    try:
        import grp
        name = grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)
    return "TEAM-GROUP" if gid == 0 else name
