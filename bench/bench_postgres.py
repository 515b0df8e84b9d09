"""PostgreSQL beside SQLite, in one run: the trigger's latency and throughput on one
instance on SQLite (the baseline), one instance on PostgreSQL, and two instances on one
PostgreSQL with the load split between them; SQLite's ``synchronous=full`` (the
default) beside ``normal``; what the receiver cache saves (a lookup by key on
PostgreSQL, where there is none, beside SQLite's from memory); and the failover time
after ``kill -9`` of the leader, beside the configured lease.

The trigger figures use a receiver whose service is at its max (the decision, the
target lock and the record; no engine work), on a local ``sleep`` service as in
``bench_trigger``: with PostgreSQL that needs ``alone: true``, and with two instances
each has its own stand-in service of the same name, so both take the same target's
advisory lock, as instances acting on one engine's service do. PostgreSQL is Debian's
15, run by the benchmark in a temporary directory with its durable defaults (fsync on
every commit, like SQLite's ``full``), on the same two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import Figure, median, percentile
from bench.loadgen import closed_loop, fixed_rate
from bench.servers import UNLIMITED, sleeper
from scalehook.domain.receivers import hash_key
from scalehook.store import Store
from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_postgres import PostgresCluster

RATE = 200.0


@contextlib.contextmanager
def setups(cluster: PostgresCluster) -> Iterator[dict[str, list[str]]]:
    """The trigger URL of one receiver at its max, on every instance of each setup."""
    base: dict[str, Any] = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    shared = cluster.create_database()
    configs: dict[str, list[dict[str, Any]]] = {
        "sqlite": [base],
        "sqlite-normal": [{**base, "sqlite_synchronous": "normal"}],
        "postgres": [{**base, "database": cluster.create_database(), "alone": True}],
        "postgres-2": [{**base, "database": shared, "alone": True}] * 2,
    }
    with contextlib.ExitStack() as stack:
        found: dict[str, list[str]] = {}
        for name, instances in configs.items():
            servers = []
            for n, config in enumerate(instances):
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                server = ServerProcess(workdir / f"{name}-{n}", {"log_level": "warning", **config})
                server.start()
                stack.callback(server.close)
                servers.append(server)
            url = servers[0].create_receiver("bench", service="web", action="up", max=1)["url"]
            key = url.rsplit("/", 1)[1]
            found[name] = [f"{s.url}/v1/hooks/{key}" for s in servers]
        yield found


NAMES = {
    "postgres": "PostgreSQL, 1 instance",
    "postgres-2": "PostgreSQL, 2 instances (load split)",
}


def triggers(cluster: PostgresCluster, quick: bool) -> list[Figure]:
    runs = 2 if quick else 5
    seconds = 3.0 if quick else 6.0
    p50: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    rps: dict[str, list[float]] = {}
    with setups(cluster) as urls:
        for targets in urls.values():
            fixed_rate(targets, rate=RATE, duration=1.0)  # warm up
        for _ in range(runs):  # interleaved, so every setup sees the same neighbours
            for name, targets in urls.items():
                hook = fixed_rate(targets, rate=RATE, duration=seconds)
                assert set(hook.statuses) == {200}, (name, hook.statuses)
                p50.setdefault(name, []).append(percentile(hook.seconds, 50) * 1000)
                p99.setdefault(name, []).append(percentile(hook.seconds, 99) * 1000)
            for name, targets in urls.items():
                measured = closed_loop(targets, duration=seconds)
                assert measured.statuses_ok, name
                rps.setdefault(name, []).append(measured.per_second)
    figures: list[Figure] = []
    sqlite = "SQLite, 1 instance (synchronous=full)"
    for name, label in NAMES.items():
        figures += [
            Figure(f"trigger p50 @{RATE:.0f}/s, at max, {label}", median(p50[name]), "ms",
                   sqlite, median(p50["sqlite"]), runs),
            Figure(f"trigger p99 @{RATE:.0f}/s, at max, {label}", median(p99[name]), "ms",
                   sqlite, median(p99["sqlite"]), runs),
            Figure(f"trigger throughput, at max, {label}", median(rps[name]), "req/s",
                   sqlite, median(rps["sqlite"]), runs, "16 connections, asyncio client"),
        ]  # fmt: skip
    normal = "SQLite synchronous=normal"
    figures += [
        Figure(f"trigger p50 @{RATE:.0f}/s, at max, SQLite synchronous=full", median(p50["sqlite"]),
               "ms", normal, median(p50["sqlite-normal"]), runs, "an fsync per commit"),
        Figure(f"trigger p99 @{RATE:.0f}/s, at max, SQLite synchronous=full", median(p99["sqlite"]),
               "ms", normal, median(p99["sqlite-normal"]), runs),
        Figure("trigger throughput, at max, SQLite synchronous=full", median(rps["sqlite"]),
               "req/s", normal, median(rps["sqlite-normal"]), runs,
               "16 connections, asyncio client"),
    ]  # fmt: skip
    return figures


async def _lookups(url: str, count: int) -> float:
    """Seconds per ``by_key`` of one known receiver on a store at ``url``."""
    store = Store(url)
    await store.open()
    try:
        key = hash_key("bench")
        await store.receivers.add(
            name="r", driver="scaleService", config={}, key_hash=key, enabled=True
        )
        for _ in range(50):
            await store.receivers.by_key(key)
        began = time.perf_counter()
        for _ in range(count):
            await store.receivers.by_key(key)
        return (time.perf_counter() - began) / count
    finally:
        await store.close()


def lookups(cluster: PostgresCluster, quick: bool) -> list[Figure]:
    count = 500 if quick else 3000
    runs = 3
    postgres: list[float] = []
    cached: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cached.append(asyncio.run(_lookups(f"sqlite:///{tmp}/s.db", count)))
        postgres.append(asyncio.run(_lookups(cluster.create_database(), count)))
    return [
        Figure(
            "receiver by key, PostgreSQL (no cache: one query)",
            median(postgres) * 1e6,
            "us",
            "SQLite, from the by-key cache",
            median(cached) * 1e6,
            runs,
            f"{count} lookups in process; the cost of a cache kept off with several instances",
        )
    ]


def failover(cluster: PostgresCluster, quick: bool) -> list[Figure]:
    lease, renew = (3, 1) if quick else (15, 5)
    runs = 1 if quick else 3
    measured: list[float] = []
    for _ in range(runs):
        config = {
            "database": cluster.create_database(),
            "alone": True,  # a local backend without services: leadership only
            "leader": {"lease": f"{lease}s", "renew": f"{renew}s"},
            "log_level": "warning",
        }
        with contextlib.ExitStack() as stack:
            servers = []
            for n in range(2):
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                server = ServerProcess(workdir / f"i{n}", config).start()
                stack.callback(server.close)
                servers.append(server)
            leader, other = sorted(servers, key=lambda s: not _leads(s))
            assert _leads(leader)
            assert not _leads(other)
            time.sleep(renew * 0.5)  # somewhere between two renewals
            began = time.monotonic()
            leader.kill()
            wait_until(functools.partial(_leads, other), timeout=lease * 3, interval=0.01)
            measured.append(time.monotonic() - began)
    return [
        Figure(
            f"failover after kill -9 of the leader (lease {lease}s, renew {renew}s)",
            median(measured),
            "s",
            "the configured lease",
            float(lease),
            runs,
            f"from the kill to the other's /healthz leader:true; range "
            f"{min(measured):.1f}-{max(measured):.1f}s",
        )
    ]


def _leads(server: ServerProcess) -> bool:
    try:
        return bool(httpx.get(f"{server.url}/healthz", timeout=2).json()["leader"])
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def run(quick: bool) -> list[Figure]:
    with PostgresCluster(durable=True) as cluster:
        return triggers(cluster, quick) + lookups(cluster, quick) + failover(cluster, quick)
