"""A daemon killed during a render does not use up the photo's attempt:
with max_attempts 1, the photo renders after the restart instead of failing as
"interrupted". Real daemon, real SIGKILL, real journal."""

import os
import signal

from support.boxes import wait_for
from support.fault_helpers import archived, fault_box


def test_kill_9_during_a_render_with_max_attempts_1_renders_after_the_restart(tmp_path):
    box = fault_box(tmp_path, max_attempts=1, defaults={"size": 32, "steps": 60,
                                                        "log_every": 1})
    proc = box.start_watch()
    try:
        box.drop("tubingen.jpg", "photo.jpg")
        wait_for(lambda: (box.status()["running"] or [{}])[0].get("progress"),
                 timeout=240, what="the render in progress")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    res = box.run_once(timeout=600)
    assert "interrupted" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 0, res.stderr[-3000:]
    assert archived(box) == {"done": ["photo.jpg"], "failed": []}
