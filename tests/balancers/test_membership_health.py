"""Health checks and HAProxy membership together, through a real ``scalehook serve`` and
a real HAProxy: a hung replica (SIGSTOP: it still accepts connections) leaves HAProxy's
backend once its check calls it unhealthy, requests through HAProxy are answered by the
healthy one meanwhile, and its replacement joins once it is healthy."""

from __future__ import annotations

import httpx

from scalehook.testing import ServerProcess, wait_until
from tests.balancers.haproxy import HAProxy, wait_for_members
from tests.balancers.test_membership_local import settled
from tests.conftest import ServerFactory
from tests.health.helpers import (
    check,
    executions,
    health_service,
    hung,
    pid_of,
    put_check,
    wait_health,
)


def serving(haproxy: HAProxy) -> set[str]:
    return {name for name, server in haproxy.ours().items() if server.serving}


def through(haproxy: HAProxy, count: int = 6) -> list[str]:
    """Which replica answered each of ``count`` requests through HAProxy's frontend."""
    with httpx.Client(timeout=5) as client:
        return [client.get(haproxy.url).text.split()[0] for _ in range(count)]


def recreation(server: ServerProcess) -> dict[str, object]:
    found = [e for e in executions(server, "web") if e["result"] == "recreated"]
    return found[0] if found else {}


def test_a_hung_replica_leaves_haproxy_and_its_replacement_joins(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(
        {
            "services": {"web": health_service()},
            "balancers": {
                "edge": {
                    "haproxy": {"socket": str(haproxy.socket)},
                    "interval": "1s",
                    "services": {"web": {"backend": "web_be"}},
                }
            },
        }
    )
    put_check(server, "web", check(strategy="recreate"))
    wait_health(server, "web", "healthy")
    wait_for_members(haproxy, settled(server, 2))
    assert set(through(haproxy)) == {"web-1", "web-2"}

    with hung(pid_of(server, "web", "web-1")):
        wait_until(
            lambda: "shk-web-1" not in serving(haproxy),
            timeout=30,
            what="the hung replica out of HAProxy's rotation",
        )
        assert set(through(haproxy)) == {"web-2"}
        done = wait_until(lambda: recreation(server), timeout=30, what="a recreation")
    details = done["details"]
    assert isinstance(details, dict) and details["replica"] == "web-1"
    new = details["new_replica"]
    wait_health(server, "web", "healthy")
    members = wait_for_members(haproxy, settled(server, 2))
    assert set(members) == {"shk-web-2", f"shk-{new}"}
    assert set(through(haproxy)) == {"web-2", new}
