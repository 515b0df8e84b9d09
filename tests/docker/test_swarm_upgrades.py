"""serviceUpgrade on ``backend: swarm``: one service update, rolled by Swarm itself.

Versions are read from each task's own HTTP answer (asked inside its container); the
spec and ``UpdateStatus`` are read from the engine; task counts are sampled while the
update runs. No timing is asserted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.docker.apps import APP, Sampler, version_of
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.private_engine import PrivateEngine
from tests.docker.registry import Registry
from tests.upgrades import bodies
from tests.upgrades.helpers import execution, finished, hook, upgrade_receiver

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("apps")]

SECOND = 1_000_000_000


def create_app(engine: Engine, prefix: str, network: str, replicas: int, **container: Any) -> str:
    name = f"{prefix}-app"
    engine.create_service(
        {
            "Name": name,
            "Labels": {TEST_LABEL: prefix},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": f"{APP}:1",
                    "Labels": {TEST_LABEL: prefix},
                    "StopGracePeriod": 5 * SECOND,
                    **container,
                },
                "RestartPolicy": {"Condition": "any", "Delay": SECOND // 10},
                "Networks": [{"Target": network}],
            },
            "Mode": {"Replicated": {"Replicas": replicas}},
        }
    )
    wait_until(lambda: engine.running_tasks(name) == replicas, what=f"{replicas} tasks of {name}")
    return name


def versions(engine: Engine, name: str) -> list[str]:
    """The version each task answers: every task meant to run must be running."""
    tasks = engine.tasks(name)
    assert all(t["Status"]["State"] == "running" for t in tasks), tasks
    return sorted(version_of(engine, t["Status"]["ContainerStatus"]["ContainerID"]) for t in tasks)


def counts(engine: Engine, name: str) -> tuple[int, int]:
    """(running, running or starting) tasks: with a HEALTHCHECK, running is healthy."""
    states = [t["Status"]["State"] for t in engine.tasks(name)]
    return states.count("running"), sum(1 for s in states if s in ("starting", "running"))


def receiver(server: ServerProcess, prefix: str, **config: Any) -> dict[str, Any]:
    config.setdefault("health_timeout", "3s")
    return upgrade_receiver(server, prefix, selector={TEST_LABEL: prefix}, **config)


def push(found: dict[str, Any], tag: str) -> dict[str, Any]:
    response = hook(found["url"], bodies.dockerhub(APP, tag))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def test_a_push_is_one_swarm_update_with_the_receivers_rolling_settings(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 4)
    found = receiver(swarm_server, prefix, batch_size=2, batch_interval="500ms")
    other = hook(found["url"], bodies.dockerhub("scalehook-test/other", "2"))
    assert other.status_code == 200 and other.json()["result"] == "noop", other.text
    with Sampler(lambda: counts(engine, name)) as sampler:
        done = finished(swarm_server, push(found, "2")["id"], timeout=120)
    assert done["result"] == "upgraded", done["message"]
    assert done["message"] == f"swarm/{name}: 4 task(s) run {APP}:2"
    assert [b["batch"] for b in done["details"]["batches"]] == [1, 2]
    service = engine.service(name)
    spec = service["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:2"  # by tag, no digest
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": SECOND // 2,
        "FailureAction": "rollback",
        "Monitor": 3 * SECOND,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }
    assert spec["RollbackConfig"]["FailureAction"] == "pause"
    assert service["UpdateStatus"]["State"] == "completed"
    # Swarm's batches: two tasks at a time, so never fewer than 2 of 4 running
    assert min(running for running, _ in sampler.samples) >= 2
    assert max(started for _, started in sampler.samples) <= 4
    assert versions(engine, name) == ["2"] * 4
    assert swarm_server.service(name)["image"] == f"{APP}:2"


def test_start_first_starts_each_new_task_before_the_old_one_stops(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 2)
    found = receiver(swarm_server, prefix, start_first=True, batch_interval="0s")
    response = hook(found["url"], bodies.generic(f"{APP}:2"))
    assert response.status_code == 202, response.text
    with Sampler(lambda: counts(engine, name)) as sampler:
        done = finished(swarm_server, response.json()["id"], timeout=120)
    assert done["result"] == "upgraded", done["message"]
    assert engine.service(name)["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert min(running for running, _ in sampler.samples) >= 2  # capacity never dropped
    assert max(started for _, started in sampler.samples) == 3  # one new task beside
    assert versions(engine, name) == ["2", "2"]


def test_a_release_failing_its_healthcheck_is_rolled_back_by_swarm(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 2)
    found = receiver(swarm_server, prefix)
    done = finished(swarm_server, push(found, "3")["id"], timeout=120)
    assert done["result"] == "rolled_back", done["message"]
    assert f"rolled back to {APP}:1" in done["message"]
    assert f"({APP}:3) failed: it is unhealthy" in done["message"]
    assert done["details"]["phase"] == "done"
    assert any(e["message"].startswith("Swarm rolls back") for e in done["details"]["events"])
    service = engine.service(name)
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:1"
    wait_until(
        lambda: counts(engine, name) == (2, 2) and len(engine.tasks(name)) == 2,
        what="the rolled-back tasks running",
    )
    assert versions(engine, name) == ["1", "1"]
    assert swarm_server.service(name)["image"] == f"{APP}:1"


def test_a_failed_release_pauses_when_asked(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 2)
    found = receiver(swarm_server, prefix, on_failure="pause")
    done = finished(swarm_server, push(found, "3")["id"], timeout=120)
    assert done["result"] == "paused", done["message"]
    assert f"({APP}:3) failed: it is unhealthy" in done["message"]
    assert "Swarm holds the update" in done["message"]
    service = engine.service(name)
    assert service["UpdateStatus"]["State"] == "paused"
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:3"
    assert swarm_server.service(name)["image"] == f"{APP}:3"  # Swarm's spec says so


@pytest.mark.parametrize("on_failure", ["rollback", "pause"])
def test_a_task_that_never_turns_healthy_fails_the_update_after_the_health_timeout(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess, on_failure: str
) -> None:
    # version 2 fails this check, but with retries to spare it stays "starting": Swarm
    # itself would wait for it forever
    check = '[ "$VERSION" != 2 ] && wget -q -O /dev/null http://127.0.0.1:8080/health'
    healthcheck = {
        "Test": ["CMD-SHELL", check],
        "Interval": SECOND,
        "Timeout": 2 * SECOND,
        "Retries": 10_000,
    }
    name = create_app(engine, prefix, overlay, 2, Healthcheck=healthcheck)
    found = receiver(swarm_server, prefix, start_first=True, on_failure=on_failure)
    done = finished(swarm_server, push(found, "2")["id"], timeout=120)
    assert f"({APP}:2) was not healthy within 3s (health: starting" in done["message"]
    service = engine.service(name)
    if on_failure == "pause":  # scalehook stops; Swarm has no limit and keeps waiting
        assert done["result"] == "paused", done["message"]
        assert "Swarm goes on waiting for the task" in done["message"]
        assert service["UpdateStatus"]["State"] == "updating"
        assert counts(engine, name)[0] == 2  # start-first: the old tasks still serve
        return
    assert done["result"] == "rolled_back", done["message"]
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:1"
    wait_until(
        lambda: counts(engine, name) == (2, 2) and len(engine.tasks(name)) == 2,
        what="the rolled-back tasks running",
    )
    assert versions(engine, name) == ["1", "1"]


def test_a_newer_push_replaces_the_update_in_progress(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 3)
    found = receiver(swarm_server, prefix, batch_interval="1s")
    first = push(found, "2")
    wait_until(
        lambda: len(execution(swarm_server, first["id"])["details"]["batches"]) == 1,
        what="the first task of the first update",
    )
    second = push(found, "4")
    old = finished(swarm_server, first["id"])
    assert old["result"] == "superseded", old["message"]
    new = finished(swarm_server, second["id"], timeout=120)
    assert new["result"] == "upgraded", new["message"]
    assert new["details"]["from"] == f"{APP}:2"  # Swarm's spec: what a rollback goes to
    service = engine.service(name)
    assert service["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:2"
    assert versions(engine, name) == ["4", "4", "4"]


def test_a_restart_mid_update_watches_it_and_does_not_issue_it_again(
    engine: Engine, prefix: str, overlay: str, tmp_path: Path
) -> None:
    config = {"backend": "swarm"}
    server = ServerProcess(tmp_path / "server", config).start()
    try:
        name = create_app(engine, prefix, overlay, 3)
        found = receiver(server, prefix, batch_interval="1s")
        started = push(found, "2")
        wait_until(
            lambda: len(execution(server, started["id"])["details"]["batches"]) == 1,
            what="the first task updated",
        )
        server.kill()
        version = engine.service(name)["Version"]["Index"]

        server.start()
        done = finished(server, started["id"], timeout=120)
        assert done["result"] == "upgraded", done["message"]
        assert done["message"].endswith("(resumed after scalehook restarted)")
        messages = [e["message"] for e in done["details"]["events"]]
        assert f"the update to {APP}:2 was issued before (updating)" in messages
        service = engine.service(name)
        # not issued again: the spec before it is still the one before the push
        assert service["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:1"
        assert service["Version"]["Index"] > version  # Swarm's own status writes only
        assert versions(engine, name) == ["2", "2", "2"]
    finally:
        server.close()


def login_config(tmp_path: Path, registry: Registry) -> Path:
    """A Docker CLI config (``DOCKER_CONFIG``) holding a ``docker login`` of the registry."""
    folder = tmp_path / "docker-config"
    folder.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    return folder


@pytest.fixture(scope="module")
def pulling_swarm(engine: Engine) -> Iterator[PrivateEngine]:
    """A one-node Swarm whose tasks pull their images (the machine's engine prefers the
    images it has, and never pulls for a task)."""
    daemon = PrivateEngine()
    try:
        daemon.start()
        daemon.swarm_init()
        yield daemon
    finally:
        daemon.close()


def app_service(engine: Engine, name: str, image: str, replicas: int) -> None:
    engine.create_service(
        {
            "Name": name,
            "TaskTemplate": {
                "ContainerSpec": {"Image": image, "StopGracePeriod": 2 * SECOND},
                "RestartPolicy": {"Condition": "any", "Delay": SECOND // 2},
            },
            "Mode": {"Replicated": {"Replicas": replicas}},
            "Labels": {"app": name},
        }
    )


def test_a_swarm_update_to_a_pushed_image_carries_the_registry_login(
    pulling_swarm: PrivateEngine, registry: Registry, tmp_path: Path
) -> None:
    """The pushed tags are only in the registry, which refuses anonymous pulls. Without
    credentials the tasks of the update cannot pull and Swarm rolls back; with the login
    of the Docker CLI's config, the update carries it, and the tasks pull and run. A
    scale of a service whose tasks cannot pull sends it too."""
    engine = pulling_swarm.client
    image = f"{registry.host}/{APP}"
    pulled = engine.call(
        "POST",
        "/images/create",
        params={"fromImage": image, "tag": "1"},
        headers={"X-Registry-Auth": registry.auth()},
        timeout=300,
    )
    assert "error" not in pulled.text, pulled.text
    name = "pulled-app"
    app_service(engine, name, f"{image}:1", 2)  # created without a login: runs what is here
    wait_until(lambda: engine.running_tasks(name) == 2, timeout=120, what="2 tasks of app:1")
    docker_host = f"unix://{pulling_swarm.socket}"
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    anonymous = ServerProcess(
        tmp_path / "anonymous",
        {"backend": "swarm", "docker_host": docker_host},
        env={"DOCKER_CONFIG": str(empty)},
    )
    with anonymous:
        found = upgrade_receiver(anonymous, "deploy", selector={"app": name}, health_timeout="5s")
        response = hook(found["url"], bodies.generic(f"{image}:2"))
        assert response.status_code == 202, response.text
        refused = finished(anonymous, response.json()["id"], timeout=180)
    assert refused["result"] == "rolled_back", refused["message"]
    assert f"No such image: {image}:2" in refused["message"]
    assert versions(engine, name) == ["1", "1"]

    login = ServerProcess(
        tmp_path / "login",
        {"backend": "swarm", "docker_host": docker_host},
        env={"DOCKER_CONFIG": str(login_config(tmp_path, registry))},
    )
    with login:
        found = upgrade_receiver(login, "deploy", selector={"app": name}, health_timeout="5s")
        response = hook(found["url"], bodies.generic(f"{image}:2"))
        assert response.status_code == 202, response.text
        done = finished(login, response.json()["id"], timeout=180)
        assert done["result"] == "upgraded", done["message"]
        assert versions(engine, name) == ["2", "2"]
        assert engine.has_image(f"{image}:2")  # the node pulled it from the registry
        shown = json.dumps(engine.service(name))
        assert registry.password not in shown and registry.auth() not in shown

        stuck = "stuck-app"
        app_service(engine, stuck, f"{image}:4", 1)  # no login, not here: it cannot start
        wait_until(
            lambda: any(t["Status"]["State"] == "rejected"
                        for t in engine.tasks(stuck, running=False)),
            timeout=120, what="a task that cannot pull",
        )  # fmt: skip
        scaled = login.client.post(f"/v1/services/{stuck}/scale", json={"replicas": 2})
        assert scaled.status_code == 200, scaled.text
        wait_until(lambda: engine.running_tasks(stuck) == 2, timeout=180, what="2 tasks pulled")
        assert versions(engine, stuck) == ["4", "4"]
        assert registry.password not in login.log()
