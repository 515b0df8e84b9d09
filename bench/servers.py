"""The servers the benchmarks measure: real ``scalehook serve`` processes, a bare ASGI
app, and a store seeded straight into SQLite (faster than thousands of API calls)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from scalehook.domain.receivers import hash_key, new_key
from scalehook.store import Store
from scalehook.testing import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_APP = ROOT / "examples" / "local" / "app.py"
UNLIMITED = {"rate": 1e9, "burst": 1_000_000_000}


def sleeper(replicas: int = 1) -> dict[str, Any]:
    """A service whose replicas cost nothing: what the trigger figures need (no engine work)."""
    return {
        "command": ["sleep", "3600"],
        "replicas": replicas,
        "readiness": {"tcp": True, "interval": "10s"},
        "stop_grace": "1s",
    }


@contextlib.contextmanager
def scalehook(
    config: dict[str, Any], *, workdir: Path | None = None, log_level: str = "warning"
) -> Iterator[ServerProcess]:
    """A real ``scalehook serve``; access logging is off unless asked, as in production
    behind a proxy that logs (the figure with it on is in RESULTS.md)."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = ServerProcess(workdir, {"log_level": log_level, **config})
        server.start()
        stack.callback(server.close)
        yield server


@dataclass(frozen=True, slots=True)
class BareApp:
    url: str
    pid: int


@contextlib.contextmanager
def bare_app() -> Iterator[BareApp]:
    """The baseline ASGI app in its own process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield BareApp(url, process.pid)
    finally:
        process.terminate()
        process.wait(10)


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def seed(db: Path, *, receivers: int, executions: int, service: str = "web") -> tuple[str, str]:
    """Fill a migrated store; return the name and key of one receiver at its max."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    config = json.dumps({"service": service, "action": "up", "amount": 1, "min": 1, "max": 1})
    key = new_key()
    rows = [("probe", "scaleService", config, hash_key(key), 1, now, now)]
    rows += [
        (f"seed-{n}", "scaleService", config, hash_key(new_key()), 1, now, now)
        for n in range(receivers - 1)
    ]
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            "INSERT INTO receivers (name, driver, config, key_hash, enabled, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        count = conn.execute("SELECT count(*) FROM receivers").fetchone()[0]
        conn.executemany(
            "INSERT INTO executions (started_at, receiver_id, receiver_name, driver, target,"
            ' caller, result, "before", "after", message, duration_ms, details)'
            " VALUES (?, ?, ?, 'scaleService', ?, '127.0.0.1', 'noop', 1, 1,"
            " 'at max 1: stays at 1', 0.1, '{}')",
            (
                (now, 1 + n % count, f"seed-{n % count}", f"local/{service}")
                for n in range(executions)
            ),
        )
    return "probe", key


@contextlib.contextmanager
def seeded(
    config: dict[str, Any], *, receivers: int, executions: int
) -> Iterator[tuple[ServerProcess, str]]:
    """A scalehook whose store holds ``receivers`` and ``executions`` before it starts;
    yields the server and the trigger URL of a receiver at its max."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = workdir / "data" / "scalehook.db"
        asyncio.run(_migrate(db))
        _, key = seed(db, receivers=receivers, executions=executions)
        with scalehook(config, workdir=workdir) as server:
            yield server, f"{server.url}/v1/hooks/{key}"


async def _migrate(db: Path) -> None:
    """Create the store's tables, as a first start would."""
    store = Store(f"sqlite+aiosqlite:///{db}")
    await store.open()
    await store.close()
