"""Run a real ``scalehook serve`` in a child process: for tests, benchmarks and demos.

With ``SCALEHOOK_TEST_DATABASE=postgresql`` in the environment, a server whose config
names no ``database`` gets a database of its own on the test run's PostgreSQL
(``testing_postgres.shared_cluster``), with ``alone: true`` (it is the only instance on
it, so a local backend is allowed): the same suites then run on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until ``predicate`` returns something true; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout:g}s: {what or predicate}")
        time.sleep(interval)


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 30.0
) -> int | None:
    """Signal a child and wait for it; SIGKILL if it has not exited in ``timeout``."""
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def answers(url: str) -> bool:
    """True when ``url`` answers 200 now."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class ServerProcess:
    """A scalehook server on a free loopback port, with its own data directory."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.config = dict(config or {})
        self.postgres_database: str | None = None  # its database on the test cluster
        if "database" not in self.config:
            from scalehook.testing_postgres import shared_cluster, wants_postgres

            if wants_postgres():
                self.postgres_database = f"shk_{secrets.token_hex(6)}"
                self.config["database"] = shared_cluster().create_database(self.postgres_database)
                self.config.setdefault("alone", True)
        self.token = token or secrets.token_urlsafe(24)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "data"
        self.config_path = workdir / "scalehook.yaml"
        self.log_path = workdir / "scalehook.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SCALEHOOK_ADMIN_TOKEN=self.token,
            XDG_CONFIG_HOME=str(self.workdir / "config-home"),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config))
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scalehook",
                "serve",
                "-c",
                str(self.config_path),
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"scalehook exited with {self.process.returncode}:\n{self.log()}"
                )
            if answers(f"{self.url}/healthz"):
                return self
            time.sleep(0.05)
        self.stop()  # leave no half-started server behind
        raise RuntimeError(f"scalehook did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rows(self, query: str) -> list[tuple[str, ...]]:
        """The rows ``query`` finds in this server's store (its SQLite file, or its
        database on the test cluster), each value as text."""
        if self.postgres_database is not None:
            from scalehook.testing_postgres import shared_cluster

            out = shared_cluster().sql(query, database=self.postgres_database)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        with contextlib.closing(sqlite3.connect(self.data_dir / "scalehook.db")) as db:
            return [tuple(str(v) for v in row) for row in db.execute(query).fetchall()]

    def dump(self) -> str:
        """Everything this server's store holds, as SQL text."""
        if self.postgres_database is not None:
            from scalehook.testing_postgres import shared_cluster

            return shared_cluster().dump(self.postgres_database)
        with contextlib.closing(sqlite3.connect(self.data_dir / "scalehook.db")) as db:
            return "\n".join(db.iterdump())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        return stop_process(self.process, sig, timeout)

    def kill(self) -> None:
        """``kill -9``: no cleanup at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.stop()
        self.client.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # small API helpers ---------------------------------------------------------

    def create_receiver(self, name: str, driver: str = "scaleService", **config: Any) -> Any:
        response = self.client.post(
            "/v1/receivers", json={"name": name, "driver": driver, "config": config}
        )
        response.raise_for_status()
        return response.json()

    def service(self, ref: str) -> Any:
        response = self.client.get(f"/v1/services/{ref}")
        response.raise_for_status()
        return response.json()

    def wait_for(
        self,
        ref: str,
        *,
        desired: int | None = None,
        ready: int | None = None,
        running: int | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Poll a service until its counts are as asked; return it."""
        deadline = time.monotonic() + timeout
        state: Any = None
        while time.monotonic() < deadline:
            state = self.client.get("/v1/services").json()
            state = next((s for s in state if ref in (s["name"], s["ref"])), None)
            if state is not None and all(
                want is None or state[key] == want
                for key, want in (("desired", desired), ("ready", ready), ("running", running))
            ):
                return state
            time.sleep(0.05)
        raise AssertionError(
            f"{ref} did not reach desired={desired} ready={ready} running={running}: {state}"
        )
