"""Health checks on the local backend, through a real ``scalehook serve``: real child
processes hung with SIGSTOP (not dead: they still accept connections), the real
built-in balancer, the audit trail and /metrics."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import psutil

from scalehook.testing import wait_until
from tests.conftest import ServerFactory
from tests.health.helpers import (
    answers,
    check,
    executions,
    health_of,
    health_service,
    hung,
    pid_of,
    put_check,
    replicas,
    wait_health,
)


def test_a_hung_replica_is_found_unhealthy_and_replaced(make_server: ServerFactory) -> None:
    service = health_service()
    server = make_server({"services": {"web": service}})
    put_check(server, "web", check(strategy="recreate"))
    wait_health(server, "web", "healthy")
    old_pid = pid_of(server, "web", "web-1")
    with hung(old_pid):
        found = wait_until(
            lambda: [e for e in executions(server, "web") if e["result"] == "recreated"],
            timeout=30,
            what="a recreation",
        )
    recreated = found[0]
    details = recreated["details"]
    assert recreated["target"] == "local/web"
    assert recreated["receiver_name"] == "web"
    assert details["replica"] == "web-1"
    assert details["reason"].startswith("failed 3 checks in a row (last: timeout after 300ms")
    assert len(details["failed_checks"]) == 3
    assert all(c["ok"] is False and "timeout" in c["detail"] for c in details["failed_checks"])
    new = details["new_replica"]
    states = wait_health(server, "web", "healthy")
    assert set(states) == {"web-2", new}
    assert pid_of(server, "web", new) != old_pid
    state = server.service("web")
    assert (state["desired"], state["ready"]) == (2, 2)
    assert set(answers(service["port"])) == {"web-2", new}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert (
        'scalehook_health_recreations_total{result="recreated",service="local/web"} 1.0' in metrics
    )
    assert 'scalehook_replica_health{service="local/web",state="healthy"} 2.0' in metrics


def test_states_and_reasons_in_the_service(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server({"services": {"web": health_service(tmp_path)}})
    put_check(server, "web", check(strategy="none"))
    wait_health(server, "web", "healthy")
    (tmp_path / "web-2").write_text("500")
    wait_health(server, "web", {"web-1": "healthy", "web-2": "unhealthy"})
    by_id = {r["id"]: r for r in replicas(server, "web")}
    bad = by_id["web-2"]["health"]
    assert bad["reason"] == "failed 3 checks in a row (last: HTTP 500)"
    assert bad["last_check"]["ok"] is False and bad["last_check"]["detail"] == "HTTP 500"
    assert bad["failures"] >= 3 and bad["since"]
    good = by_id["web-1"]["health"]
    assert good["last_check"]["detail"] == "HTTP 200"
    assert good["reason"].startswith("passed")
    assert server.service("web")["health_check"]["strategy"] == "none"
    shown = server.client.get("/v1/services/web/healthcheck").json()
    assert shown["watched"] and shown["source"] == "api"
    assert [r["state"] for r in shown["replicas"]] == ["healthy", "unhealthy"]
    (tmp_path / "web-2").unlink()
    wait_health(server, "web", "healthy")


def test_with_none_a_hung_replica_is_only_reported_and_still_counted(
    make_server: ServerFactory,
) -> None:
    service = health_service()
    server = make_server({"services": {"web": service}})
    put_check(server, "web", check(strategy="none"))
    wait_health(server, "web", "healthy")
    pid = pid_of(server, "web", "web-2")
    with hung(pid):
        wait_health(server, "web", {"web-1": "healthy", "web-2": "unhealthy"})
        reported = wait_until(
            lambda: [e for e in executions(server, "web") if e["result"] == "unhealthy"],
            what="a report",
        )
        assert len(reported) == 1
        assert "strategy none: it is only reported, never replaced" in reported[0]["message"]
        assert reported[0]["details"]["held"] == "strategy_none"
        # it stays a replica of the service: counted, nothing started in its place
        state = server.service("web")
        assert state["desired"] == 2 and state["running"] == 2
        assert {r["id"] for r in state["replicas"]} == {"web-1", "web-2"}
        assert pid_of(server, "web", "web-2") == pid
        # it takes no new connections while it is unhealthy (the other one does)
        assert set(answers(service["port"], 10)) == {"web-1"}
        time.sleep(1)  # some more rounds: reported once per episode, never recreated
        assert len([e for e in executions(server, "web") if e["result"] == "unhealthy"]) == 1
    wait_health(server, "web", "healthy")
    assert not [e for e in executions(server, "web") if e["result"] == "recreated"]
    assert pid_of(server, "web", "web-2") == pid


def test_quorum_replaces_only_while_enough_stay_healthy(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": health_service(replicas=3)}})
    put_check(server, "web", check(strategy="quorum", quorum=3))
    wait_health(server, "web", "healthy")
    with hung(pid_of(server, "web", "web-1")):
        # two healthy left, quorum 3: not recreated, and said so once
        wait_health(server, "web", {"web-1": "unhealthy", "web-2": "healthy", "web-3": "healthy"})
        held = wait_until(
            lambda: [e for e in executions(server, "web") if e["details"].get("held") == "quorum"],
            what="a quorum report",
        )
        assert "only 2 healthy replicas, quorum 3" in held[0]["message"]
        time.sleep(1)  # more rounds: still held, reported once
        trail = executions(server, "web")
        assert not [e for e in trail if e["result"] == "recreated"]
        assert len([e for e in trail if e["details"].get("held") == "quorum"]) == 1
        # quorum 2: the two healthy ones are enough, web-1 is recreated
        put_check(server, "web", check(strategy="quorum", quorum=2))
        found = wait_until(
            lambda: [e for e in executions(server, "web") if e["result"] == "recreated"],
            what="a recreation",
        )
    assert found[0]["details"]["replica"] == "web-1"
    assert found[0]["details"]["healthy"] == 2
    wait_health(server, "web", "healthy")


def test_a_check_that_always_fails_causes_no_restart_storm(make_server: ServerFactory) -> None:
    service = health_service(env={"ALWAYS_FAIL": "1"})
    server = make_server({"services": {"web": service}})
    put_check(
        server,
        "web",
        check(initializing_timeout="1s", reinitializing_timeout="1s", max_recreations=100),
    )
    first = wait_until(
        lambda: [e for e in executions(server, "web") if e["details"].get("all_failing")],
        what="the all-failing report",
    )
    assert "every replica of local/web fails its health check (2 of 2)" in first[0]["message"]
    stop = wait_until(
        lambda: [e for e in executions(server, "web") if e["details"].get("held") == "everywhere"],
        timeout=30,
        what="the decision to stop",
    )
    assert "recreating more would not help" in stop[0]["message"]
    counted = len(executions(server, "web"))
    time.sleep(4)  # a window of many rounds (300ms) and timeouts (1s): nothing more
    trail = executions(server, "web")
    assert len(trail) == counted
    assert len([e for e in trail if e["result"] == "recreated"]) == 1
    assert len([e for e in trail if e["details"].get("all_failing")]) == 1
    state = server.service("web")
    assert state["desired"] == 2 and len(state["replicas"]) == 2
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'scalehook_health_all_failing{service="local/web"} 1.0' in metrics


def test_a_replica_that_keeps_failing_is_recreated_within_the_limits(
    make_server: ServerFactory,
) -> None:
    """Each new replica passes its checks, then fails after a second: without limits,
    a recreation every few seconds for ever."""
    server = make_server({"services": {"web": health_service(replicas=1, env={"FAIL_AFTER": "1"})}})
    put_check(
        server,
        "web",
        check(max_recreations=2, recreation_window="1h", backoff="1s", max_backoff="1s"),
    )
    wait_until(
        lambda: [e for e in executions(server, "web") if e["result"] == "cooldown"],
        timeout=40,
        what="the cap to be reached",
    )
    time.sleep(3)
    trail = executions(server, "web")
    recreated = [e for e in trail if e["result"] == "recreated"]
    assert len(recreated) == 2
    held = [e for e in trail if e["result"] == "cooldown"]
    assert len(held) == 1
    assert "max_recreations reached: 2 in the last 1h (at most 2)" in held[0]["message"]


def test_the_balancer_sends_nothing_to_a_replica_answering_500(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    service = health_service(tmp_path, replicas=3)
    server = make_server({"services": {"web": service}})
    put_check(server, "web", check(strategy="none"))
    wait_health(server, "web", "healthy")
    assert set(answers(service["port"], 30)) == {"web-1", "web-2", "web-3"}
    (tmp_path / "web-2").write_text("500")
    wait_health(server, "web", {"web-2": "unhealthy"})
    assert "web-2" not in answers(service["port"], 30)
    (tmp_path / "web-2").unlink()
    wait_health(server, "web", "healthy")
    wait_until(lambda: "web-2" in answers(service["port"], 10), what="web-2 back in the balancer")


def test_a_new_replica_gets_traffic_only_once_healthy(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    service = health_service(tmp_path, replicas=1)
    server = make_server({"services": {"web": service}})
    put_check(server, "web", check(strategy="none"))
    wait_health(server, "web", "healthy")
    (tmp_path / "web-2").write_text("503")  # the replica the scale-up will start
    server.client.post("/v1/services/web/scale", json={"replicas": 2}).raise_for_status()
    server.wait_for("web", ready=2)
    wait_until(lambda: health_of(server, "web").get("web-2") == "initializing", what="web-2 seen")
    assert set(answers(service["port"], 20)) == {"web-1"}
    (tmp_path / "web-2").unlink()
    wait_health(server, "web", {"web-2": "healthy"})
    wait_until(lambda: "web-2" in answers(service["port"], 10), what="web-2 in the balancer")


def test_a_long_request_finishes_while_its_replica_is_scaled_down(
    make_server: ServerFactory,
) -> None:
    service = health_service(replicas=2, stop_grace="10s")
    server = make_server({"services": {"web": service}})
    server.wait_for("web", ready=2)
    url = f"http://127.0.0.1:{service['port']}/slow?s=3"
    pids = [pid_of(server, "web", r) for r in ("web-1", "web-2")]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(httpx.get, url, timeout=20) for _ in range(4)]
        wait_until(
            lambda: all(open_connections(pid) for pid in pids),
            what="requests in flight to both replicas",
        )
        server.client.post("/v1/services/web/scale", json={"replicas": 1}).raise_for_status()
        wait_until(
            lambda: any(r["state"] == "draining" for r in replicas(server, "web")),
            what="web-2 draining",
        )
        done = [c.result() for c in calls]
    assert [r.status_code for r in done] == [200] * 4
    assert {r.text.split()[0] for r in done} == {"web-1", "web-2"}
    server.wait_for("web", running=1, ready=1)
    wait_until(lambda: len(replicas(server, "web")) == 1, what="web-2 gone")


def open_connections(pid: int) -> int:
    """Connections the replica's process has accepted and not closed."""
    try:
        process = psutil.Process(pid)
        ports = {c.laddr.port for c in process.net_connections("tcp") if c.status == "LISTEN"}
        return sum(
            1
            for c in process.net_connections("tcp")
            if c.status == "ESTABLISHED" and c.laddr.port in ports
        )
    except psutil.Error:
        return 0
