"""The policies' ``balancer`` source reads HAProxy for a service it carries: a real
``scalehook serve`` with ``balancers:``, a real HAProxy in front of local replicas, and
requests held open through HAProxy's frontend (the built-in balancer's port sees none).
HAProxy gone is a metric that cannot be read (the policy holds), and a warning at create.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.balancers.haproxy import HAProxy, wait_for_members
from tests.balancers.test_membership_local import config, settled
from tests.conftest import ServerFactory

HOLD = 20  # seconds each held request waits for its answer (HAProxy's timeout is 30s)


class Held:
    """``count`` requests kept in flight through ``port`` (``GET /hold``): each holder
    sends the next one when its answer comes, until the block ends."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def __enter__(self) -> Held:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(HOLD + 10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(f"GET /hold?s={HOLD} HTTP/1.0\r\n\r\n".encode())
                sock.settimeout(0.2)
                while not self._stop.is_set():
                    try:
                        if not sock.recv(65536):
                            break  # answered: hold the next one
                    except TimeoutError:
                        continue


def in_flight(haproxy: HAProxy) -> int:
    """Sessions open on scalehook's servers of ``web_be`` (``show stat``'s scur)."""
    lines = haproxy.command("show stat web_be 4 -1").splitlines()
    header = lines[0].removeprefix("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return sum(int(r["scur"] or 0) for r in rows if r["svname"].startswith("shk-"))


def policy(target: float = 1) -> dict[str, Any]:
    return {
        "name": "web-conns",
        "service": "web",
        "min": 1,
        "max": 4,
        "interval": "1s",
        "metrics": [
            {"name": "conns", "source": "balancer", "metric": "connections", "target": target}
        ],
    }


def scaled(server: ServerProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.client.get(
        "/v1/executions", params={"receiver": "web-conns", "limit": 50}
    ).json()
    return [e for e in found if e["result"] == "scaled"]


def test_connections_held_through_haproxy_scale_the_service_up(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy, replicas=1))
    wait_for_members(haproxy, settled(server, 1))
    with Held(haproxy.port, 3):
        wait_until(lambda: in_flight(haproxy) == 3, what="3 requests in flight in HAProxy")
        response = server.client.post("/v1/policies", json=policy(target=1))
        assert response.status_code == 201, response.text
        assert response.json()["warnings"] == []
        execution = wait_until(lambda: scaled(server), what="the policy scales web up")[-1]
        assert (execution["before"], execution["after"]) == (1, 3), execution
        details = execution["details"]
        assert details["policy"] == "web-conns" and details["winner"] == "conns"
        [conns] = details["metrics"]
        # 3 in flight on its one replica, as HAProxy counts them: the built-in balancer's
        # port had none (HAProxy reaches the replica at its own address)
        assert (conns["value"], conns["candidate"]) == (3.0, 3), conns
        wait_for_members(haproxy, settled(server, 3))


def test_haproxy_unreadable_is_a_warning_at_create_and_the_policy_holds(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy, replicas=1))
    wait_for_members(haproxy, settled(server, 1))
    haproxy.kill()
    response = server.client.post("/v1/policies", json=policy(target=1))
    assert response.status_code == 201, response.text
    [warning] = response.json()["warnings"]
    assert warning.startswith("metrics[0] (conns): HAProxy cannot be read: "), warning

    def failed() -> list[dict[str, Any]]:
        shown = server.client.get("/v1/policies/web-conns").json()
        return [
            m
            for e in shown.get("evaluations") or []
            for m in e.get("metrics") or []
            if m["error"] and "HAProxy cannot be read" in m["error"]
        ]

    [metric, *_] = wait_until(failed, what="an evaluation that could not read HAProxy")
    assert metric["value"] is None and metric["candidate"] is None  # unread, not zero
    assert server.service("web")["desired"] == 1
    assert scaled(server) == []
