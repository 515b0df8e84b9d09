"""Helpers for upgrade tests: versioned local services, pushes at the hook, polling."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from scalehook.domain.signatures import sign
from scalehook.testing import ServerProcess, free_port, wait_until

RELEASE_APP = str(Path(__file__).resolve().parents[1] / "apps" / "release_app.py")
ANSWER = re.compile(r"hello from (\S+) \(version (\S+), pid (\d+)\)")


def release_service(
    image: str = "acme/app:1", replicas: int = 2, **overrides: Any
) -> dict[str, Any]:
    """A local service of the versioned test app; version ``3`` fails its readiness."""
    service: dict[str, Any] = {
        "command": [sys.executable, RELEASE_APP],
        "image": image,
        "replicas": replicas,
        "port": free_port(),
        "labels": {"app": "shop"},
        "env": {"BROKEN_TAGS": "3"},
        "readiness": {"http": "GET /healthz HTTP/1.0", "interval": "100ms", "timeout": "1s"},
        "stop_grace": "3s",
    }
    env = overrides.pop("env", {})
    service.update(overrides)
    service["env"] = {**service["env"], **env}
    return service


def upgrade_receiver(server: ServerProcess, name: str, **config: Any) -> dict[str, Any]:
    config.setdefault("selector", {"app": "shop"})
    config.setdefault("batch_interval", "0s")
    config.setdefault("health_timeout", "5s")
    response = server.client.post(
        "/v1/receivers", json={"name": name, "driver": "serviceUpgrade", "config": config}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def hook(
    url: str, body: Any, headers: dict[str, str] | None = None, *, secret: str | None = None
) -> httpx.Response:
    """POST a body as a registry would: JSON, with its headers, signed if asked."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, content)
    return httpx.post(url, content=content, headers=sent, timeout=30)


def execution(server: ServerProcess, ident: int) -> dict[str, Any]:
    response = server.client.get(f"/v1/executions/{ident}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def finished(server: ServerProcess, ident: int, timeout: float = 60.0) -> dict[str, Any]:
    """Poll an execution until its status is done; return it."""
    deadline = time.monotonic() + timeout
    current: dict[str, Any] = {}
    while time.monotonic() < deadline:
        current = execution(server, ident)
        if current["status"] == "done":
            return current
        time.sleep(0.1)
    raise AssertionError(f"execution {ident} still running after {timeout}s: {current}")


def answers(address: str) -> tuple[str, str]:
    """(replica, version) from one replica's own HTTP answer."""
    text = httpx.get(f"http://{address}/", timeout=5).text
    match = ANSWER.match(text)
    assert match is not None, text
    return match.group(1), match.group(2)


def member_versions(server: ServerProcess, service: str) -> list[str]:
    """The version each replica of ``service`` names when asked over HTTP, by replica."""
    replicas = server.service(service)["replicas"]
    return [answers(r["address"])[1] for r in sorted(replicas, key=lambda r: r["id"])]


def settled_versions(server: ServerProcess, service: str, replicas: int) -> list[str]:
    """Wait until ``service`` has exactly ``replicas`` ready replicas and no others; return
    the version each one answers."""
    wait_until(
        lambda: (
            (s := server.service(service))["ready"] == replicas and len(s["replicas"]) == replicas
        ),
        what=f"{service} settles at {replicas} ready replicas",
    )
    return member_versions(server, service)


class Sampler:
    """Samples a service's counts in the background while a rollout runs."""

    def __init__(self, server: ServerProcess, service: str) -> None:
        self.server = server
        self.service = service
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, headers=self.server.client.headers) as client:
            while not self._stop.is_set():
                state = client.get("/v1/services").json()
                found = next(s for s in state if s["name"] == self.service)
                self.samples.append(found)
                time.sleep(0.02)


def rollout_of(server: ServerProcess, started: dict[str, Any]) -> int:
    """The rollout id of an execution a push or an upgrade by hand answered with."""
    ident: int = started["details"]["rollout_id"]
    return ident


def rollout(server: ServerProcess, ident: int) -> dict[str, Any]:
    response = server.client.get(f"/v1/rollouts/{ident}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def holding(server: ServerProcess, ident: int, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until a paused rollout holds between batches; return it."""
    found: dict[str, Any] = wait_until(
        lambda: (r := rollout(server, ident))["state"] == "paused" and r,
        timeout=timeout,
        what=f"rollout {ident} holding",
    )
    return found


class VersionSampler:
    """Samples what each replica answers (replica → version) in the background, until
    asked to stop or ``enough`` samples are taken (``wait``)."""

    def __init__(self, sample: Callable[[], dict[str, str]]) -> None:
        self.sample = sample
        self.samples: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> VersionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait(self, enough: int, timeout: float = 120.0) -> None:
        wait_until(lambda: len(self.samples) >= enough, timeout=timeout, what=f"{enough} samples")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.sample())
            except (httpx.HTTPError, AssertionError):
                continue  # a replica between its answers: sample again
            time.sleep(0.05)


def replica_versions(server: ServerProcess, service: str) -> dict[str, str]:
    """replica id → the version it answers, for every replica of ``service`` now."""
    replicas = server.service(service)["replicas"]
    return {r["id"]: answers(r["address"])[1] for r in replicas if r["address"]}


def ask(server: ServerProcess, ident: int, what: str, status: int = 200) -> dict[str, Any]:
    """Pause, resume, cancel or roll back rollout ``ident``; its answer, of ``status``."""
    response = server.client.post(f"/v1/rollouts/{ident}/{what}")
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def by_hand(
    server: ServerProcess, service: str, what: str, body: dict[str, Any], status: int = 202
) -> dict[str, Any]:
    """An upgrade or rollback by hand (``what``), quick batches unless ``body`` says."""
    body.setdefault("strategy", {})
    body["strategy"].setdefault("health_timeout", "10s")
    body["strategy"].setdefault("batch_interval", 0)
    response = server.client.post(f"/v1/services/{service}/{what}", json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer
