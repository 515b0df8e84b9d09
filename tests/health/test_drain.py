"""The local balancer drains a replica before it stops: a request in flight to a
replica being scaled down, recreated or replaced by a rollout finishes (the health
app exits at once on SIGTERM, so without draining it would be cut); and the
``route_to`` seam sends new connections only to the replicas named."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.testing import free_port
from tests.health.helpers import HEALTH_APP


def spec(**fields: Any) -> LocalServiceSpec:
    made = LocalServiceSpec.model_validate(
        {
            "command": [sys.executable, HEALTH_APP],
            "replicas": 2,
            "port": free_port(),
            "readiness": {"tcp": True, "interval": "100ms"},
            "stop_grace": "10s",
            **fields,
        }
    )
    made.name = "web"
    return made


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[tuple[LocalBackend, int]]:
    declared = spec()
    started = LocalBackend("local", {"web": declared}, tmp_path)
    await started.start()
    async with asyncio.timeout(30):
        while (await started.get_service(service="web")).ready < 2:
            await asyncio.sleep(0.05)
    assert declared.port is not None
    yield started, declared.port
    await started.close()


async def in_flight(
    backend: LocalBackend, port: int, replica: str, seconds: float = 2.0
) -> asyncio.Task[httpx.Response]:
    """A slow request through the balancer, answered by ``replica`` (the others are
    taken out of the balancer while it connects)."""
    service = backend._service("web")
    service.routable = frozenset({replica})
    client = httpx.AsyncClient(timeout=30)
    task = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/slow?s={seconds}"))
    task.add_done_callback(lambda _: asyncio.ensure_future(client.aclose()))
    assert service.balancer is not None
    async with asyncio.timeout(10):
        while not service.balancer.connections(replica):
            await asyncio.sleep(0.01)
    service.routable = None
    return task


async def drained(
    backend: LocalBackend, port: int, replica: str, stop: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    request = await in_flight(backend, port, replica)
    stopping: asyncio.Task[object] = asyncio.create_task(stop())
    async with asyncio.timeout(10):  # it drains: out of the balancer, still running
        while not any(
            r.id == replica and r.state == "draining" for r in await backend.replicas(service="web")
        ):
            await asyncio.sleep(0.01)
    answer = await request
    assert answer.status_code == 200
    assert answer.text.split()[0] == replica and answer.text.endswith("slow\n")
    await stopping
    async with asyncio.timeout(15):
        while any(r.id == replica for r in await backend.replicas(service="web")):
            await asyncio.sleep(0.05)


async def test_scale_down_waits_for_the_request_in_flight(
    backend: tuple[LocalBackend, int],
) -> None:
    local, port = backend
    await drained(local, port, "web-2", lambda: local.scale(service="web", replicas=1))


async def test_recreate_waits_for_the_request_in_flight(backend: tuple[LocalBackend, int]) -> None:
    local, port = backend
    await drained(local, port, "web-1", lambda: local.recreate(service="web", replica="web-1"))


async def test_a_rollout_batch_waits_for_the_request_in_flight(
    backend: tuple[LocalBackend, int],
) -> None:
    local, port = backend
    image = local._service("web").spec.image_of("2")
    await drained(
        local,
        port,
        "web-1",
        lambda: local.replace_replicas(
            service="web", replicas=["web-1"], image=image, start_first=True, ready_timeout=30
        ),
    )


async def test_draining_ends_at_stop_grace(tmp_path: Path) -> None:
    declared = spec(replicas=1, stop_grace="1s")
    local = LocalBackend("local", {"web": declared}, tmp_path)
    await local.start()
    try:
        async with asyncio.timeout(30):
            while (await local.get_service(service="web")).ready < 1:
                await asyncio.sleep(0.05)
        assert declared.port is not None
        request = await in_flight(local, declared.port, "web-1", seconds=30)
        await local.scale(service="web", replicas=0)
        with pytest.raises(httpx.HTTPError):  # cut after 1s of draining and the SIGTERM
            await asyncio.wait_for(request, 20)
    finally:
        await local.close()


async def test_route_to_sends_new_connections_only_to_the_replicas_named(
    backend: tuple[LocalBackend, int],
) -> None:
    local, port = backend
    async with httpx.AsyncClient(timeout=10) as client:

        async def who() -> set[str]:
            answers = [await client.get(f"http://127.0.0.1:{port}/") for _ in range(12)]
            return {a.text.split()[0] for a in answers}

        assert await who() == {"web-1", "web-2"}
        local.route_to(service="web", replicas=["web-2"])
        assert await who() == {"web-2"}
        local.route_to(service="web", replicas=[])  # none healthy: every ready one
        assert await who() == {"web-1", "web-2"}
        local.route_to(service="web", replicas=None)
        assert await who() == {"web-1", "web-2"}
