"""Health checks on plain Docker, through a real ``scalehook serve`` and the real engine:
the busybox app of ``tests/docker/apps.py`` (its HEALTHCHECK asks ``/health``), hung by
stopping its ``httpd`` with SIGSTOP inside the container (the container still runs;
connections are still accepted by the kernel, nothing answers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from scalehook.backends.docker.groups import REPLICA_LABEL, SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from tests.docker.apps import APP
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_swarm_scaling import service_spec
from tests.health.helpers import executions, health_of, put_check, wait_health

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("apps")]

QUICK = {
    "interval": "1s",
    "timeout": "1s",
    "healthy_threshold": 1,
    "unhealthy_threshold": 2,
    "initializing_timeout": "30s",
    "reinitializing_timeout": "30s",
    "backoff": "0s",
    "max_backoff": "0s",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[ServerProcess]:
    started = ServerProcess(
        tmp_path_factory.mktemp("docker-health"), {"backend": "docker", "log_level": "info"}
    )
    started.start()
    yield started
    started.close()


def run_app(engine: Engine, prefix: str, count: int, version: str = "1") -> str:
    service = f"{prefix}-app"
    for number in range(1, count + 1):
        engine.run(
            f"{service}-{number}",
            f"{APP}:{version}",
            labels={SERVICE_LABEL: service, REPLICA_LABEL: str(number), TEST_LABEL: prefix},
        )
    return service


def hang(engine: Engine, container: str) -> None:
    """Stop the container's web server (SIGSTOP): hung, not dead."""
    engine.exec(container, ["sh", "-c", "kill -STOP $(pidof httpd)"])


def recreations(server: ServerProcess, service: str) -> list[dict[str, Any]]:
    return [e for e in executions(server, service) if e["result"] == "recreated"]


@pytest.mark.parametrize(
    ("probe", "detail"),
    [
        ({"docker": True}, "the container's HEALTHCHECK fails"),
        ({"http": "GET /health HTTP/1.0"}, "timeout after 1s waiting for an answer"),
    ],
    ids=["docker-healthcheck", "http"],
)
def test_a_hung_container_is_found_unhealthy_and_replaced(
    server: ServerProcess, engine: Engine, prefix: str, probe: dict[str, Any], detail: str
) -> None:
    service = run_app(engine, prefix, 2)
    wait_until(lambda: server.service(service)["ready"] == 2, timeout=60, what="2 healthy")
    put_check(server, service, {**QUICK, **probe})
    wait_health(server, service, "healthy", timeout=60)
    victim = f"{service}-1"
    hang(engine, victim)
    found = wait_until(lambda: recreations(server, service), timeout=90, what="a recreation")
    details = found[0]["details"]
    assert details["replica"] == victim
    assert details["failed_checks"] and all(detail in c["detail"] for c in details["failed_checks"])
    new = details["new_replica"]
    states = wait_health(server, service, "healthy", timeout=60)
    assert set(states) == {f"{service}-2", new}
    names = {r["Names"][0].lstrip("/") for r in engine.labelled(SERVICE_LABEL, service)}
    assert names == {f"{service}-2", new}  # the hung one is gone
    assert server.service(service)["desired"] == 2


def test_with_none_a_hung_container_is_only_reported(
    server: ServerProcess, engine: Engine, prefix: str
) -> None:
    service = run_app(engine, prefix, 2)
    wait_until(lambda: server.service(service)["ready"] == 2, timeout=60, what="2 healthy")
    put_check(server, service, {**QUICK, "docker": True, "strategy": "none"})
    wait_health(server, service, "healthy", timeout=60)
    victim = f"{service}-2"
    hang(engine, victim)
    wait_health(server, service, {victim: "unhealthy", f"{service}-1": "healthy"}, timeout=60)
    reported = wait_until(
        lambda: [e for e in executions(server, service) if e["result"] == "unhealthy"],
        what="a report",
    )
    assert reported[0]["details"]["held"] == "strategy_none"
    time.sleep(3)  # more rounds: no recreation, no second report
    trail = executions(server, service)
    assert not [e for e in trail if e["result"] == "recreated"]
    assert len([e for e in trail if e["result"] == "unhealthy"]) == 1
    assert len(engine.labelled(SERVICE_LABEL, service)) == 2
    engine.exec(victim, ["sh", "-c", "kill -CONT $(pidof httpd)"])
    wait_health(server, service, "healthy", timeout=60)


def test_quorum_holds_while_too_few_containers_are_healthy(
    server: ServerProcess, engine: Engine, prefix: str
) -> None:
    service = run_app(engine, prefix, 2)
    wait_until(lambda: server.service(service)["ready"] == 2, timeout=60, what="2 healthy")
    put_check(server, service, {**QUICK, "docker": True, "strategy": "quorum", "quorum": 2})
    wait_health(server, service, "healthy", timeout=60)
    hang(engine, f"{service}-1")
    held = wait_until(
        lambda: [e for e in executions(server, service) if e["details"].get("held") == "quorum"],
        timeout=60,
        what="a quorum report",
    )
    assert "only 1 healthy replica, quorum 2" in held[0]["message"]
    assert not recreations(server, service)
    put_check(server, service, {**QUICK, "docker": True, "strategy": "quorum", "quorum": 1})
    found = wait_until(lambda: recreations(server, service), timeout=90, what="a recreation")
    assert found[0]["details"]["replica"] == f"{service}-1"


def test_an_image_whose_healthcheck_never_passes_causes_no_restart_storm(
    server: ServerProcess, engine: Engine, prefix: str
) -> None:
    """Version 3 of the app never passes its own HEALTHCHECK: every container fails,
    and so does the one clone made to replace one of them."""
    service = run_app(engine, prefix, 2, version="3")
    wait_until(lambda: len(health_of_engine(engine, service)) == 2, timeout=60, what="2 running")
    put_check(
        server,
        service,
        {**QUICK, "docker": True, "initializing_timeout": "3s", "max_recreations": 100},
    )
    stop = wait_until(
        lambda: [
            e for e in executions(server, service) if e["details"].get("held") == "everywhere"
        ],
        timeout=120,
        what="the decision to stop",
    )
    assert "recreating more would not help" in stop[0]["message"]
    counted = executions(server, service)
    time.sleep(5)  # many more rounds: nothing more happens
    trail = executions(server, service)
    assert len(trail) == len(counted)
    attempts = [e for e in trail if e["result"] in ("recreated", "failed")]
    assert len(attempts) == 1
    assert len([e for e in trail if e["details"].get("all_failing")]) == 1
    assert len(engine.labelled(SERVICE_LABEL, service)) == 2
    assert set(health_of(server, service).values()) == {"unhealthy"}


def health_of_engine(engine: Engine, service: str) -> list[Any]:
    return [r for r in engine.labelled(SERVICE_LABEL, service) if r["State"] == "running"]


# Swarm -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path_factory.mktemp("swarm-health"), {"backend": "swarm"})
    started.start()
    yield started
    started.close()


def test_on_swarm_docker_true_reports_what_swarm_sees_and_swarm_heals(
    swarm: ServerProcess, engine: Engine, prefix: str, overlay: str
) -> None:
    """Swarm counts a task running once its HEALTHCHECK passes and replaces one that
    fails it: scalehook reports the slots' health (a replaced task's slot
    reinitializes) and has nothing to recreate."""
    name = f"{prefix}-app"
    spec = service_spec(name, prefix, overlay, replicas=2)
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = f"{APP}:1"
    engine.create_service(spec)
    wait_until(lambda: swarm.service(name)["ready"] == 2, timeout=90, what="2 tasks running")
    put_check(swarm, name, {**QUICK, "docker": True})
    states = wait_health(swarm, name, "healthy", timeout=60)
    assert set(states) == {f"{name}.1", f"{name}.2"}
    first = {r["id"]: r["health"]["since"] for r in swarm.service(name)["replicas"]}
    container = next(
        r["Id"]
        for r in engine.labelled("com.docker.swarm.service.name", name)
        if r["State"] == "running"
        and r["Labels"].get("com.docker.swarm.task.name", "").startswith(f"{name}.1.")
    )
    hang(engine, container)
    wait_until(
        lambda: engine.tasks(name, running=False) and len(engine.tasks(name, running=False)) > 2,
        timeout=90,
        what="Swarm to replace the task",
    )
    wait_until(
        lambda: (
            (
                replica := next(
                    (r for r in swarm.service(name)["replicas"] if r["id"] == f"{name}.1"), None
                )
            )
            is not None
            and replica["health"] is not None
            and replica["health"]["state"] == "healthy"
            and replica["health"]["since"] != first[f"{name}.1"]
        ),
        timeout=90,
        what="the slot healthy again, on a new task",
    )
    assert not recreations(swarm, name)
