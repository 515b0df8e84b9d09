"""What the health tests share: a local service of ``tests/apps/health_app.py`` with a
check, and ways to read its replicas' health from a real server."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from scalehook.testing import ServerProcess, free_port, wait_until

APPS = Path(__file__).resolve().parents[1] / "apps"
HEALTH_APP = str(APPS / "health_app.py")

# Quick checks, so a test waits seconds, not minutes.
FAST_CHECK: dict[str, Any] = {
    "http": "GET /healthz HTTP/1.0",
    "interval": "300ms",
    "timeout": "300ms",
    "healthy_threshold": 2,
    "unhealthy_threshold": 3,
    "initializing_timeout": "20s",
    "reinitializing_timeout": "20s",
    "backoff": "0s",
    "max_backoff": "0s",
}


def health_service(health_dir: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """A local service of the health app behind the built-in balancer."""
    env = {"HEALTH_DIR": str(health_dir)} if health_dir is not None else {}
    service: dict[str, Any] = {
        "command": [sys.executable, HEALTH_APP],
        "replicas": 2,
        "port": free_port(),
        "readiness": {"tcp": True, "interval": "100ms", "timeout": "1s"},
        "stop_grace": "5s",
        "env": env,
    }
    service.update(overrides)
    return service


def check(**overrides: Any) -> dict[str, Any]:
    return {**FAST_CHECK, **overrides}


def put_check(server: ServerProcess, service: str, body: dict[str, Any]) -> Any:
    response = server.client.put(f"/v1/services/{service}/healthcheck", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def replicas(server: ServerProcess, service: str) -> list[dict[str, Any]]:
    return list(server.service(service)["replicas"])


def health_of(server: ServerProcess, service: str) -> dict[str, str]:
    """replica id -> health state, for the replicas checked so far."""
    return {r["id"]: r["health"]["state"] for r in replicas(server, service) if r["health"]}


def wait_health(
    server: ServerProcess, service: str, wanted: dict[str, str] | str, *, timeout: float = 30
) -> dict[str, str]:
    """Until the replicas' health states are ``wanted`` (or all of them that state)."""

    def reached() -> dict[str, str]:
        found = health_of(server, service)
        members = {
            r["id"]
            for r in replicas(server, service)
            if r["state"] not in ("stopping", "draining", "exited")
        }
        if isinstance(wanted, str):
            good = bool(members) and all(found.get(m) == wanted for m in members)
        else:
            good = all(found.get(k) == v for k, v in wanted.items())
        return found if good else {}

    return wait_until(reached, timeout=timeout, what=f"{service} health {wanted}")


def executions(server: ServerProcess, service: str, **params: Any) -> list[dict[str, Any]]:
    """The service's health executions, oldest first."""
    found = server.client.get("/v1/executions", params={"service": service, "limit": 200, **params})
    found.raise_for_status()
    return [e for e in reversed(found.json()) if e["driver"] == "health"]


def answers(port: int, count: int = 20) -> list[str]:
    """Which replica answered each of ``count`` requests through the balancer."""
    names = []
    with httpx.Client(timeout=5) as client:
        for _ in range(count):
            names.append(client.get(f"http://127.0.0.1:{port}/").text.split()[0])
    return names


@contextmanager
def hung(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP: hung, not dead) for the block; continued after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def pid_of(server: ServerProcess, service: str, replica: str) -> int:
    found = next(r for r in replicas(server, service) if r["id"] == replica)
    return int(found["pid"])
