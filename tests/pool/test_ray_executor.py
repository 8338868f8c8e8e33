"""The Ray executor with a real Ray cluster on this machine (ray.cluster_utils.Cluster): a
head that only holds the cluster's state and two worker nodes of one CPU each, everything
on 127.0.0.1. The daemon runs as a real subprocess and drives the cluster as a Ray client.
Failures are real too: an actor process killed with SIGKILL, a node removed, the daemon
killed with SIGKILL."""

import json
import os
import signal

import pytest

from support.tooling import need

try:
    import ray  # noqa: F401
except ImportError:   # skipped at collection; in CI (CI set) a missing install fails the run
    need(False, "ray is not installed (pip install -e '.[ray]')")

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # head, nodes, drivers: 127.0.0.1 only
from ray.cluster_utils import Cluster  # noqa: E402

from support.boxes import Box, stop, wait_for  # noqa: E402
from support.journal_probe import JournalProbe  # noqa: E402

FAST_HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 4,
               "health_check_initial_delay_ms": 0}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 0, "_system_config": FAST_HEALTH})
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture
def two_nodes(cluster):
    """Each test starts with two alive 1-CPU worker nodes (a test may have removed one)."""
    workers = [n for n in cluster.list_all_nodes() if not n.head]
    for _ in range(2 - len(workers)):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster


def _box(tmp_path, cluster, **overrides):
    return Box(tmp_path, executor={"kind": "ray", "address": cluster.address,
                                   "cpu_actors_per_node": 1, "discover_seconds": 1},
               **overrides)


def _reports(box):
    return {p.name: json.loads(p.read_text()) for p in sorted(box.outbox.rglob("*.json"))
            if not p.name.endswith(".error.json")}


def _live_status(box):
    try:
        return json.loads((box.state / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _slot_running(box, input_name):
    """The status.json slot entry running the job of `input_name`, once it runs."""
    if not (box.state / "journal.sqlite").exists():
        return None
    job_id = JournalProbe(box).running_job_of(input_name)   # None before its tables exist
    if job_id is None:
        return None
    return next((w for w in _live_status(box).get("workers", []) if w["job"] == job_id), None)


def _journal_states(box):
    return JournalProbe(box).job_states()


def test_four_jobs_render_on_both_nodes(tmp_path, two_nodes):
    box = _box(tmp_path, two_nodes)
    for i, src in enumerate(["tubingen.jpg", "golden_gate.jpg", "the_scream.jpg",
                             "starry_night.jpg"]):
        box.drop(src, f"p{i}.jpg")
    res = box.run_once(timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    reports = _reports(box)
    assert sorted(reports) == [f"p{i}.scream.json" for i in range(4)]
    jobs = [r["job"] for r in reports.values()]
    alive = {n.node_id[:8] for n in two_nodes.list_all_nodes() if not n.head}
    assert {j["node"].split("/")[1] for j in jobs} == alive   # both nodes rendered
    assert all(j["executor"] == "ray" and j["attempt"] == 1 and j["worker_device"] == "cpu"
               for j in jobs)
    assert all(r["device"] == "cpu" and r["input"]["path"] == r["job"]["input"]
               for r in reports.values())
    # the reports name the daemon's style files (relative to styles_dir, as everything in
    # the outbox is), not the actor's temporary copies
    assert all(not s["path"].startswith("/") and (box.styles / s["path"]).is_file()
               for r in reports.values() for s in r["styles"])
    assert box.temp_files() == []


def test_killed_actor_job_completes_once_on_attempt_two(tmp_path, two_nodes):
    box = _box(tmp_path, two_nodes)
    box.drop("tubingen.jpg", "kill.jpg")
    box.drop("golden_gate.jpg", "fine.jpg")
    # attempt 1 of kill.jpg stops after its first step and waits to be killed
    proc = box.start_watch(env={"DEEPART_INJECT_FAULT": "hang@1:kill"})
    try:
        slot = wait_for(lambda: _slot_running(box, "kill.jpg"), timeout=180,
                        what="kill.jpg running on an actor")
        assert slot["node"] and slot["pid"] and slot["state"] == "busy"
        os.kill(slot["pid"], signal.SIGKILL)   # the actor's process, mid-job
        wait_for(lambda: len(box.outputs()) == 2, timeout=180, what="both outputs")
    finally:
        assert stop(proc) == 0
    log = box.log.read_text()
    assert box.outputs() == ["fine.scream.jpg", "kill.scream.jpg"]   # one output each
    reports = _reports(box)
    assert reports["kill.scream.json"]["job"]["attempt"] == 2
    assert reports["fine.scream.json"]["job"]["attempt"] == 1
    assert "died" in log and "queued again" in log
    assert _journal_states(box) == ["done", "done"]


def test_removed_node_job_is_requeued_and_a_new_node_gets_an_actor(tmp_path, two_nodes):
    box = _box(tmp_path, two_nodes)
    box.drop("tubingen.jpg", "lost.jpg")
    proc = box.start_watch(env={"DEEPART_INJECT_FAULT": "hang@1:lost"})
    try:
        slot = wait_for(lambda: _slot_running(box, "lost.jpg"), timeout=180,
                        what="lost.jpg running on an actor")
        first = slot["node"].split("/")[1]
        (node,) = [n for n in two_nodes.list_all_nodes() if n.node_id.startswith(first)]
        two_nodes.remove_node(node)
        # the image is published first, then its report: wait for the pair
        wait_for(lambda: box.outputs() == ["lost.scream.jpg"]
                 and "lost.scream.json" in _reports(box), timeout=180,
                 what="lost.jpg rendered on the other node")
        report = _reports(box)["lost.scream.json"]
        assert report["job"]["attempt"] == 2
        assert not report["job"]["node"].endswith(first)
        # a node that joins later gets an actor within discover_seconds (1 s here)
        new = two_nodes.add_node(num_cpus=1).node_id[:8]
        wait_for(lambda: any(w["node"].endswith(new) and w["state"] == "idle"
                             for w in _live_status(box).get("workers", [])),
                 timeout=120, what="an actor on the new node")
        nodes = {w["node"] for w in _live_status(box)["workers"]}
        assert not any(n.endswith(first) for n in nodes)   # the gone node was dropped
    finally:
        assert stop(proc) == 0
    log = box.log.read_text()
    assert "queued again" in log and "joined" in log
    assert _journal_states(box) == ["done"]


def test_daemon_killed_while_ray_jobs_run_publishes_every_photo_once(tmp_path, two_nodes):
    box = _box(tmp_path, two_nodes)
    names = ["a.jpg", "b.jpg", "c.jpg"]
    for name, src in zip(names, ["tubingen.jpg", "golden_gate.jpg", "the_scream.jpg"]):
        box.drop(src, name)
    proc = box.start_watch(env={"DEEPART_INJECT_FAULT": "hang@1"})   # every first attempt
    wait_for(lambda: sum(w["state"] == "busy" for w in _live_status(box).get("workers", []))
             == 2, timeout=180, what="both actors busy")
    busy = [w for w in _live_status(box)["workers"] if w["state"] == "busy"]
    assert len({w["node"] for w in busy}) == 2   # status: actors per node, with their state
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc = box.start_watch(log_name="watch2.log")
    try:
        wait_for(lambda: len(box.outputs()) == 3, timeout=240, what="three outputs")
        wait_for(lambda: _journal_states(box) == ["done"] * 3, timeout=60, what="journal")
    finally:
        assert stop(proc) == 0
    assert box.outputs() == [n.replace(".jpg", ".scream.jpg") for n in names]
    attempts = sorted(r["job"]["attempt"] for r in _reports(box).values())
    # two were interrupted by the daemon's kill: that is not the photo's attempt, so each renders as attempt 1 again; the third was still queued
    assert attempts == [1, 1, 1]
    assert box.temp_files() == []


def test_drained_node_takes_no_new_jobs(tmp_path, two_nodes):
    drained = next(n for n in two_nodes.list_all_nodes() if not n.head).node_id
    box = _box(tmp_path, two_nodes)
    (box.state).mkdir(exist_ok=True)
    (box.state / "drain-nodes").write_text(f"# maintenance\n{drained[:8]}\n")
    box.drop("tubingen.jpg", "p0.jpg")
    box.drop("golden_gate.jpg", "p1.jpg")
    res = box.run_once(timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert all(not r["job"]["node"].endswith(drained[:8]) for r in _reports(box).values())
    states = {w["node"].split("/")[1]: w["state"] for w in _live_status(box)["workers"]}
    assert states[drained[:8]] == "draining"


def test_job_over_job_timeout_is_cancelled_its_actor_replaced_and_retried(tmp_path, two_nodes):
    # max_attempts 4: on a box this loaded, a retry may pass 30 s as well; it still counts
    box = _box(tmp_path, two_nodes, job_timeout=30, max_attempts=4)
    box.drop("tubingen.jpg", "slow.jpg")
    res = box.run_once(timeout=400, env={"DEEPART_INJECT_FAULT": "hang@1:slow"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert box.outputs() == ["slow.scream.jpg"]   # published once
    attempt = _reports(box)["slow.scream.json"]["job"]["attempt"]
    assert attempt >= 2
    timeouts = res.stderr.count("passed job_timeout (30.0 s): cancelling it and killing the actor")
    assert timeouts == attempt - 1
    assert res.stderr.count("timeout on attempt") == attempt - 1
