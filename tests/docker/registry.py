"""A real registry on loopback: Debian's ``docker-registry`` (Docker Distribution) with
htpasswd auth, its storage in a temporary directory.

The engine trusts it without TLS: 127.0.0.0/8 is an insecure registry by default.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from scalehook.testing import free_port, stop_process
from tests.docker.engine import Engine, EngineCallError


def auth_header(username: str, password: str, server: str) -> str:
    """What the Engine API takes as ``X-Registry-Auth``."""
    body = {"username": username, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


class Registry:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="shk-registry-"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.username = "scalehook"
        self.password = "registry-" + secrets.token_hex(12)
        self.log = self.root / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Registry:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise AssertionError("docker-registry is not installed (scripts/deps installs it)")
        htpasswd = subprocess.run(
            ["htpasswd", "-nbB", self.username, self.password],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (self.root / "htpasswd").write_text(htpasswd + "\n")
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
            "auth": {"htpasswd": {"realm": "scalehook-test", "path": str(self.root / "htpasswd")}},
        }
        (self.root / "config.yml").write_text(yaml.safe_dump(config))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [binary, "serve", str(self.root / "config.yml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the registry did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"http://{self.host}/v2/", timeout=2).status_code == 401
        except httpx.HTTPError:
            return False

    def auth(self) -> str:
        return auth_header(self.username, self.password, self.host)

    def push(self, engine: Engine, image: str, repository: str, tag: str) -> str:
        """Tag the engine's ``image`` as ``<registry>/<repository>:<tag>`` and push it."""
        name = f"{self.host}/{repository}"
        engine.tag(image, name, tag)
        response = engine.call(
            "POST",
            f"/images/{name}/push",
            params={"tag": tag},
            headers={"X-Registry-Auth": self.auth()},
            timeout=300,
        )
        for line in response.text.splitlines():
            if line.strip() and "error" in json.loads(line):
                raise EngineCallError(f"pushing {name}:{tag}: {line}")
        return f"{name}:{tag}"

    def tags(self, repository: str) -> list[str]:
        answer = httpx.get(
            f"http://{self.host}/v2/{repository}/tags/list",
            auth=(self.username, self.password),
            timeout=10,
        )
        answer.raise_for_status()
        return sorted(answer.json().get("tags") or [])

    def close(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.root, ignore_errors=True)
