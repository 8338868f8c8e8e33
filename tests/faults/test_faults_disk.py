"""Disk full: out of space is not the photo's fault. Real tmpfs mounts where this process
may mount them (root, as here and in CI), else an injected ENOSPC on every outbox write."""

import contextlib
import json

from support.boxes import stop, wait_for
from support.fault_helpers import archived, assert_promise, assert_restarts, fault_box
from support.mounts import mount_tmpfs, unmount
from support.tooling import need


def _fill(path):
    """Take every free block of the filesystem holding `path`."""
    with contextlib.suppress(OSError), open(path / ".filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


@contextlib.contextmanager
def full_disk(folder):
    """(env for the daemon, a function that frees the space)."""
    mounted = mount_tmpfs(folder)
    flag = folder / ".disk-full"
    try:
        if mounted:
            _fill(folder)
            yield {}, lambda: (folder / ".filler").unlink()
        else:
            flag.write_text("1")
            yield {"DEEPART_TEST_DISK_FULL": str(flag)}, flag.unlink
    finally:
        if mounted:
            unmount(folder)


def test_full_outbox_holds_the_job_and_publishes_when_there_is_room(tmp_path):
    box = fault_box(tmp_path, canned=True)   # a watch process; its renders are canned
    with full_disk(box.outbox) as (env, make_room):
        proc = box.start_watch(env=env)
        try:
            box.drop("tubingen.jpg", "photo.jpg")
            held = wait_for(lambda: box.status()["held"]["photos"], timeout=180,
                            what="a held job")
            assert held[0]["reason"] == "disk_full" and "not failed" in held[0]["error"]
            wait_for(lambda: "held and retried" in box.log.read_text(), what="the log line")
            assert not archived(box)["failed"] and not box.outputs()
            assert box.status()["counts"]["failed"] == 0
            make_room()
            wait_for(lambda: archived(box)["done"], timeout=180, what="the photo done")
            assert box.outputs() == ["photo.scream.jpg"]
            assert box.status()["held"]["total"] == 0
            assert stop(proc) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert_promise(box, dropped=1)
    assert_restarts(box)


def test_full_state_dir_keeps_the_daemon_running_and_loses_nothing(tmp_path):
    box = fault_box(tmp_path, canned=True)   # a watch process; its renders are canned
    box.state.mkdir()
    need(mount_tmpfs(box.state, "size=2m"), "cannot mount a tmpfs here (needs root)")
    try:
        proc = box.start_watch()
        try:
            wait_for(lambda: (box.state / "journal.sqlite").exists(), what="the journal")
            wait_for(lambda: "watching" in box.log.read_text(), what="the watcher")
            _fill(box.state)
            box.drop("tubingen.jpg", "photo.jpg")
            wait_for(lambda: "is full" in box.log.read_text(), timeout=60, what="full state")
            assert proc.poll() is None
            assert (box.inbox / "photo.jpg").exists()      # still where it was dropped
            (box.state / ".filler").unlink()
            wait_for(lambda: archived(box)["done"], timeout=180, what="the photo done")
            assert stop(proc) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert box.outputs() == ["photo.scream.jpg"]
        assert_promise(box, dropped=1)
        assert_restarts(box)
    finally:
        unmount(box.state)


def test_run_once_with_a_full_outbox_holds_then_the_next_run_publishes(tmp_path):
    """The injected ENOSPC (the fallback where no tmpfs can be mounted), in a bulk run."""
    box = fault_box(tmp_path, canned=True)   # in-process: the outbox writes are the point
    flag = box.outbox / ".disk-full"
    flag.write_text("1")
    box.drop("tubingen.jpg", "a/photo.jpg")
    (box.inbox / "a" / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    res = box.run_once(env={"DEEPART_TEST_DISK_FULL": str(flag)})
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "1 job(s) held" in res.stderr and "outbox is full" in res.stderr
    assert "could not write its error report" in res.stderr   # bad.jpg's, said, not silent
    assert archived(box) == {"done": [], "failed": ["a/bad.jpg"]}
    assert not box.outputs() and len(list((box.state / "work").iterdir())) == 1
    flag.unlink()
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert box.outputs() == ["a/photo.scream.jpg"]
    report = json.loads((box.outbox / "a/photo.scream.json").read_text())
    assert report["job"]["attempt"] == 1          # the held tries used no attempt
    assert_promise(box, dropped=2)
    assert_restarts(box)
