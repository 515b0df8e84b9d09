"""Balancers in process, over a real local backend and a real HAProxy: health states
decide membership where a service has a check, and per-replica traffic is read for the
policies (in flight, total, a rate from the second reading on)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import httpx
import pytest

from scalehook.backends import Backends
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.balancers.registry import Balancers
from scalehook.balancers.settings import BalancerSettings
from scalehook.loops.clock import SystemClock
from scalehook.metrics import Metrics
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

    first = await balancers.replica_load("web")
    assert first is not None and set(first) == {"web-1", "web-2"}
    assert all(load.rate is None for load in first.values())  # no window yet: not zero
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(10):
            assert (await client.get(haproxy.url)).status_code == 200
    second = await balancers.replica_load("local/web")
    assert second is not None
    assert (
        sum(load.total for load in second.values())
        == sum(load.total for load in first.values()) + 10
    )
    assert all(load.rate is not None and load.rate > 0 for load in second.values())
    assert all(load.in_flight == 0 for load in second.values())
    assert await balancers.replica_load("other") is None
    await balancers.close()
