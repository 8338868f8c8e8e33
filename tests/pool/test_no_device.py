"""A setup that can render nothing is refused or held, never waited on.
A real local Ray cluster whose only node has no GPU, with executor.cpu_actors_per_node 0:
`validate` says so (exit 2), `run --once` exits 69 with one line and leaves the photo in
the inbox, `watch` holds it as no_device and says so in status."""

import os
import signal

import pytest

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # head, nodes, drivers: 127.0.0.1 only
from ray.cluster_utils import Cluster  # noqa: E402

from support.boxes import Box, stop, wait_for  # noqa: E402

EXIT_NO_DEVICE = 69


@pytest.fixture(scope="module")
def no_gpu_cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _box(tmp_path, cluster):
    return Box(tmp_path, executor={"kind": "ray", "address": cluster.address,
                                   "cpu_actors_per_node": 0, "discover_seconds": 1},
               problems={"hold_seconds": 1})


def test_validate_refuses_a_setup_that_can_render_nothing(tmp_path, no_gpu_cluster):
    box = _box(tmp_path, no_gpu_cluster)
    res = box.cli("validate", "--config", box.config, timeout=180)
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "nothing can render" in errors[0], res.stderr


def test_run_once_exits_instead_of_waiting(tmp_path, no_gpu_cluster):
    box = _box(tmp_path, no_gpu_cluster)
    box.drop("tubingen.jpg", "a.jpg")
    res = box.run_once(timeout=240)            # before: waited until killed
    assert res.returncode == EXIT_NO_DEVICE, res.stderr[-3000:]
    assert "nothing can render" in res.stderr
    assert "Traceback" not in res.stderr
    assert (box.inbox / "a.jpg").exists()       # not taken: the next run renders it


def test_watch_holds_photos_as_no_device(tmp_path, no_gpu_cluster):
    box = _box(tmp_path, no_gpu_cluster)
    proc = box.start_watch()
    try:
        box.drop("tubingen.jpg", "b.jpg")
        wait_for(lambda: box.status()["held"]["by_reason"].get("no_device"), timeout=180,
                 what="the photo held as no_device")
        status = box.status()
        assert any("nothing can render" in w for w in status["daemon"]["waiting"])
        text = box.cli("status", "--config", box.config).stdout
        assert "WAITING: nothing can render" in text
        assert proc.poll() is None
    finally:
        assert stop(proc, signal.SIGTERM) == 0
    assert box.log.read_text().count("until a render device joins") == 1
