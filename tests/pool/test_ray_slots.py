"""What each node of a Ray cluster gets (pool/ray_slots.py), from `ray.nodes()` entries
alone: an actor per GPU, CPU actors as configured and as its CPUs allow, and whether the
drain file names it. No cluster is started here (test_ray_executor.py runs them)."""

from __future__ import annotations

from deepart_batch.core.states import SlotState
from deepart_batch.pool.ray_slots import is_draining, node_slots, read_drain_list

NODE_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
NODE = {"NodeID": NODE_ID, "NodeManagerAddress": "10.0.0.7", "Alive": True,
        "Resources": {"GPU": 2.0, "CPU": 3.0}}


def test_a_node_gets_an_actor_per_gpu_and_the_cpu_actors_its_cpus_allow():
    slots = node_slots(NODE_ID, NODE, cpu_actors_per_node=2, cpus_per_actor=2.0)
    assert [s.spec.id for s in slots] == ["a1b2c3d4/cuda#0", "a1b2c3d4/cuda#1",
                                         "a1b2c3d4/cpu#0"]   # 3 CPUs: one actor of 2
    assert {s.spec.node for s in slots} == {"10.0.0.7/a1b2c3d4"}
    assert [s.spec.threads for s in slots if s.spec.device == "cpu"] == [2]
    # before its actor says hello a slot is starting, on the device its spec names
    assert [(s.view().state, s.device) for s in slots[::2]] == \
        [(SlotState.STARTING, "cuda"), (SlotState.STARTING, "cpu")]


def test_a_cpu_only_node_without_cpu_actors_gets_no_slot():
    node = {**NODE, "Resources": {"CPU": 16.0}}
    assert node_slots(NODE_ID, node, cpu_actors_per_node=0, cpus_per_actor=1.0) == []


def test_the_drain_file_names_a_node_by_name_id_short_id_or_address(tmp_path):
    drain = tmp_path / "drain-nodes"
    assert read_drain_list(drain) == set() and read_drain_list(None) == set()
    for entry in ("10.0.0.7/a1b2c3d4", NODE_ID, "a1b2c3d4", "10.0.0.7"):
        drain.write_text(f"# nodes to empty before maintenance\n\n{entry}  # until Monday\n")
        assert read_drain_list(drain) == {entry}
        assert is_draining(read_drain_list(drain), NODE_ID, NODE), entry
    drain.write_text("10.0.0.8\nb1b2c3d4\n")
    assert not is_draining(read_drain_list(drain), NODE_ID, NODE)
