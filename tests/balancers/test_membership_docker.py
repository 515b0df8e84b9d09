"""The same membership for plain Docker containers on the real engine: reached at their
address on a user network, or at the host port the engine publishes; scaled up and
down under a steady load through HAProxy without losing a request."""

from __future__ import annotations

from typing import Any

import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from tests.balancers.haproxy import HAProxy, wait_for_members
from tests.balancers.load import Load
from tests.conftest import ServerFactory
from tests.docker.conftest import (  # noqa: F401 - fixtures, used by name
    HEALTH_IMAGE,
    engine,
    images,
    prefix,
    session_prefix,
)
from tests.docker.engine import TEST_LABEL, Engine

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]


def scale(server: ServerProcess, service: str, replicas: int) -> None:
    response = server.client.post(f"/v1/services/{service}/scale", json={"replicas": replicas})
    assert response.status_code == 200, response.text


def containers(server: ServerProcess, service: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``service`` has exactly ``count`` containers, all ready; return them."""

    def counted() -> list[dict[str, Any]]:
        state = server.service(service)
        replicas: list[dict[str, Any]] = state["replicas"]
        return replicas if state["ready"] == count and len(replicas) == count else []

    return wait_until(counted, timeout=60, what=f"{service} settles at {count} ready")


def scale_under_load(
    haproxy: HAProxy, server: ServerProcess, service: str, where: dict[str, str]
) -> None:
    """Scale 1 → 3 → 1 under load; every container's server is where ``where`` says
    (container name → endpoint), and no request fails."""
    first = containers(server, service, 1)
    wait_for_members(haproxy, {f"shk-{r['id']}": where[r["id"]] for r in first}, timeout=60)
    with Load(haproxy.url, clients=4) as load:
        wait_until(lambda: load.tally.ok > 50, what="the load flows")
        scale(server, service, 3)
        three = containers(server, service, 3)
        wait_for_members(haproxy, {f"shk-{r['id']}": where[r["id"]] for r in three}, timeout=60)
        load.reset_seen()
        wait_until(lambda: len(load.seen()) == 3, timeout=30, what="all three answer")
        scale(server, service, 1)
        one = containers(server, service, 1)
        wait_for_members(haproxy, {f"shk-{r['id']}": where[r["id"]] for r in one}, timeout=60)
        after = load.tally.ok
        wait_until(lambda: load.tally.ok > after + 100, what="more load")
    tally = load.tally
    assert tally.failed == [], f"{len(tally.failed)} of {tally.total} failed: {tally.failed[:5]}"
    assert set(haproxy.servers()) == {"keep", f"shk-{one[0]['id']}"}


def test_containers_are_members_at_their_address_on_a_user_network(
    engine: Engine,  # noqa: F811
    prefix: str,  # noqa: F811
    haproxy: HAProxy,
    make_server: ServerFactory,
) -> None:
    network = f"{prefix}-lb"
    engine.network(network, prefix)
    service = f"{prefix}-web"
    engine.run(
        f"{prefix}-web-1",
        HEALTH_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: prefix},
        network=network,
    )
    server = make_server(
        {
            "backend": "docker",
            "balancers": {
                "edge": {
                    "haproxy": {"socket": str(haproxy.socket)},
                    "interval": "1s",
                    "services": {service: {"backend": "web_be", "address": f"network:{network}"}},
                }
            },
        }
    )

    def where() -> dict[str, str]:
        found = {}
        for row in engine.containers(**{SERVICE_LABEL: service}):
            name = row["Names"][0].lstrip("/")
            ip = row["NetworkSettings"]["Networks"][network]["IPAddress"]
            found[name] = f"{ip}:8080"
        return found

    class Where(dict[str, str]):
        def __missing__(self, key: str) -> str:
            self.update(where())
            return self[key]

    scale_under_load(haproxy, server, service, Where())


def test_containers_are_members_at_the_host_port_the_engine_publishes(
    engine: Engine,  # noqa: F811
    prefix: str,  # noqa: F811
    haproxy: HAProxy,
    make_server: ServerFactory,
) -> None:
    service = f"{prefix}-pub"
    engine.run(
        f"{prefix}-pub-1",
        HEALTH_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: prefix},
        host_config={"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    )
    server = make_server(
        {
            "backend": "docker",
            "balancers": {
                "edge": {
                    "haproxy": {"socket": str(haproxy.socket)},
                    "interval": "1s",
                    "services": {service: {"backend": "web_be", "address": "published"}},
                }
            },
        }
    )

    class Where(dict[str, str]):
        def __missing__(self, key: str) -> str:
            record = engine.inspect(key)
            binding = record["NetworkSettings"]["Ports"]["8080/tcp"][0]
            self[key] = f"127.0.0.1:{binding['HostPort']}"
            return self[key]

    scale_under_load(haproxy, server, service, Where())
