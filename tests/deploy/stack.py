"""A Swarm stack deployed with the real ``docker stack deploy``, and everything it made
removed again: its services, networks and configs (``docker stack rm``), then its named
volumes and the secret the test created."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scalehook.testing import wait_until
from tests.docker.engine import TEST_LABEL, Engine

NAMESPACE = "com.docker.stack.namespace"


def docker(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    """Run the docker CLI; its standard output, or an AssertionError with what it said."""
    done = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout


class Stack:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.secrets: list[str] = []

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def create_secret(self, name: str, value: str) -> None:
        self.engine.call(
            "POST",
            "/secrets/create",
            json={
                "Name": name,
                "Data": base64.b64encode(value.encode()).decode(),
                "Labels": {TEST_LABEL: self.name},
            },
        )
        self.secrets.append(name)

    def deploy(self, files: Sequence[Path], env: Mapping[str, str]) -> str:
        """``docker stack deploy`` of ``files`` (merged in order), variables from ``env``.
        No registry is asked for digests: the images are the engine's own."""
        args = ["stack", "deploy", "--resolve-image", "never"]
        for path in files:
            args += ["-c", str(path)]
        return docker(*args, self.name, env=env)

    def containers(self, short: str) -> list[Any]:
        return self.engine.containers(**{"com.docker.swarm.service.name": self.service(short)})

    def running_container(self, short: str) -> Any:
        """The inspect record of the one running container of a service."""
        rows = [r for r in self.containers(short) if r["State"] == "running"]
        assert len(rows) == 1, rows
        return self.engine.inspect(rows[0]["Id"])

    def diagnosis(self, short: str) -> str:
        """What Swarm says about a service's tasks, and its last log lines."""
        service = self.service(short)
        try:
            tasks = docker("service", "ps", "--no-trunc", service)
            logs = subprocess.run(
                ["docker", "service", "logs", "--tail", "40", service],
                capture_output=True,
                text=True,
                timeout=30,
            )
            return f"{tasks}\n{logs.stdout}{logs.stderr}"
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            return str(exc)

    def remove(self, timeout: float = 120.0) -> None:
        """The stack, then (once its containers are gone) its volumes and secrets."""
        label = f'{{"label": ["{NAMESPACE}={self.name}"]}}'
        if self.engine.get("/services", filters=label):
            docker("stack", "rm", self.name)
        wait_until(
            lambda: not self.engine.containers(**{NAMESPACE: self.name}),
            timeout=timeout,
            interval=0.5,
            what=f"the containers of stack {self.name} gone",
        )
        for volume in self.engine.get("/volumes", filters=label)["Volumes"] or []:
            self.engine.call("DELETE", f"/volumes/{volume['Name']}")
        # Networks go a moment after the containers.
        wait_until(
            lambda: not self.engine.get("/networks", filters=label),
            timeout=timeout,
            interval=0.5,
            what=f"the networks of stack {self.name} gone",
        )
        for secret in self.secrets:
            self.engine.call("DELETE", f"/secrets/{secret}")
        self.secrets.clear()

    def leftovers(self) -> dict[str, list[str]]:
        """Whatever of the stack the engine still has (empty after ``remove``)."""
        label = f'{{"label": ["{NAMESPACE}={self.name}"]}}'
        volumes = self.engine.get("/volumes", filters=label)["Volumes"] or []
        return {
            "services": [s["Spec"]["Name"] for s in self.engine.get("/services", filters=label)],
            "containers": [c["Id"] for c in self.engine.containers(**{NAMESPACE: self.name})],
            "volumes": [v["Name"] for v in volumes],
            "networks": [n["Name"] for n in self.engine.get("/networks", filters=label)],
            "configs": [c["Spec"]["Name"] for c in self.engine.get("/configs", filters=label)],
            "secrets": [
                s["Spec"]["Name"]
                for s in self.engine.get("/secrets", filters=f'{{"label": ["{TEST_LABEL}"]}}')
                if s["Spec"]["Labels"].get(TEST_LABEL) == self.name
            ],
        }
