"""Balancers in process, over a real local backend and a real HAProxy: health states
decide membership where a service has a check, and per-replica traffic is read for the
policies (in flight, total, a rate from the second reading on), and the policies'
``balancer`` source reads it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from scalehook.backends import Backends
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.balancers.registry import Balancers
from scalehook.balancers.settings import BalancerSettings
from scalehook.loops.clock import ManualClock, SystemClock
from scalehook.metrics import Metrics
from scalehook.policies.sources import SourceError, Target
from scalehook.policies.sources.balancer import BalancerSource
from tests.balancers.haproxy import HAProxy
from tests.upgrades.helpers import RELEASE_APP


class StatedHealth:
    """Health states set by the test: the protocol health checks answer (``HealthView``),
    standing in for them until they are merged; None for a service without a check."""

    def __init__(self) -> None:
        self.by_service: dict[str, dict[str, str]] = {}

    def states(self, service: str) -> Mapping[str, str] | None:
        return self.by_service.get(service)


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    spec = LocalServiceSpec(
        name="web",
        command=[sys.executable, RELEASE_APP],
        replicas=2,
        readiness={"http": "GET /healthz HTTP/1.0", "interval": "100ms"},
        stop_grace=2,
    )
    backend = LocalBackend("local", {"web": spec}, tmp_path / "data")
    await backend.start()
    yield backend
    await backend.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not met: {what}")


async def test_health_decides_membership_and_replica_load_is_read(
    haproxy: HAProxy, local: LocalBackend
) -> None:
    health = StatedHealth()
    settings = BalancerSettings.model_validate(
        {"haproxy": {"socket": str(haproxy.socket)}, "services": {"web": {"backend": "web_be"}}}
    )
    metrics = Metrics()
    balancers = Balancers(
        {"edge": settings},
        backends=Backends([local]),
        health=health,
        metrics=metrics,
        clock=SystemClock(),
    )
    await balancers.start()

    async def members() -> set[str]:
        await balancers.reconcile()
        return {n for n, s in haproxy.ours().items() if s.serving}

    def are(*names: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await members() == set(names)

        return check

    await until(are("shk-web-1", "shk-web-2"), "both replicas join")

    # with a check, only `healthy` replicas belong: web-2 unhealthy is drained out
    health.by_service["local/web"] = {"web-1": "healthy", "web-2": "unhealthy"}
    await until(are("shk-web-1"), "web-2 leaves")
    health.by_service["local/web"] = {"web-1": "healthy", "web-2": "initializing"}
    assert await members() == {"shk-web-1"}
    health.by_service["local/web"] = {"web-1": "healthy", "web-2": "healthy"}
    await until(are("shk-web-1", "shk-web-2"), "web-2 is back")

    through = await balancers.replica_load("web")
    assert through is not None and {r.id for r in through.replicas} == {"web-1", "web-2"}
    first = through.loads
    assert set(first) == {"web-1", "web-2"}
    assert all(load.rate is None for load in first.values())  # no window yet: not zero
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(10):
            assert (await client.get(haproxy.url)).status_code == 200
    through = await balancers.replica_load("local/web")
    assert through is not None
    second = through.loads
    assert (
        sum(load.total for load in second.values())
        == sum(load.total for load in first.values()) + 10
    )
    assert all(load.rate is not None and load.rate > 0 for load in second.values())
    assert all(load.in_flight == 0 for load in second.values())
    assert await balancers.replica_load("other") is None
    await balancers.close()


@dataclass(frozen=True)
class Metric:
    """A policy's metric as the sources see it (``SourcedMetric``)."""

    metric: str
    name: str = "conns"
    source: str = "balancer"
    query: str | None = None
    url: str | None = None
    unit: str | None = None


async def test_the_balancer_source_reads_haproxy_for_a_service_it_carries(
    haproxy: HAProxy, local: LocalBackend
) -> None:
    health = StatedHealth()
    settings = BalancerSettings.model_validate(
        {"haproxy": {"socket": str(haproxy.socket)}, "services": {"web": {"backend": "web_be"}}}
    )
    balancers = Balancers(
        {"edge": settings},
        backends=Backends([local]),
        health=health,
        metrics=Metrics(),
        clock=SystemClock(),
    )
    await balancers.start()
    clock = ManualClock()
    source = BalancerSource(clock, balancers.replica_load)
    target = Target(local, "web")
    connections, rate = Metric("connections"), Metric("rate", name="new")

    async def read(metric: Metric) -> tuple[dict[str, float | None], datetime | None]:
        fetched = await source.fetch(source.key(metric, target), target)
        reading = source.reading(metric, fetched)
        assert reading.error is None and reading.replicas is not None
        return {r.replica: r.value for r in reading.replicas}, source.activity(fetched)

    async def joined() -> bool:
        await balancers.reconcile()
        return {n for n, s in haproxy.ours().items() if s.serving} == {"shk-web-1", "shk-web-2"}

    await until(joined, "both replicas join")
    # the local service has no port, so no built-in balancer: HAProxy's are the only counts
    assert await source.check(connections, target, field="metrics[0]") == []
    assert await read(connections) == ({"web-1": 0.0, "web-2": 0.0}, None)
    assert (await read(rate))[0] == {"web-1": None, "web-2": None}  # first reading: no rate

    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(10):
            assert (await client.get(haproxy.url)).status_code == 200
    await clock.advance(2.0)
    rates, seen = await read(rate)
    assert rates == {"web-1": 2.5, "web-2": 2.5}  # 5 each (roundrobin) over 2 s
    assert seen == clock.now()  # the counters grew: the service had work

    _, writer = await asyncio.open_connection("127.0.0.1", haproxy.port)
    try:
        writer.write(b"GET /hold?s=20 HTTP/1.0\r\n\r\n")
        await writer.drain()

        async def one_in_flight() -> bool:
            values = (await read(connections))[0]
            return values in ({"web-1": 1.0, "web-2": 0.0}, {"web-1": 0.0, "web-2": 1.0})

        await until(one_in_flight, "the held request is in flight in HAProxy")
    finally:
        writer.close()

    # web-2 unhealthy leaves HAProxy: it has no reading there (missing, not 0)
    health.by_service["local/web"] = {"web-1": "healthy", "web-2": "unhealthy"}

    async def left() -> bool:
        await balancers.reconcile()
        return set(haproxy.ours()) == {"shk-web-1"}

    await until(left, "web-2 leaves")
    values, _ = await read(connections)
    assert values["web-2"] is None and values["web-1"] is not None

    # HAProxy gone: the metric cannot be read (never 0); at create it is a warning
    haproxy.kill()
    with pytest.raises(SourceError, match="HAProxy cannot be read"):
        await source.fetch(source.key(connections, target), target)
    [warning] = await source.check(connections, target, field="metrics[0]")
    assert warning.startswith("metrics[0] (conns): HAProxy cannot be read: ")
    await balancers.close()
