"""A small synchronous Engine API client for tests: set things up, look, clean up.

It is deliberately not scalehook's client: tests check what scalehook did by asking
the engine themselves.
"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

TEST_LABEL = "scalehook-test"
"""Every object a test makes carries this label with the test's prefix (clones inherit it),
so the test can remove all it made, whatever scalehook added."""

T = TypeVar("T")


class EngineCallError(AssertionError):
    pass


class Engine:
    def __init__(self, socket: str = "/var/run/docker.sock") -> None:
        self.socket = socket
        self.http = httpx.Client(
            transport=httpx.HTTPTransport(uds=socket), base_url="http://docker", timeout=60
        )
        self.default_network: str | None = None
        """Where ``run`` puts containers given no network. Not the default bridge: a
        dockerd started elsewhere with ``--bridge=none`` deletes ``docker0``."""

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise EngineCallError(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params).json()

    def up(self) -> bool:
        # Probe the socket first: httpx's sync transport leaks the socket of a refused
        # unix connection, which warnings-as-errors would turn into a failure.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(self.socket)
            except OSError:
                return False
        try:
            return self.http.get("/_ping", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    # images ------------------------------------------------------------------------

    def build(self, tag: str, dockerfile: str, files: Mapping[str, Path]) -> None:
        """Build from a context of ``files`` plus the Dockerfile; fail with the engine's words."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = dockerfile.encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for name, path in files.items():
                tar.add(str(path), arcname=name)
        response = self.call(
            "POST",
            "/build",
            params={"t": tag, "rm": "1", "forcerm": "1"},
            content=buffer.getvalue(),
            headers={"Content-Type": "application/x-tar"},
            timeout=300,
        )
        for line in response.text.splitlines():
            if line.strip() and "error" in json.loads(line):
                raise EngineCallError(f"building {tag}: {line}")

    def tag(self, image: str, repository: str, tag: str) -> None:
        self.call("POST", f"/images/{image}/tag", params={"repo": repository, "tag": tag})

    def untag(self, image: str) -> None:
        """Forget the name ``image`` (the image stays under its other names), so that the
        engine must pull it to run it."""
        response = self.http.delete(f"/images/{image}", params={"noprune": "1"})
        if response.status_code not in (200, 404):
            raise EngineCallError(f"DELETE /images/{image}: {response.status_code} {response.text}")

    def forget_registries(self, image: str, keep: set[str]) -> None:
        """Untag every name of ``image`` but ``keep``, and forget its registry digests, so
        the engine holds it as built here (a push of an earlier run leaves both behind)."""
        found = self.http.get(f"/images/{image}/json")
        if found.status_code == 404:
            return
        record = found.json()
        for name in [*(record.get("RepoTags") or []), *(record.get("RepoDigests") or [])]:
            if name not in keep:
                self.untag(name)

    def has_image(self, image: str) -> bool:
        return self.http.get(f"/images/{image}/json").status_code == 200

    # containers --------------------------------------------------------------------

    def run(
        self,
        name: str,
        image: str,
        *,
        labels: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        network: str | None = None,
        aliases: list[str] | None = None,
        host_config: Mapping[str, Any] | None = None,
        cmd: list[str] | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "Image": image,
            "Labels": dict(labels),
            "Env": [f"{k}={v}" for k, v in (env or {}).items()],
            "HostConfig": dict(host_config or {}),
        }
        if cmd is not None:
            body["Cmd"] = cmd
        network = network or self.default_network
        if "NetworkMode" not in body["HostConfig"] and network is not None:
            body["HostConfig"]["NetworkMode"] = network
            body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": aliases or []}}}
        container = self.call("POST", "/containers/create", params={"name": name}, json=body)
        ident: str = container.json()["Id"]
        self.call("POST", f"/containers/{ident}/start")
        return ident

    def containers(self, **labels: str) -> list[Any]:
        """Containers (running or not) with all these labels, oldest first."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        rows = self.get("/containers/json", all="1", filters=json.dumps(filters))
        return sorted(rows, key=lambda r: (r["Created"], r["Names"][0]))

    def labelled(self, label: str, value: str) -> list[Any]:
        return self.containers(**{label: value})

    def inspect(self, container: str) -> Any:
        return self.get(f"/containers/{container}/json")

    def exec(self, container: str, cmd: list[str]) -> str:
        """Run ``cmd`` in a running container; its standard output (the engine
        multiplexes the streams: 8-byte frame headers, stream 1 is stdout)."""
        created = self.call(
            "POST",
            f"/containers/{container}/exec",
            json={"Cmd": cmd, "AttachStdout": True, "AttachStderr": True},
        ).json()
        raw = self.call(
            "POST", f"/exec/{created['Id']}/start", json={"Detach": False, "Tty": False}
        ).content
        out = b""
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if raw[0] == 1:
                out += raw[8 : 8 + size]
            raw = raw[8 + size :]
        return out.decode(errors="replace")

    def network(self, name: str, prefix: str, *, driver: str = "bridge") -> str:
        answer = self.call(
            "POST",
            "/networks/create",
            json={
                "Name": name,
                "Driver": driver,
                "Attachable": driver == "overlay",
                "Labels": {TEST_LABEL: prefix},
                "CheckDuplicate": True,
            },
        )
        ident: str = answer.json()["Id"]
        return ident

    # swarm -------------------------------------------------------------------------

    def create_service(self, spec: Mapping[str, Any]) -> str:
        ident: str = self.call("POST", "/services/create", json=spec).json()["ID"]
        return ident

    def service(self, name: str) -> Any:
        return self.get(f"/services/{name}")

    def tasks(self, service: str, *, running: bool = True) -> list[Any]:
        filters: dict[str, list[str]] = {"service": [service]}
        if running:
            filters["desired-state"] = ["running"]
        return list(self.get("/tasks", filters=json.dumps(filters)))

    def running_tasks(self, service: str) -> int:
        return sum(1 for t in self.tasks(service) if t["Status"]["State"] == "running")

    # cleanup -----------------------------------------------------------------------

    def remove_everything(self, prefix: str, timeout: float = 60.0) -> None:
        """Services, containers and networks labelled with ``prefix``."""
        label = json.dumps({"label": [f"{TEST_LABEL}={prefix}"]})
        if not self.up():
            return
        if self._swarm():
            for service in self.get("/services", filters=label):
                self.http.delete(f"/services/{service['ID']}")
        deadline = time.monotonic() + timeout
        while rows := self.get("/containers/json", filters=label, all="1"):
            for row in rows:
                self.http.delete(f"/containers/{row['Id']}", params={"force": "1", "v": "1"})
            if time.monotonic() > deadline:
                raise AssertionError(f"containers of {prefix} still there after {timeout:g}s")
            time.sleep(0.2)
        for network in self.get("/networks", filters=label):
            self.http.delete(f"/networks/{network['Id']}")

    def _swarm(self) -> bool:
        info = self.get("/info")
        return bool(info.get("Swarm", {}).get("ControlAvailable"))
