"""Fault suite: crashes at chosen points, odd names and a booby-trapped outbox, with real
directories; every scenario ends with the same promise (fault_helpers). Each crash is a real
daemon process dying at its point; with a canned box (canned=True) it starts no worker and
the restart that must finish the job runs in this process."""

import json
import os
import signal

from support.boxes import wait_for
from support.manifests import DATA
from support.journal_files import truncate_half
from support.journal_probe import JournalProbe
from support.fault_helpers import (CRASH, CRASH_EXIT, archived, assert_promise, assert_restarts,
                                   fault_box)


def _inputs(box, *fields):
    return JournalProbe(box).inputs(*fields)


def test_crash_between_archive_rename_and_journal_is_finished_at_restart(tmp_path):
    box = fault_box(tmp_path)
    box.drop("tubingen.jpg", "a/photo.jpg")
    res = box.run_once(env={CRASH: "after_archive_rename"})
    assert res.returncode == CRASH_EXIT, res.stderr[-2000:]
    assert archived(box)["done"] == ["a/photo.jpg"]   # moved, the journal not told yet
    assert _inputs(box, "state") == [("claimed",)]
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert _inputs(box, "state", "archived_to") == \
        [("done", str(box.state / "done/a/photo.jpg"))]
    assert box.outputs() == ["a/photo.scream.jpg"]
    assert_promise(box, dropped=1)
    assert_restarts(box)


def test_crash_while_refusing_a_file_is_finished_with_its_reason(tmp_path):
    box = fault_box(tmp_path, canned=True)
    (box.inbox / "broken.jpg").write_bytes((DATA / "golden_gate.jpg").read_bytes()[:600])
    res = box.run_once(env={CRASH: "after_archive_rename"})
    assert res.returncode == CRASH_EXIT, res.stderr[-2000:]
    res = box.run_once()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "inputs failed     1" in res.stderr
    assert archived(box) == {"done": [], "failed": ["broken.jpg"]}
    error = json.loads((box.state / "failed/broken.jpg.error.json").read_text())
    assert error["reason"] == "unreadable" and "broken.jpg" in error["error"]
    assert json.loads((box.outbox / "broken.jpg.error.json").read_text())["reason"] == "unreadable"
    assert_promise(box, dropped=1)
    assert_restarts(box)


def test_a_claimed_file_gone_from_work_fails_with_its_own_reason(tmp_path):
    box = fault_box(tmp_path, canned=True)
    box.drop("tubingen.jpg", "photo.jpg")
    res = box.run_once(env={CRASH: "after_claim_move"})
    assert res.returncode == CRASH_EXIT
    for f in (box.state / "work").iterdir():
        f.unlink()   # someone tidies work/ by hand
    res = box.run_once()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "gone from work/" in res.stderr
    error = json.loads((box.outbox / "photo.jpg.error.json").read_text())
    assert error["reason"] == "input_lost"
    assert _inputs(box, "state") == [("failed",)]
    assert_restarts(box)


def test_a_name_that_is_not_utf8_is_rendered(tmp_path):
    box = fault_box(tmp_path, canned=True)
    with open(os.fsencode(box.inbox) + b"/caf\xe9.jpg", "wb") as fh:
        fh.write((DATA / "tubingen.jpg").read_bytes())
    box.drop("golden_gate.jpg", "later.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert box.outputs() == ["caf\ufffd.scream.jpg", "later.scream.jpg"]
    assert archived(box)["done"] == ["caf\ufffd.jpg", "later.jpg"]
    assert "not valid UTF-8" in res.stderr
    assert_promise(box, dropped=2)
    assert_restarts(box)


def test_a_250_byte_name_is_rendered_once_with_names_that_fit(tmp_path):
    box = fault_box(tmp_path, canned=True)
    long = "x" * 246 + ".jpg"
    box.drop("tubingen.jpg", f"c/{long}")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    outputs = box.outputs()
    assert len(outputs) == 1 and all(len(p.split("/")[-1].encode()) <= 255 for p in outputs)
    assert outputs[0].startswith("c/xxxx") and outputs[0].endswith(".jpg")
    assert len(archived(box)["done"]) == 1
    assert_promise(box, dropped=1)
    assert_restarts(box)


def test_a_symlinked_folder_in_the_outbox_fails_the_job_not_the_daemon(tmp_path):
    box = fault_box(tmp_path, canned=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (box.outbox / "team").symlink_to(outside)
    box.drop("tubingen.jpg", "team/photo.jpg")
    (box.inbox / "team" / "broken.jpg").write_bytes(b"not an image at all")
    box.drop("golden_gate.jpg", "other/fine.jpg")
    res = box.run_once()
    assert res.returncode == 1, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "outside the outbox" in res.stderr
    assert not any(outside.iterdir())            # nothing written through the link
    assert archived(box) == {"done": ["other/fine.jpg"],
                             "failed": ["team/broken.jpg", "team/photo.jpg"]}
    error = json.loads((box.state / "failed/team/photo.jpg.error.json").read_text())
    assert error["reason"] == "unsafe_path"
    assert_promise(box, dropped=3)
    assert_restarts(box)


def _crash_with_a_claim(box):
    box.drop("tubingen.jpg", "keep/photo.jpg")
    res = box.run_once(env={CRASH: "after_claim_move"})
    assert res.returncode == CRASH_EXIT
    assert len(list((box.state / "work").iterdir())) == 1


def test_damaged_journal_is_moved_aside_and_rebuilt(tmp_path):
    box = fault_box(tmp_path, canned=True)
    box.drop("golden_gate.jpg", "earlier.jpg")
    assert box.run_once().returncode == 0
    _crash_with_a_claim(box)
    db = box.state / "journal.sqlite"
    for extra in ("-wal", "-shm"):
        (box.state / f"journal.sqlite{extra}").unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[:100] = b"\x00garbage" * 12 + b"\x00" * 4    # the header overwritten
    db.write_bytes(bytes(data))
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if "is damaged" in ln]
    assert len(lines) == 1 and "repair-journal" in lines[0] and "moved it aside" in lines[0]
    assert list(box.state.glob("journal.sqlite.damaged-*"))
    assert box.outputs() == ["earlier.scream.jpg", "keep/photo.scream.jpg"]
    assert sorted(_inputs(box, "relpath", "state")) == \
        [("earlier.jpg", "done"), ("keep/photo.jpg", "done")]
    assert_promise(box, dropped=2)
    assert_restarts(box)


def test_truncated_journal_is_rebuilt(tmp_path):
    box = fault_box(tmp_path, canned=True)
    _crash_with_a_claim(box)
    db = box.state / "journal.sqlite"
    truncate_half(db)
    res = box.run_once()
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert box.outputs() == ["keep/photo.scream.jpg"]
    assert_promise(box, dropped=1)
    assert_restarts(box)


def test_deleted_journal_still_renders_what_was_claimed(tmp_path):
    box = fault_box(tmp_path, canned=True)
    _crash_with_a_claim(box)
    for f in box.state.glob("journal.sqlite*"):
        f.unlink()
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert "had no journal row" in res.stderr and "keep/photo.jpg" in res.stderr
    assert box.outputs() == ["keep/photo.scream.jpg"]
    assert archived(box)["done"] == ["keep/photo.jpg"]
    assert_promise(box, dropped=1)
    assert_restarts(box)


def test_repair_journal_command(tmp_path):
    box = fault_box(tmp_path, canned=True)
    _crash_with_a_claim(box)
    for extra in ("-wal", "-shm"):
        (box.state / f"journal.sqlite{extra}").unlink(missing_ok=True)
    (box.state / "journal.sqlite").write_bytes(b"this is not sqlite" * 100)
    res = box.cli("repair-journal", "--config", box.config, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "1 file(s) in work/ claimed again" in res.stdout + res.stderr
    assert _inputs(box, "relpath", "state") == [("keep/photo.jpg", "claiming")]
    assert box.run_once().returncode == 0
    assert box.outputs() == ["keep/photo.scream.jpg"]
    assert_promise(box, dropped=1)


def _catches_sigterm(pid) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(ln for ln in fh if ln.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def test_sigterm_in_the_first_moments_of_start_up_exits_0(tmp_path):
    box = fault_box(tmp_path)
    box.drop("tubingen.jpg", "photo.jpg")
    proc = box.start_watch()
    try:
        wait_for(lambda: _catches_sigterm(proc.pid) or proc.poll() is not None, timeout=60,
                 interval=0.005, what="a SIGTERM handler")
        started = (box.state / "journal.sqlite").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, box.log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not started       # it really was early: before the journal was even opened
    assert "Traceback" not in box.log.read_text()
    assert (box.inbox / "photo.jpg").exists()      # untouched, taken by the next start
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert_promise(box, dropped=1)
