"""`validate` checks that the inbox hands group write access on to what the
team copies in: a default ACL for a group, or at least the setgid bit with group write."""

import os
import struct

import pytest

from support.boxes import Box
from support.tooling import need

TAG = {"user_obj": 0x01, "group_obj": 0x04, "group": 0x08, "mask": 0x10, "other": 0x20}


def _default_acl(path, gid):
    """What `setfacl -d -m g:<gid>:rwX` leaves, written as the kernel's xattr."""
    entries = [("user_obj", 7, 0xFFFFFFFF), ("group_obj", 5, 0xFFFFFFFF), ("group", 7, gid),
               ("mask", 7, 0xFFFFFFFF), ("other", 5, 0xFFFFFFFF)]
    blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", TAG[t], p, i)
                                           for t, p, i in entries)
    try:
        os.setxattr(path, "system.posix_acl_default", blob)
    except OSError as exc:
        need(False, f"no POSIX ACLs here: {exc}")


def _validate(box):
    res = box.cli("validate", "--config", box.config, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stderr


def test_an_inbox_without_group_inheritance_gets_a_warning(tmp_path):
    box = Box(tmp_path)
    box.inbox.chmod(0o755)
    err = _validate(box)
    assert "warning:" in err and "setfacl -R -d -m g:" in err and str(box.inbox) in err, err


def test_setgid_and_group_write_pass_with_a_note_about_cp(tmp_path):
    box = Box(tmp_path)
    box.inbox.chmod(0o2775)
    err = _validate(box)
    assert not [line for line in err.splitlines() if "warning:" in line and "inbox" in line]
    assert "note:" in err and "no default ACL" in err, err


def test_a_default_acl_for_the_group_passes_quietly(tmp_path):
    box = Box(tmp_path)
    box.inbox.chmod(0o755)
    _default_acl(box.inbox, 12345)
    err = _validate(box)
    assert "inbox" not in err, err
