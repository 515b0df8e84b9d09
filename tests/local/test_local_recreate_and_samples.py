"""Backend.recreate and Backend.samples on the local backend, driven directly: real child
processes, the real balancer, real CPU burnt."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

from scalehook.backends.base import ReplicaSample, UpgradeStrategy
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.backends.sampling import MIN_WINDOW
from scalehook.errors import ReplicaNotFound, ServiceNotFound
from scalehook.testing import free_port
from tests.upgrades.helpers import release_service

APPS = Path(__file__).resolve().parents[1] / "apps"
CONTROL_APP = str(APPS / "control_app.py")
BURN_APP = str(APPS / "burn_app.py")

T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = ""
) -> T:
    """Poll ``check`` until it returns something true; return it."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = await check()
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not met within {timeout:g}s: {what}") from None


def spec(name: str, **fields: Any) -> LocalServiceSpec:
    made = LocalServiceSpec.model_validate(fields)
    made.name = name
    return made


def control_service(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "command": [sys.executable, CONTROL_APP],
        "replicas": 2,
        "port": free_port(),
        "readiness": {"http": "GET /healthz HTTP/1.0", "interval": "100ms", "timeout": "500ms"},
        "stop_grace": "5s",
    }
    service.update(overrides)
    return service


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[LocalBackend]]]:
    backends: list[LocalBackend] = []

    async def start(**services: dict[str, Any]) -> LocalBackend:
        backend = LocalBackend(
            "local", {n: spec(n, **s) for n, s in services.items()}, tmp_path / str(len(backends))
        )
        backends.append(backend)
        await backend.start()
        for name, service in services.items():
            await all_ready(backend, name, service["replicas"])
        return backend

    yield start
    for backend in backends:
        await backend.close()


async def all_ready(backend: LocalBackend, service: str, count: int) -> None:
    await until(lambda: ready(backend, service, count), what=f"{count} of {service} ready")


async def ready(backend: LocalBackend, service: str, count: int) -> bool:
    state = await backend.get_service(service=service)
    return state.ready == count and len(await backend.replicas(service=service)) == count


async def answers(port: int, requests: int = 20) -> set[str]:
    async with httpx.AsyncClient(timeout=5) as client:
        return {
            (await client.get(f"http://127.0.0.1:{port}/")).text.strip() for _ in range(requests)
        }


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_recreate_swaps_a_running_replica_for_a_fresh_one(
    started: Callable[..., Awaitable[LocalBackend]],
) -> None:
    service = control_service()
    backend = await started(web=service)
    before = {r.id: r for r in await backend.replicas(service="web")}
    assert set(before) == {"web-1", "web-2"} and await answers(service["port"]) == set(before)
    old_pid = before["web-1"].pid
    assert old_pid is not None

    new = await backend.recreate(service="web", replica="web-1")

    assert new.id not in before and new.pid is not None and new.pid != old_pid
    assert gone(old_pid)  # the old process is stopped before recreate returns
    state = await backend.get_service(service="web")
    assert state.desired == 2  # the count is unchanged
    await until(lambda: ready(backend, "web", 2), what="two ready replicas")
    assert {r.id for r in await backend.replicas(service="web")} == {"web-2", new.id}
    assert await answers(service["port"]) == {"web-2", new.id}  # through the balancer

    with pytest.raises(ReplicaNotFound, match="no member 'web-1'"):
        await backend.recreate(service="web", replica="web-1")
    with pytest.raises(ServiceNotFound):
        await backend.recreate(service="nope", replica="nope-1")


@pytest.mark.parametrize("ignores_term", [False, True], ids=["handles-term", "ignores-term"])
async def test_a_hung_sigstopped_replica_is_replaced(
    started: Callable[..., Awaitable[LocalBackend]], ignores_term: bool
) -> None:
    """A SIGSTOPped process does not act on SIGTERM until continued: the stop continues
    it (and one that ignores SIGTERM is killed after the grace)."""
    service = control_service(stop_grace="1s", env={"IGNORE_TERM": "1"} if ignores_term else {})
    backend = await started(web=service)
    hung = next(r for r in await backend.replicas(service="web") if r.id == "web-2")
    assert hung.pid is not None
    os.kill(hung.pid, signal.SIGSTOP)
    await until(
        lambda: asyncio.to_thread(lambda: psutil.Process(hung.pid).status() == "stopped"),
        what="the replica stopped",
    )

    new = await backend.recreate(service="web", replica="web-2")

    assert gone(hung.pid)
    assert new.pid not in (None, hung.pid)
    await until(lambda: ready(backend, "web", 2), what="two ready replicas")
    assert await answers(service["port"]) == {"web-1", new.id}


async def test_recreate_and_a_rollout_at_once_leave_the_count_whole(
    started: Callable[..., Awaitable[LocalBackend]],
) -> None:
    backend = await started(
        app=release_service(replicas=2, port=None, stop_grace="2s", env={"READY_DELAY": "1"})
    )
    events: list[str] = []

    async def progress(event: Any) -> None:
        events.append(event.message)

    rollout = asyncio.create_task(
        backend.upgrade(
            service="app",
            image="acme/app:2",
            previous="acme/app:1",
            strategy=UpgradeStrategy(batch_size=1, start_first=True, health_timeout=20),
            progress=progress,
        )
    )

    async def mid_batch() -> bool:
        return len(await backend.replicas(service="app")) > 2  # a start-first surge is up

    await until(mid_batch, what="the first batch under way")
    # app-2 is not in the first batch: the recreate waits for it, then takes its turn
    new = await backend.recreate(service="app", replica="app-2")
    assert new.image == "acme/app:1"  # on its own version; the rollout replaces it next
    result = await rollout
    assert result.outcome == "upgraded", (result, events)
    members = await backend.members(service="app")
    assert len(members) == 2 and {m.image for m in members} == {"acme/app:2"}
    await until(lambda: ready(backend, "app", 2), what="two ready replicas and nothing else")


async def samples_of(backend: LocalBackend, service: str) -> dict[str, ReplicaSample]:
    return {s.replica: s for s in await backend.samples(service=service)}


async def test_samples_show_a_burning_replica_busy_and_a_sleeping_one_idle(
    started: Callable[..., Awaitable[LocalBackend]],
) -> None:
    service = {
        "command": [sys.executable, BURN_APP],
        "replicas": 2,
        "readiness": {"http": "GET / HTTP/1.0", "interval": "1s"},
    }
    backend = await started(burn=service)
    replicas = {r.id: r for r in await backend.replicas(service="burn")}

    first = await samples_of(backend, "burn")
    assert set(first) == {"burn-1", "burn-2"}
    for replica, sample in first.items():
        assert sample.cpu_percent is None and sample.window is None  # primed, not 0
        assert sample.memory_bytes is not None and sample.memory_bytes > 1_000_000
        assert sample.ready and sample.started_at == replicas[replica].started_at
        assert sample.ready_since is not None and sample.started_at is not None
        assert sample.started_at <= sample.ready_since <= sample.sampled_at
        assert (sample.cpu_limit, sample.memory_limit) == (None, None)  # none set locally

    address = replicas["burn-1"].address
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://{address}/burn")).text == "burning\n"

    async def busy() -> dict[str, ReplicaSample] | None:
        """A window in which burn-1 had a good share of a core (the machine's cores are
        shared with other tests: its share is what is left) and burn-2 next to none."""
        await asyncio.sleep(1.0)
        now = await samples_of(backend, "burn")
        hot, idle = now["burn-1"].cpu_percent, now["burn-2"].cpu_percent
        assert hot is not None and idle is not None  # both were read before
        return now if hot >= 10 and hot >= 4 * idle else None

    now = await until(busy, timeout=60, what="burn-1 busy, burn-2 idle")
    hot, idle = now["burn-1"], now["burn-2"]
    assert idle.cpu_percent is not None and idle.cpu_percent < 5
    assert hot.window is not None and hot.window >= MIN_WINDOW

    # a sample right after another is measured over the window before: never a few ms
    again = await samples_of(backend, "burn")
    assert again["burn-1"].window is not None and again["burn-1"].window >= MIN_WINDOW


async def test_a_new_replica_first_sample_has_no_cpu_figure(
    started: Callable[..., Awaitable[LocalBackend]],
) -> None:
    backend = await started(web=control_service(replicas=1))
    await backend.samples(service="web")
    await asyncio.sleep(MIN_WINDOW)
    known = await samples_of(backend, "web")
    assert known["web-1"].cpu_percent is not None
    new = await backend.recreate(service="web", replica="web-1")
    await until(lambda: ready(backend, "web", 1), what="the new replica ready")
    fresh = await samples_of(backend, "web")
    assert set(fresh) == {new.id}
    assert fresh[new.id].cpu_percent is None and fresh[new.id].memory_bytes
    with pytest.raises(ServiceNotFound):
        await backend.samples(service="nope")
