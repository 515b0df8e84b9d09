"""Fixtures that start real scalehook servers with real child processes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, settings

from scalehook.store import Store
from scalehook.testing import ServerProcess, free_port
from scalehook.testing_postgres import PostgresCluster, shared_cluster

EXAMPLE_APP = Path(__file__).resolve().parents[1] / "examples" / "local" / "app.py"


def web_service(**overrides: Any) -> dict[str, Any]:
    """A local service running the example app, which names the replica that answers."""
    service: dict[str, Any] = {
        "command": [sys.executable, str(EXAMPLE_APP), "{port}"],
        "replicas": 1,
        "port": free_port(),
        "labels": {"tier": "front"},
        "readiness": {"http": "GET / HTTP/1.0", "interval": "200ms", "timeout": "1s"},
        "stop_grace": "3s",
    }
    service.update(overrides)
    return service


def replica_processes(server: ServerProcess) -> list[psutil.Process]:
    """The replicas running under this server, read from the OS process table."""
    try:
        return [
            p
            for p in psutil.Process(server.pid).children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE
        ]
    except psutil.NoSuchProcess:
        return []


def processes_named(marker: str) -> list[psutil.Process]:
    """Every live process whose command line holds ``marker``, whoever its parent is."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except psutil.Error:
            continue
    return found


# The suite shares 2 cores with real engines: judge examples by what they find, not
# by how fast they are generated or run.
settings.register_profile("scalehook", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("scalehook")


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start scalehook servers; all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def factory(
        config: dict[str, Any] | None = None, *, name: str = "server", **kwargs: Any
    ) -> ServerProcess:
        server = ServerProcess(tmp_path / name, config, **kwargs)
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module, running a local service ``web`` with one replica."""
    server = ServerProcess(
        tmp_path_factory.mktemp("web-server"), {"services": {"web": web_service()}}
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    """The test run's PostgreSQL 15 (Debian's, in a temporary directory), started on
    first use; every user takes a database of its own."""
    return shared_cluster()


STORES = ("sqlite-on-loop", "sqlite-async", "postgresql")


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open, empty store, each way it runs: SQLite on the event loop's thread (the
    default), SQLite through the async engine, and PostgreSQL (a new database)."""
    kind: str = request.param
    if kind == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        opened = Store(cluster.create_database())
    else:
        path = tmp_path / "store.db"
        opened = Store(f"sqlite+aiosqlite:///{path}", on_loop=kind == "sqlite-on-loop")
    await opened.open()
    yield opened
    await opened.close()
    if kind == "postgresql":
        cluster.drop_database(opened.db.url.rsplit("/", 1)[1])
