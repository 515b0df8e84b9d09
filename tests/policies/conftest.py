"""Helpers for the policies' tests: policy bodies, and waiting on a real server's
evaluations (every wait polls with a deadline; nothing asserts a time)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from scalehook.testing import ServerProcess, free_port, wait_until

APPS = Path(__file__).resolve().parents[1] / "apps"
BURN_APP = APPS / "burn_app.py"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "local" / "app.py"
LOAD_EXPORTER = (
    Path(__file__).resolve().parents[2] / "examples" / "alertmanager" / "load_exporter.py"
)


def policy(name: str, service: str, *metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A policy body: one evaluation a second, no rate rules in the way."""
    body: dict[str, Any] = {
        "name": name,
        "service": service,
        "min": 1,
        "max": 5,
        "interval": "1s",
        "metrics": list(metrics),
    }
    body.update(fields)
    return body


def cpu(target: float = 50, name: str = "cpu") -> dict[str, Any]:
    return {"name": name, "source": "engine", "metric": "cpu", "target": target}


def query(text: str, target: float, name: str = "queue", **more: Any) -> dict[str, Any]:
    return {"name": name, "source": "prometheus", "query": text, "target": target, **more}


def connections(target: float = 5, name: str = "conns") -> dict[str, Any]:
    return {"name": name, "source": "balancer", "metric": "connections", "target": target}


def app_service(**overrides: Any) -> dict[str, Any]:
    """A local service of the example app behind the balancer."""
    service: dict[str, Any] = {
        "command": [sys.executable, str(EXAMPLE_APP), "{port}"],
        "replicas": 1,
        "port": free_port(),
        "readiness": {"http": "GET / HTTP/1.0", "interval": "100ms", "timeout": "1s"},
        "stop_grace": "2s",
    }
    service.update(overrides)
    return service


def evaluations(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    shown = server.client.get(f"/v1/policies/{name}").json()
    found: list[dict[str, Any]] = shown.get("evaluations") or []
    return found


def wait_evaluations(
    server: ServerProcess, name: str, count: int, *, timeout: float = 60.0, what: str = ""
) -> list[dict[str, Any]]:
    """The policy's evaluations, once it has at least ``count`` of them."""

    def enough() -> list[dict[str, Any]]:
        found = evaluations(server, name)
        return found if len(found) >= count else []

    return wait_until(enough, timeout=timeout, what=what or f"{count} evaluations of {name}")


def desired(server: ServerProcess, service: str) -> int:
    return int(server.service(service)["desired"])


def policy_executions(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.client.get(
        "/v1/executions", params={"receiver": name, "limit": 200}
    ).json()
    return found


def scaled_by(
    server: ServerProcess,
    name: str,
    which: Callable[[dict[str, Any]], bool] = lambda execution: True,
    *,
    timeout: float = 30.0,
    what: str = "",
) -> list[dict[str, Any]]:
    """The policy's scalings (newest first) once one that ``which`` takes is recorded:
    the engine shows a new count a moment before the execution that made it is written,
    so a test that saw the count waits for the record, not reads it at once."""
    return wait_until(
        lambda: [
            e for e in policy_executions(server, name) if e["result"] == "scaled" and which(e)
        ],
        timeout=timeout,
        what=what or f"a scaling of {name} recorded",
    )


def burn_service(**overrides: Any) -> dict[str, Any]:
    """A local service whose replicas spend CPU per request (``/work?ms=N``)."""
    service: dict[str, Any] = {
        "command": [sys.executable, str(BURN_APP)],
        "replicas": 1,
        "port": free_port(),
        "readiness": {"http": "GET / HTTP/1.0", "interval": "100ms", "timeout": "1s"},
        "stop_grace": "2s",
    }
    service.update(overrides)
    return service


class Load:
    """A load generator: ``workers`` threads, each sending ``GET url`` in turn, with a
    pause of ``think`` seconds after each answer, until ``stop``. Counts the answers."""

    def __init__(self, url: str, *, workers: int = 2, think: float = 0.05) -> None:
        self.url = url
        self.think = think
        self.answers: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.answers[status] = self.answers.get(status, 0) + 1
                self._stop.wait(self.think)
