"""A bulk pass tells the truth - progress "n of N", one exit code per
outcome, a summary line that says which - and `status` gives the queue's ETA and one held
count."""

import signal
import time

from support.boxes import Box, stop, wait_for
from support.boxes import write_config
from support.jobs import toy_spec
from support.processes import start_cli

from deepart_batch.core.layout import StateLayout
from deepart_batch.daemon.admin.bulk_pass import (EXIT_DONE, EXIT_HELD_OR_LEFT,
                                                  EXIT_SOME_FAILED, EXIT_STOPPED)
from deepart_batch.daemon.admin.status import collect, render_text
from deepart_batch.journal import Journal
from deepart_batch.settings.config import load_config

ONLY_CITY = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "city/**"
    outputs: [{style: starry}]
"""


def test_the_exit_codes_are_distinct_and_clear_of_the_others():
    from deepart_batch.daemon import service
    codes = (EXIT_DONE, EXIT_SOME_FAILED, EXIT_HELD_OR_LEFT, EXIT_STOPPED)
    assert EXIT_DONE == 0 and len(set(codes)) == 4
    assert not set(codes[1:]) & {2, service.EXIT_OBSERVER_DIED, service.EXIT_LOCKED}


def test_everything_done_prints_progress_and_exits_0(tmp_path):
    box = Box(tmp_path, manifest=ONLY_CITY, canned=True)   # the bulk pass in this process
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "city/b.jpg")
    res = box.run_once()
    assert res.returncode == EXIT_DONE, res.stderr
    assert "2 of 2 renders finished" in res.stderr
    assert " of 2 renders finished" in res.stderr.split("2 of 2")[0]   # and one before it
    assert "everything done" in res.stderr.strip().splitlines()[-1]


def test_a_failed_photo_exits_some_failed(tmp_path):
    box = Box(tmp_path, manifest=ONLY_CITY, canned=True)   # the bulk pass in this process
    box.drop("tubingen.jpg", "city/a.jpg")
    (box.inbox / "city" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    res = box.run_once()
    assert res.returncode == EXIT_SOME_FAILED, res.stderr
    assert "some failed" in res.stderr.strip().splitlines()[-1]


def test_a_held_photo_exits_held_and_status_counts_it_once(tmp_path):
    box = Box(tmp_path, manifest=ONLY_CITY, canned=True)   # the bulk pass in this process
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "elsewhere/b.jpg")      # no rule: held
    res = box.run_once()
    assert res.returncode == EXIT_HELD_OR_LEFT, res.stderr
    assert "held or left" in res.stderr.strip().splitlines()[-1]
    info = box.status()
    assert info["counts"]["held"] == info["held"]["total"] == 1
    text = box.cli("status", "--config", box.config).stdout
    assert "held 1" in text.splitlines()[1] and "held: 1 " in text, text


def test_a_pass_stopped_by_sigterm_exits_stopped_and_says_what_is_left(tmp_path):
    box = Box(tmp_path, manifest=ONLY_CITY, drain_seconds=1)
    for i in range(3):
        box.drop("tubingen.jpg", f"city/{i}.jpg")
    proc = start_cli(box, "run", "--once", env={"DEEPART_INJECT_FAULT": "hang"})
    try:
        wait_for(lambda: " -> " in box.log.read_text() and "job " in box.log.read_text(),
                 timeout=120, what="a render started")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        stop(proc, sig=signal.SIGKILL)
    out = box.log.read_text()
    assert code == EXIT_STOPPED, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert "stopped before the end" in last and "3 render(s) left" in last, last


def test_status_gives_an_eta_for_the_whole_queue(tmp_path):
    for d in ("in", "out", "state", "styles"):
        (tmp_path / d).mkdir()
    write_config(tmp_path / "config.yaml",
                 {"inbox": "in", "outbox": "out", "state_dir": "state", "styles_dir": "styles",
                  "manifest": "m.yaml"})
    config = load_config(tmp_path / "config.yaml")
    journal = Journal(StateLayout(tmp_path / "state").journal)
    photo = journal.begin_claim("city/a.jpg", "city", "/w/a.jpg")
    journal.finish_claim(photo, "sha")
    jobs = [journal.add_job(photo, f"k{i}", "city", 0, f"s{i}", toy_spec(), f"/o/{i}.jpg",
                            f"/o/{i}.json") for i in range(6)]
    for job in jobs[:2]:                      # two renders of 60 s each
        journal.mark_running(job, "cpu#0", "cpu")
        journal.mark_done(job, 60.0)
    info = collect(config)
    journal.close()
    queue = info["queue"]
    assert queue["jobs"] == 4 and queue["eta_seconds"] == 240.0, queue
    assert "queue: 4 queued + 0 running, about 4 min 0 s left" in render_text(info)
