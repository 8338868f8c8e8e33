"""The job timeout starts when the worker begins the job, not when it is assigned:
a worker slow to load its weights is not a job that ran too long."""

from support.fault_helpers import archived, fault_box


def test_a_worker_slow_to_start_does_not_time_its_first_job_out(tmp_path):
    # every worker takes 25 s more to start after its hello; the job itself a few seconds
    box = fault_box(tmp_path, job_timeout=15, max_attempts=1)
    box.drop("tubingen.jpg", "slow.jpg")
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "slow_start"})
    assert "passed job_timeout" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 0, res.stderr[-3000:]
    assert archived(box)["done"] == ["slow.jpg"]
