"""The claim renames a photo nobody has open for writing (under a read lease) and copies
one a writer still holds, so the fast path never lets a late write reach work/."""

from __future__ import annotations

import fcntl
import os
import signal

import pytest

from deepart_batch.daemon.sources import claim
from support.manifests import DATA
from support.tooling import need


@pytest.fixture
def lease_breaks_ignored(tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    with open(probe, "rb") as fh:
        try:
            fcntl.fcntl(fh.fileno(), fcntl.F_SETLEASE, fcntl.F_RDLCK)
            fcntl.fcntl(fh.fileno(), fcntl.F_SETLEASE, fcntl.F_UNLCK)
        except OSError as exc:
            need(False, f"this filesystem or user takes no leases ({exc})")
    before = signal.signal(signal.SIGIO, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGIO, before)


def _photo(tmp_path):
    (tmp_path / "inbox").mkdir()
    src = tmp_path / "inbox" / "p.jpg"
    src.write_bytes((DATA / "tubingen.jpg").read_bytes())
    return src, tmp_path / "work" / "p.jpg"


def test_a_photo_nobody_writes_is_renamed(tmp_path, lease_breaks_ignored):
    src, dst = _photo(tmp_path)
    inode = os.stat(src).st_ino
    claim.claim_file(src, dst)
    assert not src.exists() and os.stat(dst).st_ino == inode


def test_a_photo_a_writer_holds_is_copied_and_its_late_writes_stay_out(
        tmp_path, lease_breaks_ignored):
    src, dst = _photo(tmp_path)
    first = src.read_bytes()
    with open(src, "r+b") as writer:
        inode = os.fstat(writer.fileno()).st_ino
        claim.claim_file(src, dst)
        writer.seek(0)
        writer.write(b"late bytes")
        writer.flush()
    assert not src.exists()
    assert os.stat(dst).st_ino != inode and dst.read_bytes() == first


def test_without_the_signal_ignored_no_lease_is_taken(tmp_path):
    before = signal.signal(signal.SIGIO, signal.SIG_DFL)
    try:
        src, dst = _photo(tmp_path)
        inode = os.stat(src).st_ino
        claim.claim_file(src, dst)   # a lease break would end this process: copied
        assert not src.exists() and os.stat(dst).st_ino != inode
    finally:
        signal.signal(signal.SIGIO, before)
