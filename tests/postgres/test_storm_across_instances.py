"""Concurrent triggers spread over every instance: work on one target is serialised
across instances, so N triggers end at exactly ``min(max, start + N·amount)``, with
exactly N executions, each in the store as it was answered."""

from __future__ import annotations

from typing import Any

import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_swarm_scaling import service_spec
from tests.reliability.load import by_id, executions, storm
from tests.reliability.test_storm import chain_breaks

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]


def spread(url: str, servers: list[ServerProcess]) -> list[str]:
    """The same trigger URL on every instance."""
    path = url.split("/v1/", 1)[1]
    return [f"{server.url}/v1/{path}" for server in servers]


def check(
    servers: list[ServerProcess], answers: list[Any], *, total: int, start: int, end: int
) -> list[dict[str, Any]]:
    """Every trigger answered 200; the steps from ``start`` to ``end`` each taken once; the
    trail, read on each instance, is the answers, and a chain."""
    assert [a.status for a in answers] == [200] * total, {a.status for a in answers}
    bodies = [a.body for a in answers]
    steps = sorted((b["before"], b["after"]) for b in bodies if b["result"] == "scaled")
    assert steps == [(n, n + 1) for n in range(start, end)]  # no lost update, no overshoot
    assert sum(b["result"] == "noop" for b in bodies) == total - (end - start)
    answered = by_id(bodies)
    for server in servers:  # each instance sees all of it, at once
        trail = executions(server, receiver="storm")
        assert len(trail) == total
        assert by_id(trail) == answered
        assert chain_breaks(trail) == []
    return bodies


def test_a_storm_over_three_instances_on_docker_scales_by_exactly_n(
    instances: Any, engine: Engine, prefix: str
) -> None:
    """Six triggers, each +1, from one container, well below max: exactly 7 at the end."""
    service = f"{prefix}-web"
    engine.run(f"{prefix}-first", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    group = instances({"backend": "docker"}, count=3)
    servers = group.start()
    servers[0].wait_for(service, desired=1, ready=1)
    up = servers[1].create_receiver("storm", service=service, action="up", amount=1, max=20)

    answers = storm(spread(up["url"], servers), total=6, concurrency=6)

    check(servers, answers, total=6, start=1, end=7)
    wait_until(lambda: len(engine.labelled(SERVICE_LABEL, service)) == 7, what="7 containers")
    servers[2].wait_for(service, desired=7, running=7)


def test_a_storm_over_three_instances_on_swarm_stops_at_max(
    instances: Any, engine: Engine, prefix: str, overlay: str
) -> None:
    """Forty triggers spread over three instances against max 12: 11 steps and 29 noops,
    never a replica count past 12."""
    name = f"{prefix}-web"
    engine.create_service(service_spec(name, prefix, overlay))
    group = instances({"backend": "swarm"}, count=3)
    servers = group.start()
    servers[0].wait_for(name, desired=1, timeout=60)
    up = servers[0].create_receiver("storm", service=name, action="up", amount=1, max=12)

    answers = storm(spread(up["url"], servers), total=40, concurrency=20)

    check(servers, answers, total=40, start=1, end=12)
    assert engine.service(name)["Spec"]["Mode"]["Replicated"]["Replicas"] == 12
    by_instance = {server.url: 0 for server in servers}
    for answer in answers:
        by_instance[answer.url.split("/v1/")[0]] += 1
    assert all(count > 0 for count in by_instance.values())  # every instance took part
