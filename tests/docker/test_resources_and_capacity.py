"""Resources and capacity on a real Docker engine and a real (one-node) Swarm.

Limits are checked in the engine's own inspect, not in scalehook's words: a Docker
container update keeps the container running (same start time), a Swarm service update
puts ``Resources.Limits`` into the spec and every task runs with them. The engine is
shared with other tests, so a count that others may change is read from the answer
(``other services have N``) rather than assumed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from tests.docker.conftest import UNLIMITED, WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_docker_scaling import trigger
from tests.docker.test_swarm_scaling import service_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

MIB = 1024 * 1024
NANO = 1_000_000_000


def cores(host: Any) -> float | None:
    """The CPUs a container's ``HostConfig`` allows, as the kernel gets them: a quota
    per period (what a container update sets), or ``--cpus``; None: no limit."""
    if host.get("NanoCpus"):
        return float(host["NanoCpus"] / NANO)
    quota, period = int(host.get("CpuQuota") or 0), int(host.get("CpuPeriod") or 100_000)
    return None if quota <= 0 else quota / period


def others_in(message: str) -> int:
    found = re.search(r"other services have (\d+)", message)
    return 0 if found is None else int(found.group(1))


def test_docker_limits_change_in_place_and_bad_ones_are_refused(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = f"{prefix}-web"
    labels = {SERVICE_LABEL: service, TEST_LABEL: prefix}
    engine.run(f"{prefix}-first", WEB_IMAGE, labels=labels, host_config={"Memory": 64 * MIB})
    docker_server.wait_for(service, desired=1, ready=1)
    up = docker_server.create_receiver(f"{prefix}-up", service=service, action="up", amount=1)
    assert trigger(up["url"])["after"] == 2
    docker_server.wait_for(service, desired=2, running=2, ready=2)
    assert docker_server.service(service)["resources"]["memory"] == 64 * MIB
    started = {
        r["Id"]: engine.inspect(r["Id"])["State"]["StartedAt"]
        for r in engine.labelled(SERVICE_LABEL, service)
    }

    answer = docker_server.client.post(
        f"/v1/services/{service}/resources", json={"cpus": 0.5, "memory": "128Mi"}
    )
    assert answer.status_code == 200, answer.text
    execution = answer.json()
    assert execution["result"] == "updated" and execution["driver"] == "api"
    assert execution["details"]["change"] == "resources"
    assert execution["details"]["restarted"] is False
    assert len(execution["details"]["replicas"]) == 2
    for ident, when in started.items():
        record = engine.inspect(ident)
        assert cores(record["HostConfig"]) == 0.5
        assert record["HostConfig"]["Memory"] == 128 * MIB
        assert record["State"]["Running"] and record["State"]["StartedAt"] == when  # no restart
    shown = docker_server.service(service)["resources"]
    assert (shown["cpus"], shown["memory"], shown["memory_text"], shown["enforced"]) == (
        0.5,
        128 * MIB,
        "128Mi",
        "engine",
    )

    # A scale-up clones the new limits.
    assert trigger(up["url"])["after"] == 3
    docker_server.wait_for(service, desired=3, running=3)
    for row in engine.labelled(SERVICE_LABEL, service):
        assert engine.inspect(row["Id"])["HostConfig"]["Memory"] == 128 * MIB

    same = docker_server.client.post(f"/v1/services/{service}/resources", json={"cpus": 0.5})
    assert same.json()["result"] == "noop"

    for body, field in (
        ({"memory": "lots"}, "memory"),
        ({"cpus": -1}, "cpus"),
        ({"cpus": 4096}, "cpus"),
        ({}, None),
    ):
        refused = docker_server.client.post(f"/v1/services/{service}/resources", json=body)
        assert 400 <= refused.status_code < 500, (body, refused.text)
        error = refused.json()
        assert set(error) >= {"error", "message"}, error
        if field is not None:
            assert field in str(error["field"]), error
    for row in engine.labelled(SERVICE_LABEL, service):  # nothing half-applied
        assert cores(engine.inspect(row["Id"])["HostConfig"]) == 0.5

    removed = docker_server.client.post(f"/v1/services/{service}/resources", json={"cpus": None})
    assert removed.json()["result"] == "updated"
    for row in engine.labelled(SERVICE_LABEL, service):
        host = engine.inspect(row["Id"])["HostConfig"]
        assert (cores(host), host["CpuQuota"], host["Memory"]) == (None, -1, 128 * MIB)


def test_docker_nodes_and_a_scale_past_max_replicas_is_clamped(
    engine: Engine, prefix: str, docker_server: ServerProcess, tmp_path: Any
) -> None:
    service = f"{prefix}-web"
    engine.run(f"{prefix}-first", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    docker_server.wait_for(service, desired=1)
    (node,) = docker_server.client.get("/v1/nodes").json()
    info = engine.get("/info")
    assert (node["kind"], node["name"], node["cpus"], node["memory"]) == (
        "docker",
        info["Name"],
        float(info["NCPU"]),
        info["MemTotal"],
    )
    assert node["bound"] == "default" and node["max_replicas"] >= 1
    assert node["services"][service] == 1
    assert node["replicas"] == sum(node["services"].values())

    others = node["replicas"] - 1
    most = others + 3
    config = {"backends": {"docker": {"type": "docker", "max_replicas": most}}, "hooks": UNLIMITED}
    server = ServerProcess(tmp_path / "limited", config)
    server.start()
    try:
        server.wait_for(service, desired=1)
        up = server.create_receiver(
            f"{prefix}-big", service=service, action="up", amount=100, max=200
        )
        answer = trigger(up["url"])
        assert f"holds at most {most} replicas (max_replicas, as set)" in answer["message"]
        assert answer["details"]["bound"] == "capacity"
        room = most - others_in(answer["message"])  # others may come and go meanwhile
        assert answer["after"] == max(1, room) and answer["after"] < 101
        assert answer["result"] == ("clamped" if room > 1 else "noop")
        server.wait_for(service, desired=answer["after"], running=answer["after"], timeout=120)
        assert len(engine.labelled(SERVICE_LABEL, service)) == answer["after"]
        (limited,) = server.client.get("/v1/nodes").json()
        assert (limited["max_replicas"], limited["bound"]) == (most, "setting")
    finally:
        server.close()


@pytest.mark.swarm
def test_swarm_limits_are_a_service_update_and_nodes_list_the_swarm(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = f"{prefix}-web"
    engine.create_service(service_spec(name, prefix, overlay, replicas=2))
    swarm_server.wait_for(name, desired=2, running=2, timeout=90)
    assert swarm_server.service(name)["resources"]["cpus"] is None

    answer = swarm_server.client.post(
        f"/v1/services/{name}/resources", json={"cpus": 0.25, "memory": "96Mi"}, timeout=300
    )
    assert answer.status_code == 200, answer.text
    execution = answer.json()
    assert execution["result"] == "updated" and execution["details"]["restarted"] is True
    spec = engine.service(name)["Spec"]
    limits = spec["TaskTemplate"]["Resources"]["Limits"]
    assert (limits["NanoCPUs"], limits["MemoryBytes"]) == (NANO // 4, 96 * MIB)
    wait_until(lambda: engine.running_tasks(name) == 2, timeout=90, what="2 running tasks")
    for task in engine.tasks(name):
        task_limits = task["Spec"]["Resources"]["Limits"]
        assert (task_limits["NanoCPUs"], task_limits["MemoryBytes"]) == (NANO // 4, 96 * MIB)
        container = engine.inspect(task["Status"]["ContainerStatus"]["ContainerID"])
        assert container["HostConfig"]["Memory"] == 96 * MIB
        assert container["HostConfig"]["NanoCpus"] == NANO // 4
    shown = swarm_server.service(name)["resources"]
    assert (shown["cpus"], shown["memory"]) == (0.25, 96 * MIB)
    recorded = swarm_server.client.get("/v1/executions", params={"service": name}).json()
    assert [e["details"]["change"] for e in recorded] == ["resources"]

    bad = swarm_server.client.post(f"/v1/services/{name}/resources", json={"memory": "lots"})
    assert bad.status_code == 422 and bad.json()["field"] == "memory", bad.text
    assert engine.service(name)["Spec"]["TaskTemplate"]["Resources"]["Limits"] == limits

    nodes = swarm_server.client.get("/v1/nodes").json()
    swarm_nodes = engine.get("/nodes")
    assert sorted(n["id"] for n in nodes) == sorted(n["ID"] for n in swarm_nodes)
    manager = next(n for n in nodes if n["role"] == "manager")
    assert (manager["kind"], manager["state"], manager["availability"]) == (
        "swarm",
        "ready",
        "active",
    )
    assert manager["services"][name] == 2 and manager["cpus"] and manager["memory"]


@pytest.mark.swarm
def test_swarm_scale_is_clamped_to_what_the_reservations_leave(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    """Each task reserves a third of the node's CPUs: no more than three fit, so a scale
    to ten is clamped (Swarm would leave the rest pending for ever)."""
    (node,) = [n for n in engine.get("/nodes") if n["Spec"].get("Role") == "manager"]
    cpus = int(node["Description"]["Resources"]["NanoCPUs"])
    spec = service_spec(f"{prefix}-big", prefix, overlay, replicas=1)
    spec["TaskTemplate"]["Resources"] = {"Reservations": {"NanoCPUs": cpus // 3}}
    name = spec["Name"]
    engine.create_service(spec)
    swarm_server.wait_for(name, desired=1, running=1, timeout=90)
    before = next(n for n in swarm_server.client.get("/v1/nodes").json() if n["id"] == node["ID"])
    assert before["reserved_cpus"] * NANO >= cpus // 3

    up = swarm_server.create_receiver(f"{prefix}-up", service=name, action="up", amount=9, max=20)
    answer = trigger(up["url"])
    assert answer["result"] == "clamped" and answer["details"]["bound"] == "capacity"
    assert 1 < answer["after"] <= 3, answer
    assert f"the swarm holds at most {answer['after']} tasks of it" in answer["message"]
    assert engine.service(name)["Spec"]["Mode"]["Replicated"]["Replicas"] == answer["after"]
    wait_until(
        lambda: engine.running_tasks(name) == answer["after"], timeout=90, what="tasks placed"
    )
    after = next(n for n in swarm_server.client.get("/v1/nodes").json() if n["id"] == node["ID"])
    assert after["services"][name] == answer["after"]

    again = trigger(up["url"])
    assert (again["result"], again["after"]) == ("noop", answer["after"])
