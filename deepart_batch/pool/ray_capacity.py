"""How many render actors a Ray cluster gives, and the one line that says when it gives
none: a setup that can render nothing is refused (`validate`) or held, never waited on."""

from __future__ import annotations

NOTHING_CAN_RENDER = ("nothing can render: no node of the Ray cluster at {address} ({nodes} "
                      "node(s)) has a GPU, and executor.cpu_actors_per_node is 0; add GPU "
                      "nodes or set executor.cpu_actors_per_node")


def actors_on(resources: dict, cpu_actors_per_node: int, cpus_per_actor: float
              ) -> tuple[int, int]:
    """(GPU actors, CPU actors) a node with these Ray resources gets."""
    gpus, cpus = int(resources.get("GPU", 0)), resources.get("CPU", 0)
    return gpus, min(cpu_actors_per_node, int(cpus // cpus_per_actor))


def cluster_problem(executor_config) -> str | None:
    """Join the cluster for a moment and count the actors its nodes would get; None when it
    can render, or when the cluster cannot be joined now (`watch` waits for it and says so)."""
    import ray
    ex = executor_config
    try:
        ray.init(address=ex.address, namespace=ex.namespace, ignore_reinit_error=True,
                 logging_level="ERROR", configure_logging=False)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
    except Exception:   # not running now
        return None
    finally:
        if ray.is_initialized():
            ray.shutdown()
    if any(sum(actors_on(n.get("Resources", {}), ex.cpu_actors_per_node, ex.cpus_per_actor))
           for n in nodes):
        return None
    return NOTHING_CAN_RENDER.format(address=ex.address, nodes=len(nodes))
