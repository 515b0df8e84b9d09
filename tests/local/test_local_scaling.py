"""scaleService on the local backend: real processes, a real balancer, real HTTP."""

from __future__ import annotations

import concurrent.futures
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory, processes_named, replica_processes, web_service

CONTROL_APP = str(Path(__file__).resolve().parents[1] / "apps" / "control_app.py")


def answering_replicas(port: int, requests: int = 30) -> set[str]:
    seen = set()
    for _ in range(requests):
        text = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        seen.add(text.split()[2])  # "hello from web-2 (...)"
    return seen


def test_trigger_starts_and_stops_real_processes(make_server: ServerFactory) -> None:
    service = web_service(replicas=1)
    server = make_server({"services": {"web": service}})
    server.wait_for("web", ready=1)
    assert len(replica_processes(server)) == 1
    assert answering_replicas(service["port"], 5) == {"web-1"}

    up = server.create_receiver("up", service="web", action="up", amount=2, max=5)
    execution = httpx.post(up["url"]).json()
    assert (execution["before"], execution["after"], execution["result"]) == (1, 3, "scaled")
    server.wait_for("web", ready=3)
    assert len(replica_processes(server)) == 3
    assert answering_replicas(service["port"]) == {"web-1", "web-2", "web-3"}

    down = server.create_receiver("down", service="web", action="down", amount=2, min=1)
    execution = httpx.post(down["url"]).json()
    assert (execution["before"], execution["after"], execution["result"]) == (3, 1, "scaled")
    server.wait_for("web", desired=1, running=1)
    wait_until(lambda: len(replica_processes(server)) == 1)
    assert answering_replicas(service["port"], 5) == {"web-1"}


def test_clamping_at_both_bounds(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service(replicas=2)}})
    up = server.create_receiver("up", service="web", action="up", amount=3, min=1, max=4)
    down = server.create_receiver("down", service="web", action="down", amount=2, min=1, max=4)
    results = [httpx.post(up["url"]).json() for _ in range(2)]
    assert [(r["before"], r["after"], r["result"]) for r in results] == [
        (2, 4, "clamped"),
        (4, 4, "noop"),
    ]
    assert "max 4" in results[0]["message"]
    results = [httpx.post(down["url"]).json() for _ in range(3)]
    assert [(r["before"], r["after"], r["result"]) for r in results] == [
        (4, 2, "scaled"),
        (2, 1, "clamped"),
        (1, 1, "noop"),
    ]
    assert "min 1" in results[1]["message"]
    server.wait_for("web", desired=1, running=1)
    wait_until(lambda: len(replica_processes(server)) == 1)


def test_200_concurrent_triggers_end_at_exactly_max(make_server: ServerFactory) -> None:
    server = make_server(
        {"services": {"web": web_service(replicas=1)}, "hooks": {"rate": 10000, "burst": 10000}}
    )
    up = server.create_receiver("storm", service="web", action="up", amount=1, max=10)

    def fire(_: int) -> httpx.Response:
        return httpx.post(up["url"], timeout=60)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(fire, range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    results = [r.json() for r in responses]
    assert sum(r["result"] == "scaled" for r in results) == 9
    assert sum(r["result"] == "noop" for r in results) == 191
    steps = sorted((r["before"], r["after"]) for r in results if r["result"] == "scaled")
    assert steps == [(n, n + 1) for n in range(1, 10)]  # no lost update, no step twice
    server.wait_for("web", desired=10, ready=10)
    assert len(replica_processes(server)) == 10
    recorded = server.client.get(
        "/v1/executions", params={"receiver": "storm", "limit": 1000}
    ).json()
    assert len(recorded) == 200


def test_restart_keeps_receivers_executions_and_desired_scale(make_server: ServerFactory) -> None:
    config = {"services": {"web": web_service(replicas=1)}}
    server = make_server(config)
    up = server.create_receiver("keep", service="web", action="up", amount=2, max=9)
    httpx.post(up["url"]).raise_for_status()
    server.wait_for("web", ready=3)
    assert server.stop() == 0
    assert replica_processes(server) == []

    again = server.start()
    try:
        again.wait_for("web", desired=3, ready=3)
        assert len(replica_processes(again)) == 3
        assert [r["name"] for r in again.client.get("/v1/receivers").json()] == ["keep"]
        history = again.client.get("/v1/executions").json()
        assert [(e["receiver_name"], e["before"], e["after"]) for e in history] == [("keep", 1, 3)]
        assert httpx.post(up["url"]).json()["after"] == 5
    finally:
        again.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_no_orphans_after_shutdown(make_server: ServerFactory, tmp_path: Path, sig: int) -> None:
    marker = f"orphan-check-{sig}-{tmp_path.name}"
    service = web_service(replicas=3, env={"MARK": marker})
    service["command"] = [*service["command"], marker]
    server = make_server({"services": {"web": service}})
    server.wait_for("web", ready=3)
    assert len(processes_named(marker)) == 3
    assert server.stop(sig) == 0
    assert processes_named(marker) == []
    assert "stopped" in server.log()


def test_kill_9_leaves_no_replica_behind_and_restart_recovers(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    marker = f"kill9-{tmp_path.name}"
    service = web_service(replicas=2)
    service["command"] = [*service["command"], marker]
    config = {"services": {"web": service}}
    server = make_server(config)
    server.wait_for("web", ready=2)
    server.kill()
    wait_until(lambda: processes_named(marker) == [], timeout=10)
    again = server.start()
    try:
        again.wait_for("web", desired=2, ready=2)
        assert len(processes_named(marker)) == 2
    finally:
        again.stop()


def test_a_replica_that_dies_is_restarted(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service(replicas=2)}})
    server.wait_for("web", ready=2)
    before = {r["id"]: r for r in server.service("web")["replicas"]}
    psutil.Process(before["web-2"]["pid"]).kill()

    def restarted() -> bool:
        after = {r["id"]: r for r in server.service("web")["replicas"]}
        return bool(after["web-2"]["restarts"] == 1 and after["web-2"]["ready"])

    wait_until(restarted)
    after = {r["id"]: r for r in server.service("web")["replicas"]}
    assert after["web-2"]["pid"] != before["web-2"]["pid"]
    assert after["web-1"]["pid"] == before["web-1"]["pid"]


def test_balancer_sends_traffic_to_ready_replicas_only(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    ready_dir = tmp_path / "ready"
    ready_dir.mkdir()
    (ready_dir / "app-1").touch()
    service = {
        "command": [sys.executable, CONTROL_APP],
        "replicas": 3,
        "port": web_service()["port"],
        "env": {"READY_DIR": str(ready_dir)},
        "readiness": {
            "http": "GET /healthz HTTP/1.0",
            "interval": "100ms",
            "unhealthy_threshold": 1,
        },
    }
    server = make_server({"services": {"app": service}})
    server.wait_for("app", running=3, ready=1)
    url = f"http://127.0.0.1:{service['port']}/"
    assert {httpx.get(url).text.strip() for _ in range(12)} == {"app-1"}
    (ready_dir / "app-3").touch()
    server.wait_for("app", ready=2)
    assert {httpx.get(url).text.strip() for _ in range(12)} == {"app-1", "app-3"}
    (ready_dir / "app-1").unlink()
    server.wait_for("app", ready=1)
    assert {httpx.get(url).text.strip() for _ in range(12)} == {"app-3"}


def test_scale_down_kills_a_replica_that_ignores_sigterm_after_the_grace(
    make_server: ServerFactory,
) -> None:
    service = {
        "command": [sys.executable, CONTROL_APP],
        "replicas": 2,
        "env": {"IGNORE_TERM": "1"},
        "stop_grace": "1s",
        "readiness": {"tcp": True, "interval": "100ms"},
    }
    server = make_server({"services": {"stubborn": service}})
    server.wait_for("stubborn", ready=2)
    victim = psutil.Process(server.service("stubborn")["replicas"][1]["pid"])
    response = server.client.post("/v1/services/stubborn/scale", json={"replicas": 1})
    assert response.json()["result"] == "scaled"
    started = time.monotonic()
    wait_until(lambda: not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE)
    assert time.monotonic() - started >= 0.8  # it ignored SIGTERM and had to be killed
    server.wait_for("stubborn", desired=1, running=1)


def test_samples_report_cpu_and_memory(web_server: ServerProcess) -> None:
    web_server.wait_for("web", ready=1)
    detail = web_server.service("web")
    replica = detail["replicas"][0]
    assert replica["memory_bytes"] > 1_000_000
    assert replica["ready_since"] is not None and replica["sampled_at"] is not None
    assert (replica["cpu_limit"], replica["memory_limit"]) == (None, None)

    # CPU% is over the time since the previous sample: a later one has a figure
    def sampled() -> dict[str, Any] | None:
        replica: dict[str, Any] = web_server.service("web")["replicas"][0]
        return replica if replica["cpu_percent"] is not None else None

    later = wait_until(sampled, what="a CPU figure")
    assert later is not None
    assert later["cpu_percent"] >= 0.0 and later["cpu_window"] >= 0.5
    assert detail["ref"] == "local/web"
    assert detail["labels"] == {"tier": "front"}
    assert web_server.client.get("/v1/services", params={"selector": "tier=back"}).json() == []
    assert len(web_server.client.get("/v1/services", params={"selector": "tier=front"}).json()) == 1
