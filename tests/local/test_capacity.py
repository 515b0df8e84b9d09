"""Capacity on the local backend: real scalehook servers, real child processes.

A scale past what the machine holds is clamped (result ``clamped``, reason ``capacity``),
by default too, and the processes that run stay within it: counted in the OS's process
table, not in scalehook's own words.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import psutil
import pytest

from scalehook.backends.local.spec import machine
from scalehook.domain.capacity import default_max_replicas
from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory, replica_processes


def sleeper(replicas: int = 1) -> dict[str, Any]:
    """A replica as cheap as a process gets: it only sleeps (never ready: no port)."""
    return {
        "command": ["sleep", "600"],
        "replicas": replicas,
        "readiness": {"tcp": True, "interval": "5s"},
        "stop_grace": "2s",
    }


def limited(most: int, **services: dict[str, Any]) -> dict[str, Any]:
    return {
        "backends": {"local": {"type": "local", "max_replicas": most, "cgroups": "none"}},
        "services": services,
        "hooks": {"rate": 10000, "burst": 10000},
    }


def processes(server: ServerProcess, service: str) -> int:
    """Replicas of ``service`` running now, as the OS sees them."""
    count = 0
    for process in replica_processes(server):
        try:
            if process.environ().get("SCALEHOOK_SERVICE") == service:
                count += 1
        except psutil.Error:  # gone meanwhile
            continue
    return count


def test_a_receiver_past_capacity_is_clamped_and_the_processes_stay_within(
    make_server: ServerFactory,
) -> None:
    server = make_server(limited(4, web=sleeper(1)))
    server.wait_for("web", running=1)
    up = server.create_receiver("big", service="web", action="up", amount=1000, max=2000)

    answer = httpx.post(up["url"], timeout=30).json()
    assert (answer["result"], answer["before"], answer["after"]) == ("clamped", 1, 4)
    assert "capacity 4" in answer["message"]
    assert "this machine holds at most 4 replicas (max_replicas, as set)" in answer["message"]
    assert answer["details"]["bound"] == "capacity"
    server.wait_for("web", desired=4, running=4)
    wait_until(lambda: processes(server, "web") == 4, what="4 replica processes")

    again = httpx.post(up["url"], timeout=30).json()
    assert (again["result"], again["after"]) == ("noop", 4)
    assert again["message"].startswith("at capacity 4: stays at 4")
    assert processes(server, "web") == 4

    by_hand = server.client.post("/v1/services/web/scale", json={"replicas": 50}).json()
    assert (by_hand["result"], by_hand["after"]) == ("noop", 4)
    assert processes(server, "web") == 4

    recorded = server.client.get("/v1/executions", params={"service": "web"}).json()
    assert sorted(e["result"] for e in recorded) == ["clamped", "noop", "noop"]


def test_with_nothing_configured_the_machine_bounds_a_thousand(
    make_server: ServerFactory,
) -> None:
    """The brief's receiver with amount 1000 on a small machine: the default holds."""
    cpus, memory = machine()
    most = default_max_replicas(cpus, memory)
    server = make_server({"services": {"web": sleeper(1)}})
    server.wait_for("web", running=1)
    up = server.create_receiver("huge", service="web", action="up", amount=1000, max=5000)

    answer = httpx.post(up["url"], timeout=60).json()
    assert (answer["result"], answer["after"]) == ("clamped", most)
    assert f"capacity {most}" in answer["message"]
    assert f"the default for {cpus} CPU(s)" in answer["message"]
    server.wait_for("web", desired=most, running=most, timeout=120)
    assert processes(server, "web") == most

    (node,) = server.client.get("/v1/nodes").json()
    assert (node["kind"], node["replicas"], node["max_replicas"], node["free"]) == (
        "local",
        most,
        most,
        0,
    )
    assert (node["bound"], node["full"], node["cpus"], node["memory"]) == (
        "default",
        True,
        float(cpus),
        memory,
    )
    assert node["services"] == {"web": most}
    server.client.post("/v1/services/web/scale", json={"replicas": 1})
    wait_until(lambda: processes(server, "web") == 1, timeout=60, what="the scale-down")


def test_services_share_the_machine_and_concurrent_triggers_never_pass_it(
    make_server: ServerFactory,
) -> None:
    server = make_server(limited(6, web=sleeper(2), api=sleeper(1)))
    server.wait_for("web", running=2)
    api_up = server.create_receiver("api-up", service="api", action="up", amount=10, max=20)
    answer = httpx.post(api_up["url"], timeout=30).json()
    assert (answer["result"], answer["after"]) == ("clamped", 4)  # 6 less web's 2
    assert "other services have 2" in answer["message"]

    server.client.post("/v1/services/api/scale", json={"replicas": 1})
    web_up = server.create_receiver("web-up", service="web", action="up", amount=1, max=20)
    api_one = server.create_receiver("api-one", service="api", action="up", amount=1, max=20)
    urls = [web_up["url"], api_one["url"]] * 15
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = [r.json() for r in pool.map(lambda u: httpx.post(u, timeout=60), urls)]
    assert sum(1 for a in answers if a["result"] == "scaled") == 3  # 6 - (2 + 1)
    assert all(a["result"] in ("scaled", "noop") for a in answers)
    web, api = server.service("web")["desired"], server.service("api")["desired"]
    assert web + api == 6
    wait_until(
        lambda: processes(server, "web") + processes(server, "api") == 6,
        timeout=60,
        what="6 replica processes in all",
    )

    server.client.post("/v1/services/web/scale", json={"replicas": 1})  # down: never bounded
    server.wait_for("web", desired=1)
    room = httpx.post(api_up["url"], timeout=30).json()
    assert room["after"] == 5  # what web let go of


def test_declaring_more_than_the_machine_holds_is_a_config_error(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "over", limited(2, web=sleeper(2), api=sleeper(1)))
    with pytest.raises(RuntimeError, match="declare 3 replicas, and this backend holds at most 2"):
        server.start(timeout=30)
