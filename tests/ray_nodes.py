"""A multi-node Ray cluster on this machine, run in a process of its own for tests
(tests/test_ray_cluster.py): a head (no CPUs, with the job server) and two worker nodes of 2 CPUs,
each with its own raylet, object store and worker processes (`ray.cluster_utils.Cluster`).

Its own process, because a process that starts Ray nodes installs a SIGTERM handler that drains
its nodes: a test process that also forks workers (the local runner's decode pool, terminated
with SIGTERM) would drain the cluster from under itself.

Protocol, one JSON line each way: it prints {"address", "webui", "workers": [node ids]} once
ready, then reads commands from stdin — "kill I" (worker I killed at once, as a lost machine:
raylet, object store, workers), "add" (a new worker of 2 CPUs) — and answers each with the
worker list; end of input shuts the cluster down.
"""
from __future__ import annotations

import json
import sys


def main() -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": True, "dashboard_port": 0})
    workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()

    def say(**extra) -> None:
        print(json.dumps({"workers": [w.node_id for w in workers], **extra}), flush=True)

    say(address=cluster.address, webui=cluster.webui_url)
    try:
        for line in sys.stdin:
            cmd = line.split()
            if cmd[:1] == ["kill"]:
                cluster.remove_node(workers.pop(int(cmd[1])), allow_graceful=False)
            elif cmd[:1] == ["add"]:
                workers.append(cluster.add_node(num_cpus=2))
                cluster.wait_for_nodes()
            say()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
