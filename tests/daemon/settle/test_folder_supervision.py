"""The inbox, outbox and state folders are looked at again every tick. A
vanished outbox is never re-created (nor written into); its photos are held as
folder_missing and rendered once it is back; an inbox deleted and made again is watched
again at once. Real folders, renamed and deleted under a real `watch` process."""

import errno
import os
import shutil
import time

import pytest

from support.boxes import Box, stop, wait_for
from deepart_batch import paths


def _live(box):
    import json
    try:
        return json.loads((box.state / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _watching(box):
    return "watching " in box.log.read_text()


def test_a_write_never_creates_a_guarded_folder(tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    paths.guard_folder(outbox)
    paths.atomic_write_bytes(outbox / "city" / "a.txt", b"x")   # sub-folders: fine
    assert (outbox / "city" / "a.txt").read_bytes() == b"x"
    outbox.rename(tmp_path / "away")
    with pytest.raises(paths.FolderMissing) as caught:
        paths.atomic_write_bytes(outbox / "city" / "b.txt", b"x")
    assert caught.value.errno == errno.ENOENT
    assert not outbox.exists()
    (tmp_path / "away").rename(outbox)
    paths.atomic_write_bytes(outbox / "c.txt", b"x")
    assert (outbox / "c.txt").exists()


def test_outbox_renamed_away_holds_photos_and_nothing_is_created(tmp_path):
    box = Box(tmp_path, canned=True, problems={"hold_seconds": 1})
    away = tmp_path / "outbox.away"
    proc = box.start_watch()
    try:
        wait_for(lambda: _watching(box), what="the daemon watching")
        box.outbox.rename(away)               # the share is unmounted / renamed
        wait_for(lambda: _live(box).get("waiting"), what="the missing outbox in status.json")
        box.drop("tubingen.jpg", "one.jpg")
        wait_for(lambda: box.status()["held"]["by_reason"].get("folder_missing"),
                 what="the photo held as folder_missing")
        status = box.status()
        assert any("outbox" in w for w in status["daemon"]["waiting"]), status["daemon"]
        text = box.cli("status", "--config", box.config).stdout
        assert "WAITING: outbox" in text and "folder_missing" in text
        assert not box.outbox.exists(), "the outbox was created again on the local disk"
        assert not list(away.rglob("one.*")), "rendered into the vanished outbox"
        away.rename(box.outbox)               # the share is back
        wait_for(lambda: (box.outbox / "one.scream.jpg").exists(), what="the render")
        wait_for(lambda: (box.state / "done" / "one.jpg").exists(), what="the archive")
    finally:
        assert stop(proc) == 0
    log = box.log.read_text()
    assert log.count("publishing stops") == 1, log
    assert log.count("is back; resuming") == 1, log


def test_inbox_deleted_and_made_again_is_watched_again(tmp_path):
    # a rescan only every hour: a photo is found quickly only if inotify watches again
    box = Box(tmp_path, canned=True, watch={"settle_seconds": 0.5, "rescan_seconds": 3600})
    proc = box.start_watch()
    try:
        wait_for(lambda: _watching(box), what="the daemon watching")
        shutil.rmtree(box.inbox)
        wait_for(lambda: "inbox" in " ".join(_live(box).get("waiting") or []),
                 what="the missing inbox in status.json")
        box.inbox.mkdir()
        wait_for(lambda: "is back" in box.log.read_text(), what="the inbox back")
        box.drop("tubingen.jpg", "two.jpg")
        wait_for(lambda: (box.outbox / "two.scream.jpg").exists(), timeout=120,
                 what="the photo dropped into the new inbox rendered")
        assert proc.poll() is None
    finally:
        assert stop(proc) == 0
    assert box.log.read_text().count("watching ") == 2   # the observer was started again


def test_state_dir_gone_is_never_created_again(tmp_path):
    box = Box(tmp_path, canned=True)
    away = tmp_path / "state.away"
    proc = box.start_watch()
    try:
        wait_for(lambda: _watching(box), what="the daemon watching")
        os.rename(box.state, away)
        wait_for(lambda: "state " in box.log.read_text() and "stops" in box.log.read_text(),
                 what="the missing state folder logged")
        box.drop("tubingen.jpg", "three.jpg")
        time.sleep(3)                          # status.json is due every second
        assert not box.state.exists()
        assert proc.poll() is None
        os.rename(away, box.state)
        wait_for(lambda: (box.outbox / "three.scream.jpg").exists(), what="the render")
    finally:
        assert stop(proc) == 0
