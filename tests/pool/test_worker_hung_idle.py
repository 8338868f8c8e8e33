"""A warm worker that said it is ready but is stopped (SIGSTOP, a hung driver) when it is
given a job: it is killed and respawned within seconds (pool.TAKE_SECONDS), and the job
renders on the new worker without counting an attempt, instead of waiting job_timeout +
START_GRACE. Real daemon, real worker processes, real SIGSTOP."""

import json
import os
import signal

from support.boxes import stop, wait_for
from support.fault_helpers import archived, fault_box


def test_a_ready_worker_that_is_stopped_gets_replaced_and_its_job_renders(tmp_path):
    # job_timeout 600 and max_attempts 1: before, the job waited 600 + 600 s; a counted
    # attempt would then have failed it
    box = fault_box(tmp_path, job_timeout=600, max_attempts=1)
    proc = box.start_watch()
    stopped = None
    try:
        idle = wait_for(lambda: [w for w in box.status()["devices"] if w["state"] == "idle"],
                        timeout=240, what="a ready worker")
        stopped = idle[0]["pid"]
        os.kill(stopped, signal.SIGSTOP)
        box.drop("tubingen.jpg", "photo.jpg")
        wait_for(lambda: archived(box)["done"] == ["photo.jpg"], timeout=180,
                 what="the photo rendered by the respawned worker")
        (report,) = [json.loads(p.read_text()) for p in box.outbox.rglob("*.json")
                     if not p.name.endswith(".error.json")]
        assert report["job"]["attempt"] == 1
        assert report["job"]["pid"] != stopped
        log = box.log.read_text()
        assert "it is hung; killing and respawning it" in log, log[-3000:]
        assert "passed job_timeout" not in log
    finally:
        if stopped is not None:
            try:
                os.kill(stopped, signal.SIGCONT)   # if it is still there, let it die
            except ProcessLookupError:
                pass
        assert stop(proc) == 0
    assert archived(box) == {"done": ["photo.jpg"], "failed": []}


def test_a_job_whose_worker_hangs_twice_before_it_begins_is_retried_as_a_crash(tmp_path):
    """The respawned worker hangs on the same job too (fault `untaken` on attempt 1): the
    job is given back and retried as a crash, counting that attempt, and renders."""
    box = fault_box(tmp_path, job_timeout=600, max_attempts=2)
    box.drop("tubingen.jpg", "photo.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "untaken@1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count("it is hung; killing and respawning it") == 1, res.stderr[-3000:]
    assert "hung again before it began job 1" in res.stderr
    assert "queued again" in res.stderr and "passed job_timeout" not in res.stderr
    (report,) = [json.loads(p.read_text()) for p in box.outbox.rglob("*.json")
                 if not p.name.endswith(".error.json")]
    assert report["job"]["attempt"] == 2
    assert archived(box) == {"done": ["photo.jpg"], "failed": []}
