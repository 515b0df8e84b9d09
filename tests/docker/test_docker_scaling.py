"""scaleService on ``backend: docker``: real containers on a real engine, through the hook."""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
from typing import Any

import httpx
import pytest

from scalehook.backends.docker.groups import (
    COMPOSE_NUMBER,
    COMPOSE_ONEOFF,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    SERVICE_LABEL,
)
from scalehook.testing import ServerProcess, free_port, wait_until
from tests.docker.conftest import HEALTH_IMAGE, WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

MIB = 1024 * 1024


def trigger(url: str) -> Any:
    response = httpx.post(url, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def step(execution: Any) -> tuple[int, int, str]:
    return execution["before"], execution["after"], execution["result"]


def page(url: str) -> str:
    return httpx.get(url, timeout=10).text.strip()


def published(record: Any) -> tuple[str, int]:
    binding = record["NetworkSettings"]["Ports"]["8080/tcp"][0]
    return binding["HostIp"], int(binding["HostPort"])


def test_plain_containers_scale_up_and_down_through_the_hook(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    network = f"{prefix}-net"
    engine.network(network, prefix)
    service = f"{prefix}-web"
    port = free_port()
    original = engine.run(
        f"{prefix}-first",
        WEB_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: prefix, "tier": "front"},
        env={"GREETING": "hi"},
        network=network,
        aliases=["web"],
        host_config={
            "Memory": 64 * MIB,
            "NanoCpus": 500_000_000,
            "RestartPolicy": {"Name": "unless-stopped"},
            "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]},
        },
    )
    listed = docker_server.wait_for(service, desired=1, ready=1)
    assert (listed["backend"], listed["ref"]) == ("docker", f"docker/{service}")
    assert listed["labels"]["tier"] == "front" and listed["image"] == WEB_IMAGE
    first = engine.inspect(original)
    assert page(f"http://127.0.0.1:{port}/") == f"hello from {first['Config']['Hostname']}"

    up = docker_server.create_receiver(f"{prefix}-up", service=service, action="up", amount=2)
    execution = trigger(up["url"])
    assert step(execution) == (1, 3, "scaled")
    assert execution["target"] == f"docker/{service}"
    docker_server.wait_for(service, desired=3, running=3, ready=3)

    rows = engine.labelled(SERVICE_LABEL, service)
    assert len(rows) == 3 and rows[0]["Id"] == original
    clones = [engine.inspect(row["Id"]) for row in rows[1:]]
    for clone in clones:
        assert clone["Config"]["Image"] == WEB_IMAGE
        assert clone["Config"]["Cmd"] == first["Config"]["Cmd"]
        assert "GREETING=hi" in clone["Config"]["Env"]
        assert clone["Config"]["Labels"]["tier"] == "front"
        assert clone["HostConfig"]["Memory"] == 64 * MIB
        assert clone["HostConfig"]["NanoCpus"] == 500_000_000
        assert clone["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert "web" in clone["NetworkSettings"]["Networks"][network]["Aliases"]
        host_ip, host_port = published(clone)
        assert host_ip == "127.0.0.1" and host_port != port  # never the original's port
    hostnames = {c["Config"]["Hostname"] for c in [first, *clones]}
    assert len(hostnames) == 3
    answers = {page(f"http://127.0.0.1:{published(c)[1]}/") for c in [first, *clones]}
    assert answers == {f"hello from {h}" for h in hostnames}

    detail = docker_server.service(service)
    assert [r["id"] for r in detail["replicas"]] == [r["Names"][0][1:] for r in rows]
    assert all(r["ready"] and r["state"] == "running" for r in detail["replicas"])
    assert all(r["memory_bytes"] and r["memory_bytes"] > 0 for r in detail["replicas"])
    assert [r["cpu_limit"] for r in detail["replicas"]] == [0.5] * 3  # cloned with the limit
    assert [r["memory_limit"] for r in detail["replicas"]] == [64 * MIB] * 3
    wait_until(  # CPU% covers the time since the sample before: the next one has it
        lambda: all(
            r["cpu_percent"] is not None for r in docker_server.service(service)["replicas"]
        ),
        what="CPU figures",
    )

    down = docker_server.create_receiver(
        f"{prefix}-down", service=service, action="down", amount=2, min=1
    )
    assert step(trigger(down["url"])) == (3, 1, "scaled")
    rows = engine.labelled(SERVICE_LABEL, service)  # removed, not merely stopped
    assert [row["Id"] for row in rows] == [original]  # the newest went first
    assert page(f"http://127.0.0.1:{port}/") == f"hello from {first['Config']['Hostname']}"
    docker_server.wait_for(service, desired=1, running=1, ready=1)


def compose_labels(project: str, service: str, number: int, prefix: str) -> dict[str, str]:
    return {
        COMPOSE_PROJECT: project,
        COMPOSE_SERVICE: service,
        COMPOSE_NUMBER: str(number),
        COMPOSE_ONEOFF: "False",
        "com.docker.compose.config-hash": "0123abcd",
        TEST_LABEL: prefix,
    }


def test_compose_labelled_group_scales_like_compose_would(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    project, service = prefix, f"{prefix}-api"
    network = f"{project}_default"
    engine.network(network, prefix)
    for number in (1, 2):
        name = f"{project}-{service}-{number}"
        engine.run(
            name,
            WEB_IMAGE,
            labels=compose_labels(project, service, number, prefix),
            network=network,
            aliases=[service, name],
        )
    one_off = compose_labels(project, service, 1, prefix) | {COMPOSE_ONEOFF: "True"}
    engine.run(f"{project}-{service}-run-1", WEB_IMAGE, labels=one_off, network=network)
    docker_server.wait_for(service, desired=2, ready=2)  # the one-off is not a replica

    up = docker_server.create_receiver(f"{prefix}-up", service=service, action="up", amount=1)
    assert step(trigger(up["url"])) == (2, 3, "scaled")
    docker_server.wait_for(service, desired=3, ready=3)
    newest = engine.inspect(f"{project}-{service}-3")
    labels = newest["Config"]["Labels"]
    assert labels[COMPOSE_NUMBER] == "3"
    assert labels[COMPOSE_PROJECT] == project and labels[COMPOSE_SERVICE] == service
    assert labels["com.docker.compose.config-hash"] == "0123abcd"
    aliases = newest["NetworkSettings"]["Networks"][network]["Aliases"]
    assert service in aliases and f"{project}-{service}-3" in aliases
    assert f"{project}-{service}-2" not in aliases

    down = docker_server.create_receiver(
        f"{prefix}-down", service=service, action="down", amount=2, min=1
    )
    assert step(trigger(down["url"])) == (3, 1, "scaled")
    left = [row["Names"][0][1:] for row in engine.labelled(COMPOSE_PROJECT, project)]
    assert left == [f"{project}-{service}-1", f"{project}-{service}-run-1"]


def test_same_compose_service_in_two_projects_is_told_apart(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = f"{prefix}-db"
    for project in (f"{prefix}a", f"{prefix}b"):
        engine.run(
            f"{project}-{service}-1",
            WEB_IMAGE,
            labels=compose_labels(project, service, 1, prefix),
        )
    docker_server.wait_for(f"{prefix}a.{service}", ready=1)
    docker_server.wait_for(f"{prefix}b.{service}", ready=1)
    response = docker_server.client.post(
        "/v1/receivers",
        json={
            "name": f"{prefix}-x",
            "driver": "scaleService",
            "config": {"service": service, "action": "up"},
        },
    )
    assert response.status_code == 422
    assert f"{prefix}a.{service}" in response.json()["message"]
    up = docker_server.create_receiver(
        f"{prefix}-up", service=f"{prefix}b.{service}", action="up", amount=1
    )
    assert step(trigger(up["url"])) == (1, 2, "scaled")
    assert len(engine.labelled(COMPOSE_PROJECT, f"{prefix}b")) == 2
    assert len(engine.labelled(COMPOSE_PROJECT, f"{prefix}a")) == 1


def test_clamping_at_both_bounds(engine: Engine, prefix: str, docker_server: ServerProcess) -> None:
    service = f"{prefix}-web"
    for n in (1, 2):
        engine.run(f"{prefix}-{n}", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    docker_server.wait_for(service, desired=2)
    up = docker_server.create_receiver(
        f"{prefix}-up", service=service, action="up", amount=3, min=1, max=4
    )
    down = docker_server.create_receiver(
        f"{prefix}-down", service=service, action="down", amount=2, min=1, max=4
    )
    assert [step(trigger(up["url"])) for _ in range(2)] == [(2, 4, "clamped"), (4, 4, "noop")]
    assert len(engine.labelled(SERVICE_LABEL, service)) == 4
    assert [step(trigger(down["url"])) for _ in range(3)] == [
        (4, 2, "scaled"),
        (2, 1, "clamped"),
        (1, 1, "noop"),
    ]
    assert len(engine.labelled(SERVICE_LABEL, service)) == 1

    response = docker_server.client.post(f"/v1/services/{service}/scale", json={"replicas": 0})
    assert response.status_code == 422
    assert "at least 1 container" in response.json()["message"]
    assert len(engine.labelled(SERVICE_LABEL, service)) == 1


def test_50_concurrent_triggers_end_at_exactly_max(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = f"{prefix}-web"
    engine.run(f"{prefix}-1", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    docker_server.wait_for(service, desired=1)
    up = docker_server.create_receiver(f"{prefix}-storm", service=service, action="up", max=8)
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: httpx.post(up["url"], timeout=300), range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    results = [r.json() for r in responses]
    steps = sorted((r["before"], r["after"]) for r in results if r["result"] == "scaled")
    assert steps == [(n, n + 1) for n in range(1, 8)]
    assert sum(r["result"] == "noop" for r in results) == 43
    rows = engine.labelled(SERVICE_LABEL, service)
    assert len(rows) == 8
    assert len({row["Names"][0] for row in rows}) == 8
    docker_server.wait_for(service, desired=8, running=8)


def test_readiness_comes_from_the_healthcheck(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    healthy, sick = f"{prefix}-ok", f"{prefix}-sick"
    engine.run(f"{prefix}-ok-1", HEALTH_IMAGE, labels={SERVICE_LABEL: healthy, TEST_LABEL: prefix})
    engine.run(
        f"{prefix}-sick-1",
        HEALTH_IMAGE,
        labels={SERVICE_LABEL: sick, TEST_LABEL: prefix},
        env={"NOT_READY": "1"},
    )
    up = docker_server.create_receiver(f"{prefix}-up", service=healthy, action="up", amount=1)
    assert step(trigger(up["url"])) == (1, 2, "scaled")
    docker_server.wait_for(healthy, desired=2, running=2, ready=2)
    up_sick = docker_server.create_receiver(f"{prefix}-sick", service=sick, action="up", amount=1)
    assert step(trigger(up_sick["url"])) == (1, 2, "scaled")  # the clone keeps NOT_READY

    def both_unhealthy() -> bool:
        replicas = docker_server.service(sick)["replicas"]
        return [r["state"] for r in replicas] == ["unhealthy", "unhealthy"]

    wait_until(both_unhealthy, timeout=60, what="the sick replicas to report unhealthy")
    state = docker_server.service(sick)
    assert (state["desired"], state["running"], state["ready"]) == (2, 2, 0)


def test_the_engines_own_error_is_recorded_and_nothing_is_left_half_made(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = f"{prefix}-web"
    source = tempfile.mkdtemp(prefix=f"{prefix}-")
    engine.run(
        f"{prefix}-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: prefix},
        host_config={"Mounts": [{"Type": "bind", "Source": source, "Target": "/data"}]},
    )
    docker_server.wait_for(service, desired=1, running=1)
    os.rmdir(source)  # a clone of this replica cannot be made any more
    up = docker_server.create_receiver(f"{prefix}-up", service=service, action="up", amount=2)
    response = httpx.post(up["url"], timeout=60)
    assert response.status_code == 422  # the engine's 400: sent again, refused again
    body = response.json()
    assert body["error"] == "backend_refused"
    assert "bind source path does not exist" in body["message"]
    recorded = docker_server.client.get(
        "/v1/executions", params={"receiver": f"{prefix}-up"}
    ).json()
    assert [(e["id"], e["result"]) for e in recorded] == [(body["execution_id"], "failed")]
    assert "bind source path does not exist" in recorded[0]["message"]
    assert len(engine.labelled(SERVICE_LABEL, service)) == 1
