"""Autoscaling policies on real ``scalehook serve`` processes and real local replicas.

- **Reaction**: a load step (a replica starts burning a core) → the policy's decision →
  the new replica ready, against the floor measured in the same run: one sample
  interval (the policy's, 1 s: the CPU must show in a sample) plus starting one replica
  directly (``POST /v1/services/{name}/scale``, until it is ready).
- **Cost**: the CPU time of the server process (psutil, user + system, its children
  not counted) over a window, with 1,000 policies evaluated every second, beside the
  same server idle (no policies) measured just before.
- **Wake from zero**: the first answer to a request at zero replicas (held by the
  balancer while a replica starts), against a request to a running replica plus
  starting one replica directly.

Runs alternate where they can, so both sides see the same neighbours.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from bench.common import Figure, median
from bench.servers import EXAMPLE_APP, ROOT, scalehook
from scalehook.testing import ServerProcess, free_port

BURN_APP = ROOT / "tests" / "apps" / "burn_app.py"
INTERVAL = 1.0  # the policies' interval, seconds


def _until(check: Callable[[], bool], timeout: float = 120.0, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not met within {timeout}s: {check}")
        time.sleep(step)


def _counts(server: ServerProcess, service: str) -> dict[str, Any]:
    """The service's counts from the list (no samples taken: cheap to poll)."""
    found: list[dict[str, Any]] = server.client.get("/v1/services").json()
    return next(s for s in found if s["name"] == service)


def _scale(server: ServerProcess, service: str, replicas: int) -> None:
    answer = server.client.post(f"/v1/services/{service}/scale", json={"replicas": replicas})
    answer.raise_for_status()


def _pause(server: ServerProcess, policy: str, paused: bool) -> None:
    server.client.patch(f"/v1/policies/{policy}", json={"paused": paused}).raise_for_status()


def _fresh(server: ServerProcess, service: str, policy: str, replicas: int) -> None:
    """``service`` at ``replicas`` new replicas, the policy paused."""
    _pause(server, policy, True)
    _scale(server, service, 0)
    _until(lambda: _counts(server, service)["running"] == 0)
    if replicas:
        _scale(server, service, replicas)
        _until(lambda: _counts(server, service)["ready"] == replicas)


def _evaluated_with_cpu(server: ServerProcess, policy: str, after: str) -> bool:
    found = server.client.get(f"/v1/policies/{policy}").json()["evaluations"] or []
    return any(
        e["at"] > after and e.get("metrics") and e["metrics"][0]["value"] is not None for e in found
    )


# reaction --------------------------------------------------------------------------


def reaction(runs: int) -> list[Figure]:
    service = {
        "command": [sys.executable, str(BURN_APP)],
        "replicas": 1,
        "port": free_port(),
        "readiness": {"http": "GET / HTTP/1.0", "interval": "50ms", "timeout": "1s"},
        "stop_grace": "1s",
    }
    policy = {
        "name": "react",
        "service": "burn",
        "min": 1,
        "max": 2,
        "interval": f"{INTERVAL:g}s",
        "cpu_initialization": "0s",
        "metrics": [{"name": "cpu", "source": "engine", "metric": "cpu", "target": 20}],
        "behavior": {"down": {"stabilization": "1h"}},
    }
    burn = f"http://127.0.0.1:{service['port']}/burn"
    reacted: list[float] = []
    started: list[float] = []
    with scalehook({"services": {"burn": service}}) as server:
        server.client.post("/v1/policies", json=policy).raise_for_status()
        for run in range(runs):
            for kind in ("policy", "direct") if run % 2 == 0 else ("direct", "policy"):
                _fresh(server, "burn", "react", 1)
                if kind == "direct":
                    began = time.perf_counter()
                    _scale(server, "burn", 2)
                    _until(lambda: _counts(server, "burn")["ready"] == 2)
                    started.append(time.perf_counter() - began)
                    continue
                mark = server.client.get("/v1/policies/react").json()["updated_at"]
                _pause(server, "react", False)

                def evaluated(mark: str = mark) -> bool:
                    return _evaluated_with_cpu(server, "react", mark)

                _until(evaluated, step=0.05)
                began = time.perf_counter()
                httpx.get(burn, timeout=10).raise_for_status()  # the step: a core, for good
                _until(lambda: _counts(server, "burn")["ready"] == 2)
                reacted.append(time.perf_counter() - began)
    floor = [INTERVAL + s for s in started]
    return [
        Figure(
            name="policy reaction: load step -> decision -> new replica ready",
            value=median(reacted) * 1000,
            unit="ms",
            baseline="one sample interval (1 s) + one replica started directly",
            baseline_value=median(floor) * 1000,
            runs=runs,
            note=f"local backend, CPU target 20%, interval 1s; replica start alone "
            f"{median(started) * 1000:.0f} ms; goal <= 1.3x",
        )
    ]


# cost ------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _window(server: ServerProcess, seconds: float) -> tuple[float, float]:
    """(CPU % of one core used by the server process over ``seconds``, evaluations/s)."""
    before, count, began = _cpu_seconds(server.pid), _evaluations(server), time.monotonic()
    time.sleep(seconds)
    used, elapsed = _cpu_seconds(server.pid) - before, time.monotonic() - began
    return used / elapsed * 100.0, (_evaluations(server) - count) / elapsed


def _evaluations(server: ServerProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("scalehook_policy_evaluations_total{")
    )


def cost(quick: bool) -> list[Figure]:
    services = 10
    policies = 1000
    window = 15.0 if quick else 60.0
    config = {
        "services": {
            f"svc{n}": {"command": ["sleep", "3600"], "replicas": 1, "stop_grace": "1s"}
            for n in range(services)
        }
    }
    with scalehook(config) as server:
        time.sleep(3)  # past start-up
        idle, _ = _window(server, window)
        for n in range(policies):
            body = {
                "name": f"p{n}",
                "service": f"svc{n % services}",
                "min": 1,
                "max": 1,
                "interval": "1s",
                "metrics": [{"name": "cpu", "source": "engine", "metric": "cpu", "target": 50}],
            }
            server.client.post("/v1/policies", json=body).raise_for_status()
        _until(lambda: _evaluations(server) >= policies * 3, timeout=300, step=0.5)
        busy, rate = _window(server, window)
    return [
        Figure(
            name=f"CPU of scalehook serve with {policies:,} policies at 1s",
            value=busy,
            unit="% of a core",
            baseline="the same server idle, no policies",
            baseline_value=idle,
            runs=1,
            note=f"{rate:,.0f} evaluations/s over {window:g}s; {services} local services, "
            f"an engine cpu metric each; the evaluations cost {busy - idle:.1f}% "
            "(goal < 10%)",
        )
    ]


# wake ------------------------------------------------------------------------------


def wake(runs: int) -> list[Figure]:
    port = free_port()
    service = {
        "command": [sys.executable, str(EXAMPLE_APP), "{port}"],
        "replicas": 1,
        "port": port,
        "readiness": {"http": "GET / HTTP/1.0", "interval": "50ms", "timeout": "1s"},
        "stop_grace": "1s",
    }
    policy = {
        "name": "sleepy",
        "service": "web",
        "min": 0,
        "max": 2,
        "interval": "1s",
        "metrics": [{"name": "conns", "source": "balancer", "metric": "connections",
                     "target": 10}],
        "behavior": {"down": {"stabilization": "1s"}},
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    woken: list[float] = []
    requests: list[float] = []
    started: list[float] = []
    with scalehook({"services": {"web": service}}) as server:
        server.client.post("/v1/policies", json=policy).raise_for_status()
        with httpx.Client(timeout=60) as client:
            for _ in range(runs):
                _pause(server, "sleepy", False)
                _until(lambda: _counts(server, "web")["running"] == 0, step=0.05)
                began = time.perf_counter()
                answer = client.get(url)
                woken.append(time.perf_counter() - began)
                assert answer.status_code == 200, answer.text
                for _ in range(20):  # a request to the replica now running
                    began = time.perf_counter()
                    client.get(url).raise_for_status()
                    requests.append(time.perf_counter() - began)
                _fresh(server, "web", "sleepy", 0)
                began = time.perf_counter()
                _scale(server, "web", 1)
                _until(lambda: _counts(server, "web")["ready"] == 1)
                started.append(time.perf_counter() - began)
                _scale(server, "web", 0)
    request = median(requests)
    return [
        Figure(
            name="wake from zero: first answer after idle",
            value=median(woken) * 1000,
            unit="ms",
            baseline="a request to a running replica + one replica started directly",
            baseline_value=(request + median(started)) * 1000,
            runs=runs,
            note=f"request alone {request * 1000:.1f} ms, start alone "
            f"{median(started) * 1000:.0f} ms; the connection is held, never a 502",
        )
    ]


def run(quick: bool) -> list[Figure]:
    runs = 3 if quick else 7
    return [*reaction(runs), *wake(runs), *cost(quick)]
