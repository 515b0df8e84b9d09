"""Membership kept by a real ``scalehook serve`` in a real HAProxy, for local replicas:
they join as they become ready, scaling and rolling upgrades under a steady load through
HAProxy lose no request, and restarts of either side converge without a reload."""

from __future__ import annotations

import re
from typing import Any

import httpx

from scalehook.testing import ServerProcess, wait_until
from tests.balancers.haproxy import HAProxy, wait_for_members
from tests.balancers.load import Load
from tests.conftest import ServerFactory
from tests.upgrades import bodies
from tests.upgrades.helpers import finished, hook, release_service, upgrade_receiver


def config(haproxy: HAProxy, *, replicas: int = 1, **member: Any) -> dict[str, Any]:
    return {
        "services": {"web": release_service(replicas=replicas)},
        "balancers": {
            "edge": {
                "haproxy": {"socket": str(haproxy.socket)},
                "interval": "1s",
                "services": {"web": {"backend": "web_be", **member}},
            }
        },
    }


def settled(server: ServerProcess, count: int) -> dict[str, str]:
    """Wait until ``web`` has exactly ``count`` replicas, all ready; the servers they
    should be in HAProxy (name → the replica's address)."""

    def counted() -> dict[str, Any]:
        state: dict[str, Any] = server.service("web")
        return state if state["ready"] == count and len(state["replicas"]) == count else {}

    state = wait_until(counted, what=f"web settles at {count} ready replicas")
    return {f"shk-{r['id']}": r["address"] for r in state["replicas"]}


def scale(server: ServerProcess, replicas: int) -> None:
    response = server.client.post("/v1/services/web/scale", json={"replicas": replicas})
    assert response.status_code == 200, response.text


def metric(server: ServerProcess, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return None


def test_replicas_join_as_they_become_ready_and_scaling_1_4_1_under_load_loses_nothing(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy))
    wait_for_members(haproxy, settled(server, 1))
    assert haproxy.servers()["keep"].admin_state & 0x01  # the operator's server, untouched

    with Load(haproxy.url, clients=4) as load:
        wait_until(lambda: load.tally.ok > 50, what="the load flows")
        scale(server, 4)
        members = wait_for_members(haproxy, settled(server, 4))
        load.reset_seen()
        wait_until(lambda: load.seen() == {"web-1", "web-2", "web-3", "web-4"}, what="all 4 answer")
        scale(server, 1)
        wait_for_members(haproxy, settled(server, 1))
        wait_until(lambda: load.tally.ok > 400, what="more load")
    tally = load.tally
    assert tally.failed == [], f"{len(tally.failed)} of {tally.total} failed: {tally.failed[:5]}"
    assert set(members) == {"shk-web-1", "shk-web-2", "shk-web-3", "shk-web-4"}
    assert set(haproxy.servers()) == {"keep", "shk-web-1"}
    assert metric(server, "scalehook_balancer_members", balancer="edge", service="web") == 1
    assert metric(server, "scalehook_balancer_up", balancer="edge") == 1
    added = metric(
        server, "scalehook_balancer_changes_total", balancer="edge", service="web", change="added"
    )
    drained = metric(
        server, "scalehook_balancer_changes_total", balancer="edge", service="web", change="drained"
    )
    assert added == 4 and drained == 3
    assert "drained web_be/shk-web-4" in server.log()


def test_a_rolling_upgrade_under_load_loses_nothing(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy, replicas=2))
    wait_for_members(haproxy, settled(server, 2))
    receiver = upgrade_receiver(server, "deploy", batch_interval="200ms")
    with Load(haproxy.url, clients=4) as load:
        wait_until(lambda: load.tally.ok > 50, what="the load flows")
        response = hook(receiver["url"], bodies.dockerhub("acme/app", "2"))
        assert response.status_code == 202, response.text
        assert finished(server, response.json()["id"])["result"] == "upgraded"
        members = wait_for_members(haproxy, settled(server, 2))
        wait_until(lambda: load.tally.ok > 300, what="more load")
    tally = load.tally
    assert tally.failed == [], f"{len(tally.failed)} of {tally.total} failed: {tally.failed[:5]}"
    versions = {httpx.get(haproxy.url, timeout=5).text.split("version ")[1][0] for _ in range(6)}
    assert versions == {"2"}
    assert len(members) == 2


def test_a_restart_of_scalehook_converges(haproxy: HAProxy, make_server: ServerFactory) -> None:
    haproxy.add_foreign("web_be", "other-1", "127.0.0.1:9")  # added by hand: left alone
    server = make_server(config(haproxy, replicas=2))
    first = wait_for_members(haproxy, settled(server, 2))

    # a graceful stop drains its replicas out (they stop with scalehook)
    server.stop()
    assert set(haproxy.servers()) == {"keep", "other-1"}
    server.start()
    wait_for_members(haproxy, settled(server, 2))

    # kill -9: the replicas die, their servers stay behind, pointing nowhere; one more
    # stale server of ours is there too
    server.kill()
    haproxy.add_foreign("web_be", "shk-web-9", "127.0.0.1:9")
    assert set(haproxy.ours()) == {"shk-web-1", "shk-web-2", "shk-web-9"}
    server.start()
    expected = settled(server, 2)
    again = wait_for_members(haproxy, expected)
    assert set(haproxy.servers()) == {"keep", "other-1", "shk-web-1", "shk-web-2"}
    assert {s.endpoint for s in again.values()} == set(expected.values())
    assert {s.endpoint for s in again.values()} != {s.endpoint for s in first.values()}
    assert len({s.endpoint for s in haproxy.ours().values()}) == 2  # no duplicates
    assert httpx.get(haproxy.url, timeout=5).status_code == 200


def test_a_restart_of_haproxy_converges_without_a_reload(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy, replicas=2))
    expected = settled(server, 2)
    wait_for_members(haproxy, expected)
    haproxy.restart()  # a new process from the config: no dynamic server survives
    assert haproxy.ours() == {} or set(haproxy.ours()) <= set(expected)
    wait_for_members(haproxy, expected)
    assert httpx.get(haproxy.url, timeout=5).status_code == 200


def test_haproxy_gone_is_reported_and_retried_and_back_is_reconciled(
    haproxy: HAProxy, make_server: ServerFactory
) -> None:
    server = make_server(config(haproxy, replicas=1))
    wait_for_members(haproxy, settled(server, 1))
    errors_before = metric(server, "scalehook_balancer_errors_total", balancer="edge") or 0
    haproxy.kill()
    wait_until(
        lambda: metric(server, "scalehook_balancer_up", balancer="edge") == 0,
        what="scalehook reports HAProxy down",
    )
    errors = metric(server, "scalehook_balancer_errors_total", balancer="edge") or 0
    assert errors > errors_before
    assert "balancer edge: cannot reach HAProxy at" in server.log()
    # scalehook carries on: it answers, and scales (the stop skips the drain it cannot do)
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    scale(server, 2)
    expected = settled(server, 2)
    haproxy.start()
    wait_for_members(haproxy, expected)
    wait_until(
        lambda: metric(server, "scalehook_balancer_up", balancer="edge") == 1,
        what="scalehook reports HAProxy back",
    )
    assert "balancer edge: HAProxy at" in server.log() and "answers again" in server.log()
    assert server.process is not None and server.process.poll() is None
