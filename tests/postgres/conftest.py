"""Several real ``scalehook serve`` processes on one real PostgreSQL, on the machine's
Docker engine and Swarm (the fixtures of ``tests/docker``)."""

from __future__ import annotations

import concurrent.futures
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_postgres import PostgresCluster
from tests.docker.conftest import (  # noqa: F401 - fixtures, shared with tests/docker
    apps,
    engine,
    images,
    overlay,
    prefix,
    session_prefix,
)

# Short leases keep failover tests quick; the defaults (15s/5s) work the same way.
FAST_LEADER = {"lease": "3s", "renew": "1s"}
UNLIMITED = {"rate": 100_000, "burst": 100_000}


def health(server: ServerProcess) -> dict[str, Any] | None:
    try:
        answer = httpx.get(f"{server.url}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    found: dict[str, Any] | None = answer.json() if answer.status_code == 200 else None
    return found


def leaders(servers: list[ServerProcess]) -> list[ServerProcess]:
    """The instances whose ``/healthz`` says they lead, now."""
    return [s for s in servers if (h := health(s)) is not None and h["leader"]]


def the_leader(servers: list[ServerProcess], timeout: float = 30.0) -> ServerProcess:
    """Wait until exactly one of ``servers`` leads; that one."""

    def one() -> list[ServerProcess]:
        led = leaders(servers)
        return led if len(led) == 1 else []

    found = wait_until(one, timeout=timeout, what="one leader among the instances")
    return found[0]


class Instances:
    """``count`` scalehook instances sharing one database (a new one), one token."""

    def __init__(
        self, workdir: Path, cluster: PostgresCluster, config: dict[str, Any], count: int
    ) -> None:
        self.database = f"shk_{secrets.token_hex(6)}"
        self.url = cluster.create_database(self.database)
        self.cluster = cluster
        token = secrets.token_urlsafe(24)
        shared = {"hooks": UNLIMITED, "leader": FAST_LEADER, **config, "database": self.url}
        self.servers = [
            ServerProcess(workdir / f"instance-{n}", dict(shared), token=token)
            for n in range(count)
        ]

    def start(self, *, at_once: bool = False) -> list[ServerProcess]:
        if at_once:
            with concurrent.futures.ThreadPoolExecutor(len(self.servers)) as pool:
                list(pool.map(lambda s: s.start(), self.servers))
        else:
            for server in self.servers:
                server.start()
        return self.servers

    def close(self) -> None:
        for server in self.servers:
            server.close()


@pytest.fixture
def instances(tmp_path: Path, postgres: PostgresCluster) -> Iterator[Any]:
    """Make ``Instances`` (not started); all are stopped at the end of the test."""
    made: list[Instances] = []

    def factory(config: dict[str, Any], count: int = 2) -> Instances:
        group = Instances(tmp_path / f"group-{len(made)}", postgres, config, count)
        made.append(group)
        return group

    yield factory
    for group in made:
        group.close()
