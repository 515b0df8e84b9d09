"""``GET /v1/nodes`` on a real multi-node Swarm (the lab's manager and a netns worker
joined to it): each node's role, its tasks and the most it holds, checked against what
the Swarm itself says."""

from __future__ import annotations

from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.hosts.lab import IMAGE, SwarmLab


def swarm_rows(server: ServerProcess) -> dict[str, dict[str, Any]]:
    response = server.client.get("/v1/nodes")
    assert response.status_code == 200, response.text
    return {row["id"]: row for row in response.json() if row["backend"] == "swarm"}


def test_nodes_lists_the_manager_and_a_worker_with_its_tasks_and_its_most(
    host_server: ServerProcess, lab: SwarmLab, tmp_path: Any
) -> None:
    made = host_server.client.post(
        "/v1/hosts", json={"provider": "netns", "labels": {"group": "listed"}}, timeout=300
    )
    assert made.status_code == 201, made.text
    worker = made.json()["name"]
    lab.docker("node", "update", "--label-add", "scalehook.max_tasks=3", worker)
    lab.docker(
        "service", "create", "-q", "--name", "counted", "--replicas", "2",
        "--constraint", f"node.hostname=={worker}", "--network", "host",
        "--stop-grace-period", "1s", IMAGE, "sleep", "3600",
    )  # fmt: skip
    server = ServerProcess(
        tmp_path / "nodes-server",
        {"backends": {"swarm": {"type": "swarm", "docker_host": lab.docker_host}}},
    )
    try:
        wait_until(
            lambda: sum(t["Status"]["State"] == "running" for t in lab.tasks("counted")) == 2,
            timeout=180,
            what="both tasks running on the worker",
        )
        server.start()
        truth = {n["ID"]: n for n in lab.nodes()}
        rows = swarm_rows(server)
        assert set(rows) == set(truth)  # every node of the Swarm, and nothing else
        for node_id, node in truth.items():
            row = rows[node_id]
            assert row["role"] == node["Spec"]["Role"]
            assert row["name"] == node["Description"]["Hostname"]
            assert row["state"] == node["Status"]["State"]
            assert row["error"] is None
        (far,) = [r for r in rows.values() if r["name"] == worker]
        assert (far["role"], far["replicas"], far["max_replicas"]) == ("worker", 2, 3)
        assert (far["free"], far["bound"], far["full"]) == (1, "label", False)
        assert far["services"].get("counted") == 2
        assert far["cpus"] and far["memory"]  # read from the worker's engine, never 0

        lab.docker("service", "scale", "-d", "counted=3")
        wait_until(
            lambda: swarm_rows(server)[far["id"]]["replicas"] == 3,
            timeout=180,
            what="the third task counted on the worker",
        )
        full = swarm_rows(server)[far["id"]]
        assert (full["free"], full["full"]) == (0, True)
    finally:
        server.close()
        lab.docker("service", "rm", "counted", check=False)
