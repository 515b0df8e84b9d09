"""scaleService on ``backend: swarm``: real Swarm services on a single-node swarm."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_docker_scaling import step, trigger

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("images")]


def service_spec(
    name: str, prefix: str, network: str, *, replicas: int | None = 1
) -> dict[str, Any]:
    """A service of the local-only test image; ``replicas=None`` makes it global."""
    mode: dict[str, Any] = (
        {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    )
    return {
        "Name": name,
        "Labels": {TEST_LABEL: prefix, "tier": "front"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": WEB_IMAGE,
                "Labels": {TEST_LABEL: prefix},
                "StopGracePeriod": 5_000_000_000,
            },
            "RestartPolicy": {"Condition": "any", "Delay": 100_000_000},
            "Networks": [{"Target": network}],
        },
        "Mode": mode,
    }


def test_swarm_service_scales_up_and_down_through_the_hook(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = f"{prefix}-web"
    engine.create_service(service_spec(name, prefix, overlay))
    listed = swarm_server.wait_for(name, desired=1, running=1, ready=1, timeout=60)
    assert (listed["backend"], listed["ref"], listed["mode"]) == (
        "swarm",
        f"swarm/{name}",
        "replicated",
    )
    assert listed["labels"]["tier"] == "front" and listed["image"] == WEB_IMAGE

    up = swarm_server.create_receiver(f"{prefix}-up", service=name, action="up", amount=2)
    execution = trigger(up["url"])
    assert step(execution) == (1, 3, "scaled") and execution["target"] == f"swarm/{name}"
    spec = engine.service(name)["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 3
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == WEB_IMAGE  # no digest pinned
    wait_until(lambda: engine.running_tasks(name) == 3, what="3 running tasks")
    swarm_server.wait_for(name, desired=3, running=3, ready=3, timeout=60)

    detail = swarm_server.service(name)
    assert sorted(r["id"] for r in detail["replicas"]) == [f"{name}.{n}" for n in (1, 2, 3)]
    assert all(r["ready"] and r["state"] == "running" for r in detail["replicas"])
    assert all(r["memory_bytes"] and r["memory_bytes"] > 0 for r in detail["replicas"])

    down = swarm_server.create_receiver(
        f"{prefix}-down", service=name, action="down", amount=2, min=1
    )
    assert step(trigger(down["url"])) == (3, 1, "scaled")
    assert engine.service(name)["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    wait_until(lambda: len(engine.tasks(name)) == 1 and engine.running_tasks(name) == 1)
    swarm_server.wait_for(name, desired=1, running=1, ready=1, timeout=60)


def test_50_concurrent_triggers_end_at_exactly_max_tasks(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = f"{prefix}-web"
    engine.create_service(service_spec(name, prefix, overlay))
    swarm_server.wait_for(name, desired=1)
    up = swarm_server.create_receiver(f"{prefix}-storm", service=name, action="up", max=8)
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: httpx.post(up["url"], timeout=300), range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    results = [r.json() for r in responses]
    steps = sorted((r["before"], r["after"]) for r in results if r["result"] == "scaled")
    assert steps == [(n, n + 1) for n in range(1, 8)]
    assert engine.service(name)["Spec"]["Mode"]["Replicated"]["Replicas"] == 8
    wait_until(lambda: engine.running_tasks(name) == 8, timeout=120, what="8 running tasks")
    assert len(engine.tasks(name)) == 8


def test_a_global_service_is_refused_at_receiver_create(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = f"{prefix}-agent"
    engine.create_service(service_spec(name, prefix, overlay, replicas=None))
    listed = swarm_server.wait_for(name, running=1, timeout=60)
    assert (listed["mode"], listed["scalable"]) == ("global", False)
    response = swarm_server.client.post(
        "/v1/receivers",
        json={
            "name": f"{prefix}-up",
            "driver": "scaleService",
            "config": {"service": name, "action": "up"},
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "not_scalable" and "global" in body["message"]
    names = [r["name"] for r in swarm_server.client.get("/v1/receivers").json()]
    assert f"{prefix}-up" not in names
    by_hand = swarm_server.client.post(f"/v1/services/{name}/scale", json={"replicas": 3})
    assert by_hand.status_code == 422 and by_hand.json()["error"] == "not_scalable"
    assert "Global" in engine.service(name)["Spec"]["Mode"]
