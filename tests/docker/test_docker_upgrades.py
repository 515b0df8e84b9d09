"""serviceUpgrade on ``backend: docker``: real containers rolled batch by batch.

Every check of a version asks the container itself over HTTP (from inside it, on its
loopback): ``hello from <host> (version <n>)``. Counts are sampled from the engine
while the rollout runs; no timing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scalehook.backends.docker.groups import REPLACES_LABEL, REPLICA_LABEL, SERVICE_LABEL
from scalehook.testing import ServerProcess, free_port, wait_until
from tests.docker.apps import APP, REGISTRY_APP, Sampler, ready, version_of
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.registry import Registry
from tests.upgrades import bodies
from tests.upgrades.helpers import execution, finished, hook, upgrade_receiver

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("apps")]


def run_app(
    engine: Engine, prefix: str, count: int, *, image: str = f"{APP}:1", **host: Any
) -> str:
    """``count`` containers of ``image`` making one service; its name."""
    service = f"{prefix}-app"
    for number in range(1, count + 1):
        engine.run(
            f"{service}-{number}",
            image,
            labels={SERVICE_LABEL: service, REPLICA_LABEL: str(number), TEST_LABEL: prefix},
            host_config=host or None,
        )
    return service


def rows(engine: Engine, service: str) -> list[Any]:
    return list(engine.labelled(SERVICE_LABEL, service))


def versions(engine: Engine, service: str) -> list[str]:
    """What every container of the service answers; all must be running."""
    found = rows(engine, service)
    assert all(r["State"] == "running" for r in found), found
    return sorted(version_of(engine, r["Id"]) for r in found)


def counts(engine: Engine, service: str) -> tuple[int, int]:
    """(ready, running) containers of the service now."""
    found = rows(engine, service)
    return sum(1 for r in found if ready(r)), sum(1 for r in found if r["State"] == "running")


def receiver(server: ServerProcess, prefix: str, **config: Any) -> dict[str, Any]:
    config.setdefault("health_timeout", "10s")
    return upgrade_receiver(server, prefix, selector={TEST_LABEL: prefix}, **config)


def push(found: dict[str, Any], tag: str, repository: str = APP) -> dict[str, Any]:
    response = hook(found["url"], bodies.dockerhub(repository, tag))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def test_a_docker_hub_push_rolls_every_container_batch_by_batch(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 4)
    docker_server.wait_for(service, ready=4)
    found = receiver(docker_server, prefix, batch_size=2, batch_interval="500ms")
    with Sampler(lambda: counts(engine, service)) as sampler:
        done = finished(docker_server, push(found, "2")["id"])
    assert done["result"] == "upgraded", done["message"]
    assert done["message"] == f"docker/{service}: 4 replica(s) run {APP}:2"
    batches = done["details"]["batches"]
    assert [len(b["replaced"]) for b in batches] == [2, 2]
    assert all(b["ready"] for b in batches)
    # stop-first, two at a time: never more than 4 running, never fewer than 2 ready
    assert max(running for _, running in sampler.samples) <= 4
    assert min(ready for ready, _ in sampler.samples) >= 2
    assert versions(engine, service) == ["2"] * 4
    state = docker_server.service(service)
    assert (state["desired"], state["image"]) == (4, f"{APP}:2")


def test_start_first_starts_the_new_container_before_stopping_the_old(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 2)
    docker_server.wait_for(service, ready=2)
    found = receiver(docker_server, prefix, start_first=True, batch_interval="0s")
    response = hook(found["url"], bodies.generic(f"{APP}:2"))  # a second source
    assert response.status_code == 202, response.text
    with Sampler(lambda: counts(engine, service)) as sampler:
        done = finished(docker_server, response.json()["id"])
    assert done["result"] == "upgraded", done["message"]
    assert [len(b["replaced"]) for b in done["details"]["batches"]] == [1, 1]
    assert max(running for _, running in sampler.samples) == 3  # one surge at a time
    assert min(ready for ready, _ in sampler.samples) >= 2  # capacity never dropped
    assert versions(engine, service) == ["2", "2"]


def test_a_release_failing_its_healthcheck_is_rolled_back(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    found = receiver(docker_server, prefix)
    done = finished(docker_server, push(found, "3")["id"])
    assert done["result"] == "rolled_back", done["message"]
    assert f"rolled back to {APP}:1" in done["message"]
    assert f"({APP}:3) failed: it is unhealthy" in done["message"]
    assert "404 Not Found" in done["message"]  # the failing check's own output
    phases = [(b["phase"], b["ready"]) for b in done["details"]["batches"]]
    assert phases == [("rolling", False), ("rolling_back", True)]
    assert versions(engine, service) == ["1", "1", "1"]
    assert docker_server.service(service)["image"] == f"{APP}:1"


def test_a_failed_release_pauses_when_asked_and_says_where_it_stopped(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    found = receiver(docker_server, prefix, on_failure="pause")
    done = finished(docker_server, push(found, "3")["id"])
    assert done["result"] == "paused", done["message"]
    assert f"1 of 3 replica(s) run {APP}:3, the others {APP}:1" in done["message"]
    found_rows = rows(engine, service)
    assert len(found_rows) == 3
    unhealthy = [r for r in found_rows if not ready(r)]
    assert [r["Image"] for r in unhealthy] == [f"{APP}:3"]
    assert sorted(version_of(engine, r["Id"]) for r in found_rows) == ["1", "1", "3"]
    assert docker_server.service(service)["image"] == f"{APP}:1"  # what a scale-up starts


def test_pushes_that_do_not_apply_are_noops_and_touch_nothing(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 1)
    docker_server.wait_for(service, ready=1)
    before = [r["Id"] for r in rows(engine, service)]
    found = receiver(docker_server, prefix, tag_policy="semver:same-major")
    other = hook(found["url"], bodies.dockerhub("scalehook-test/other", "2"))
    assert other.status_code == 200, other.text
    assert other.json()["result"] == "noop"
    assert f"runs {APP}:1, not scalehook-test/other" in other.json()["message"]
    major = hook(found["url"], bodies.dockerhub(APP, "4.0.0"))
    assert major.status_code == 200 and major.json()["result"] == "noop"
    assert "semver:same-major" in major.json()["message"]
    assert [r["Id"] for r in rows(engine, service)] == before


def test_a_registry_notification_rolls_the_image_named_with_its_registry(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 2, image=f"{REGISTRY_APP}:1")
    docker_server.wait_for(service, ready=2)
    found = receiver(docker_server, prefix)
    body, headers = bodies.push("distribution", REGISTRY_APP, "2")
    response = hook(found["url"], body, headers)
    assert response.status_code == 202, response.text
    done = finished(docker_server, response.json()["id"])
    assert done["result"] == "upgraded", done["message"]
    assert versions(engine, service) == ["2", "2"]
    digest = bodies.digest_of("2")
    # what was pushed, digest and all, is what the service runs now: the same push
    # again changes nothing
    assert docker_server.service(service)["image"] == f"{REGISTRY_APP}:2@{digest}"
    again = hook(found["url"], *bodies.push("distribution", REGISTRY_APP, "2"))
    assert again.status_code == 200 and again.json()["result"] == "noop"


def test_an_image_the_engine_cannot_pull_fails_the_rollout_before_any_replica(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 2, image=f"{REGISTRY_APP}:1")
    docker_server.wait_for(service, ready=2)
    before = [r["Id"] for r in rows(engine, service)]
    found = receiver(docker_server, prefix)
    response = hook(found["url"], bodies.generic(f"{REGISTRY_APP}:9"))
    assert response.status_code == 202, response.text
    done = finished(docker_server, response.json()["id"])
    assert done["result"] == "failed"
    assert f"the engine has no {REGISTRY_APP}:9 and cannot pull it" in done["message"]
    assert done["details"]["batches"] == []
    assert [r["Id"] for r in rows(engine, service)] == before


def test_start_first_is_refused_for_a_fixed_host_port(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    port = free_port()
    service = run_app(
        engine,
        prefix,
        1,
        PortBindings={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]},
    )
    docker_server.wait_for(service, ready=1)
    found = receiver(docker_server, prefix, start_first=True)
    done = finished(docker_server, push(found, "2")["id"])
    assert done["result"] == "failed"
    assert f"publishes 127.0.0.1:{port}->8080/tcp" in done["message"]
    assert "use start_first: false" in done["message"]
    assert versions(engine, service) == ["1"]


def test_a_newer_push_supersedes_the_running_rollout(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    found = receiver(docker_server, prefix, batch_interval="3s")
    first = push(found, "2")
    wait_until(
        lambda: len(execution(docker_server, first["id"])["details"]["batches"]) == 1,
        what="the first batch of the first rollout",
    )
    second = push(found, "4")
    old = finished(docker_server, first["id"])
    assert old["result"] == "superseded", old["message"]
    new = finished(docker_server, second["id"])
    assert new["result"] == "upgraded", new["message"]
    assert new["details"]["from"] == f"{APP}:1"  # the service's image until the end
    assert versions(engine, service) == ["4", "4", "4"]
    assert len(rows(engine, service)) == 3


def test_a_rollout_cut_by_kill_9_mid_batch_is_undone_and_finished_after_the_restart(
    engine: Engine, prefix: str, tmp_path: Path
) -> None:
    config = {"backend": "docker"}
    server = ServerProcess(tmp_path / "server", config).start()
    try:
        service = run_app(engine, prefix, 3)
        server.wait_for(service, ready=3)
        found = receiver(server, prefix, start_first=True)
        started = push(found, "2")

        def surge() -> bool:
            present = {r["Id"] for r in rows(engine, service)}
            return any(r["Labels"].get(REPLACES_LABEL) in present for r in rows(engine, service))

        wait_until(surge, what="a new container started beside the one it replaces")
        server.kill()  # in the middle of a batch: nothing is undone by scalehook
        assert surge()

        server.start()
        done = finished(server, started["id"])
        assert done["result"] == "upgraded", done["message"]
        assert done["message"].endswith("(resumed after scalehook restarted)")
        messages = [e["message"] for e in done["details"]["events"]]
        assert any(m.startswith("left by an earlier run: removed") for m in messages), messages
        assert versions(engine, service) == ["2", "2", "2"]
        assert len(rows(engine, service)) == 3
    finally:
        server.close()


def pushed(found: dict[str, Any], image: str) -> dict[str, Any]:
    """A push of ``image`` as a CI job announces it; the rollout it started."""
    response = hook(found["url"], bodies.generic(image))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def registry_server(
    tmp_path: Path, name: str, config: dict[str, Any] | None = None, **env: str
) -> ServerProcess:
    """A scalehook on the engine (not started yet) whose Docker CLI config is its own
    (``DOCKER_CONFIG``): no credentials but what the test gives it."""
    home = tmp_path / f"{name}-docker-config"
    home.mkdir(exist_ok=True)
    return ServerProcess(
        tmp_path / name,
        {"backend": "docker", **(config or {})},
        env={"DOCKER_CONFIG": str(home), **env},
    )


def test_a_rollout_pulls_the_pushed_image_from_a_registry_that_needs_a_login(
    engine: Engine, prefix: str, registry: Registry, tmp_path: Path
) -> None:
    """The registry on loopback refuses anonymous pulls: a rollout without credentials
    fails before any replica is replaced; with the login of ``registries:`` (its password
    from a file) it pulls the pushed tag and rolls; with a credential helper named in
    the Docker CLI's config, the same."""
    image = f"{registry.host}/{APP}"
    service = run_app(engine, prefix, 2, image=f"{image}:1")
    for version in ("2", "4"):
        engine.untag(f"{image}:{version}")  # only the registry has them now
    with registry_server(tmp_path, "anonymous") as anonymous:
        anonymous.wait_for(service, ready=2)
        refused = finished(anonymous, pushed(receiver(anonymous, prefix), f"{image}:2")["id"])
    assert refused["result"] == "failed", refused["message"]
    assert f"the engine has no {image}:2 and cannot pull it" in refused["message"]
    assert "no basic auth credentials" in refused["message"]
    assert versions(engine, service) == ["1", "1"]
    assert not engine.has_image(f"{image}:2")

    password_file = tmp_path / "registry-password"
    password_file.write_text(registry.password + "\n")
    logins = {registry.host: {"username": registry.username, "password_file": str(password_file)}}
    with registry_server(tmp_path, "login", {"registries": logins}) as login:
        found = receiver(login, prefix)
        done = finished(login, pushed(found, f"{image}:2")["id"])
        assert done["result"] == "upgraded", done["message"]
        assert versions(engine, service) == ["2", "2"]
        assert engine.has_image(f"{image}:2")  # pulled from the registry
        answers = login.client.get("/v1/executions").text + login.client.get("/v1/receivers").text
        checked = subprocess.run(
            [sys.executable, "-m", "scalehook", "config", "check", "-c", str(login.config_path)],
            env=login.env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert registry.username in checked.stdout
        for place in (login.log(), answers, checked.stdout):
            assert registry.password not in place
            assert registry.auth() not in place

    helpers = tmp_path / "helpers"
    helpers.mkdir()
    helper = helpers / "docker-credential-shktest"
    login_json = json.dumps(
        {"ServerURL": registry.host, "Username": registry.username, "Secret": registry.password}
    )
    helper.write_text(  # the credential helper protocol: the server on stdin, JSON out
        "#!/bin/sh\n"
        "read server\n"
        f'[ "$server" = "{registry.host}" ] || '
        '{ echo "credentials not found in native keychain"; exit 1; }\n'
        f"echo '{login_json}'\n"
    )
    helper.chmod(0o755)
    config_dir = tmp_path / "helper-docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"credHelpers": {registry.host: "shktest"}}))
    path = f"{helpers}:{os.environ['PATH']}"
    with registry_server(tmp_path, "helper", DOCKER_CONFIG=str(config_dir), PATH=path) as helped:
        done = finished(helped, pushed(receiver(helped, prefix), f"{image}:4")["id"])
        assert done["result"] == "upgraded", done["message"]
        assert versions(engine, service) == ["4", "4"]
        assert registry.password not in helped.log()
