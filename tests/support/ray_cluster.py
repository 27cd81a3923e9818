"""A two-node Ray cluster on loopback for the tests and benchmarks, with omnivox deployed on it.

The nodes are 127.0.0.2 and 127.0.0.3 (Ray rewrites 127.0.0.1 to the machine's routable address, and no
traffic may leave loopback), each with custom resource `head_node` or `worker_node`, RAY_TMPDIR in a
temporary folder, no dashboard and a capped object store. They are stopped by process id
(Cluster.shutdown kills the processes it started), never with `ray stop`, which kills every Ray process on
the machine by name. Ray is imported inside the functions: modules that use this are collected without the
`ray` extra."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from omnivox.config import Settings
from omnivox.serving.catalog import Loaders

ROOT = Path(__file__).resolve().parents[2]
OBJECT_STORE = 80 * 1024 * 1024  # bytes per node (Ray's floor is 75 MiB); the default is 30% of RAM


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (outside Ray's worker ports, 10002-19999, by the kernel's range)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Where each node's metrics agent serves Prometheus text (head, worker), on the node's address.
METRICS_PORTS: list[int] = []


@contextlib.contextmanager
def two_node_cluster(folder: Path, cpus: int = 1) -> Iterator[str]:
    """A head on 127.0.0.2 and a worker on 127.0.0.3; yields the head's address. The replicas import
    `tests.support` (PYTHONPATH) and may note what they do in `folder` ($OMNIVOX_RAY_TEST_DIR)."""
    METRICS_PORTS[:] = [free_port(), free_port()]
    os.environ["RAY_TMPDIR"] = str(folder / "ray")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["OMNIVOX_RAY_TEST_DIR"] = str(folder)
    # Ray's floor (the default is 10 s); its config names are case-sensitive
    os.environ["RAY_metrics_report_interval_ms"] = "1000"  # noqa: SIM112
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus, "object_store_memory": OBJECT_STORE, "include_dashboard": False}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **node,
            "node_ip_address": "127.0.0.2",
            "resources": {"head_node": 1},
            "metrics_export_port": METRICS_PORTS[0],
        },
    )
    try:
        cluster.add_node(
            **node,
            node_ip_address="127.0.0.3",
            resources={"worker_node": 1},
            metrics_export_port=METRICS_PORTS[1],
        )
        yield str(cluster.address)
    finally:
        cluster.shutdown()  # each process it started, by its id


@contextlib.contextmanager
def omnivox_on_ray(settings: Callable[[Path], Settings], loaders: Loaders) -> Iterator[tuple[str, str]]:
    """omnivox deployed (`omnivox.scaling.app.deploy`, as `serve --ray` does) on a fresh two-node
    cluster, with the settings made for the cluster's temporary folder; yields the base URL of Serve's
    proxy (host:port of the settings) and the cluster's address."""
    import ray
    from ray import serve

    from omnivox.scaling.app import deploy

    with (
        tempfile.TemporaryDirectory(prefix="ovr-", dir="/tmp") as name,
        two_node_cluster(Path(name)) as address,
    ):
        chosen = settings(Path(name))
        try:
            deploy(chosen, address, loaders)
            yield f"http://{chosen.host}:{chosen.port}", address
        finally:
            serve.shutdown()
            ray.shutdown()
