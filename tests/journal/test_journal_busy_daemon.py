"""A busy journal, the daemon's side: another program (here a real second sqlite3
connection) holds the journal with BEGIN EXCLUSIVE for longer than journal_busy_seconds.
`watch` skips its ticks and stays up, and renders once the lock is gone; status, retry
and prune say "the journal is busy" in one line, never with a traceback."""

import time

from support.boxes import Box, stop, wait_for
from support.journal_files import open_exclusive

BUSY_LINE = "the journal is busy (another program holds it); try again"


def _lock(box):
    return open_exclusive(box.state / "journal.sqlite")


def test_watch_rides_out_a_journal_locked_longer_than_its_budget(tmp_path):
    box = Box(tmp_path, journal_busy_seconds=1, canned=True)   # a watch process, canned renders
    proc = box.start_watch()
    try:
        wait_for(lambda: "watching " in box.log.read_text(), what="the daemon watching")
        db = _lock(box)
        try:
            box.drop("tubingen.jpg", "locked.jpg")
            wait_for(lambda: "tick skipped" in box.log.read_text(), what="a skipped tick")
            time.sleep(3)                      # several budgets: it keeps going
            assert proc.poll() is None, box.log.read_text()[-3000:]
        finally:
            db.rollback()
            db.close()
        wait_for(lambda: (box.outbox / "locked.scream.jpg").exists(), what="the render")
    finally:
        assert stop(proc) == 0
    assert "Traceback" not in box.log.read_text()


def test_commands_say_the_journal_is_busy_in_one_line(tmp_path):
    box = Box(tmp_path, journal_busy_seconds=1, canned=True)
    box.drop("tubingen.jpg", "a.jpg")
    assert box.run_once().returncode == 0      # a journal with a done photo
    db = _lock(box)
    try:
        time.sleep(1.5)                        # so that a.jpg is older than 1s
        for args in (["retry", "--photo", "a.jpg", "--force"], ["prune", "--older-than", "1s"]):
            res = box.cli(*args, "--config", box.config, timeout=120)
            assert res.returncode == 75, (args, res.stdout, res.stderr)
            lines = res.stderr.strip().splitlines()
            assert lines == [f"deepart-batch: {BUSY_LINE}"], (args, res.stderr)
        res = box.cli("status", "--config", box.config, timeout=120)
        assert "Traceback" not in res.stderr
        assert res.returncode == 0 or res.stderr.strip() == f"deepart-batch: {BUSY_LINE}"
    finally:
        db.rollback()
        db.close()
    assert box.cli("retry", "--photo", "a.jpg", "--force", "--config", box.config,
                   timeout=120).returncode == 0
